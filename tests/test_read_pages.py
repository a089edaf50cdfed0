"""The inbox and the fiche run their statements without a transaction on PostgreSQL (web/read_pages.py): no BEGIN
and no COMMIT around them, the same rows read, the login session's last-seen time still written, and the pool's
connection transactional again for the next request."""
from __future__ import annotations

import psycopg
import pytest
from psycopg import _connection_base
from sqlalchemy import select

from cli import scenarios
from models import LoginSession, db
from test_web_support import ACSS, as_served, login, open_task, post


@pytest.fixture
def commands(monkeypatch):
    """The commands psycopg sends outside statements (BEGIN, COMMIT, ROLLBACK), as they are sent."""
    sent = []
    original = _connection_base.BaseConnection._exec_command

    def spy(self, command, result=psycopg.pq.ExecStatus.COMMAND_OK):
        sent.append(bytes(command).split()[0].decode())
        return original(self, command, result)
    monkeypatch.setattr(_connection_base.BaseConnection, "_exec_command", spy)
    return sent


def test_the_inbox_and_the_fiche_read_without_a_transaction(app, clock, postgres, commands):
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    served = as_served(app, SESSION_CLOCK=clock, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    client = served.test_client()  # each request pushes its own application context, as when served
    db.session.remove()
    login(client, ACSS)
    commands.clear()
    inbox = client.get("/boite")
    fiche = client.get(f"/dossiers/{dossier.id}")
    assert inbox.status_code == fiche.status_code == 200
    assert dossier.number in inbox.text and dossier.number in fiche.text
    assert commands == []
    # The login session's last-seen time is still written (once a minute), and kept.
    clock.advance(minutes=5)
    assert client.get("/boite").status_code == 200
    with served.app_context():
        seen = db.session.scalar(select(LoginSession.last_seen_at).order_by(LoginSession.created_at.desc()))
        row = open_task(dossier.id, "p2_ouvrir")
    assert seen == clock.now()
    # The same (only) pooled connection is transactional again for a request that writes.
    commands.clear()
    assert post(client, f"/taches/{row.id}/prendre").status_code == 302
    assert "BEGIN" in commands and "COMMIT" in commands
    with served.app_context():
        assert db.session.connection().connection.driver_connection.autocommit is False
        db.session.remove()
        db.engine.dispose()
