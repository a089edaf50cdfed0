"""Dossiers opened in the current transaction, and the writes their commands leave to its commit.

A declaration opens its dossier and completes its first steps in one transaction (workflow/start_command.py). No
other transaction sees that dossier before the commit, so the commands on it take no row lock, read nothing of it
again, and gather their audit events and their instance and dossier columns (workflow/commands.py, _write), which a
listener writes just before the commit, whoever commits: one multi-row INSERT and one UPDATE per row, the version
bumped once per command as when each wrote its own. A rollback forgets them with the transaction.
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from models import db
from workflow.event_chain import INSERT_AUDIT
from workflow.row_writes import write_deferred


def opened_in_this_transaction() -> dict:
    """{instance id: (instance, dossier)} of the dossiers the session's current transaction opened (start_dossier
    without its commit: a declaration's steps follow in the same transaction). No other transaction sees them
    before the commit, so a command on one takes no row lock and reads nothing again. Tied to the transaction
    object, the map is forgotten by a commit or a rollback; it holds the objects, which keeps them in the
    session's identity map (it holds only what is referenced) between the steps."""
    return opened()[1]


def opened() -> tuple:
    """(transaction, {instance id: (instance, dossier)}, {"audit": event rows, "rows": columns} deferred to its
    commit) of the session's current transaction."""
    session = db.session()
    transaction = session.get_transaction()
    kept = session.info.get("opened_instances")
    if kept is None or kept[0] is not transaction:
        kept = session.info["opened_instances"] = (transaction, {}, {"audit": [], "rows": {}})
    return kept


@event.listens_for(Session, "before_commit")
def _write_deferred(session) -> None:
    """Before any commit of a session: what the commands on the dossiers its transaction opened gathered, written
    in as many statements as tables (the events first: they name the instance, which exists since its opening)."""
    kept = session.info.get("opened_instances")
    if kept is None or kept[0] is not session.get_transaction():
        return
    deferred = kept[2]
    if deferred["audit"]:
        session.execute(INSERT_AUDIT, deferred["audit"])
        deferred["audit"] = []
    if deferred["rows"]:
        with session.no_autoflush:
            write_deferred(deferred["rows"])
