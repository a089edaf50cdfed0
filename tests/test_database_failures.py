"""The database down or slow: pages answer a French 503 page and the API a 503 problem, both with
Retry-After, whatever the session state; the service recovers without a restart once the database is back;
PostgreSQL connections carry a statement and a lock timeout, so a held lock gives a quick 503, not a hang;
/pret reports a database that answers too slowly."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from app import create_app
from models import db
from test_api import PROBLEM, call, token
from test_web_support import ACSS, login

UNAVAILABLE = "La base de données ne répond pas pour le moment"


@contextmanager
def refused(app, backend):
    """The application's database refuses every connection inside the block, and is back after it."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if backend == "sqlite":
        # The file is moved away and a directory takes its name: SQLite cannot open it.
        path = Path(url.database)
        db.session.remove()
        db.engine.dispose()
        moved = [(p, p.with_name(p.name + ".ailleurs")) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                 if p.exists()]
        for source, target in moved:
            source.rename(target)
        path.mkdir()
        try:
            yield
        finally:
            path.rmdir()
            for source, target in moved:
                target.rename(source)
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                          "AND pid <> pg_backend_pid()"), {"name": name})
    try:
        yield
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def is_unavailable_page(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert UNAVAILABLE in html and "Service indisponible" in html and "Internal Server Error" not in html
    assert int(response.headers["Retry-After"]) > 0


def is_unavailable_problem(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 503 and UNAVAILABLE in body["detail"] and body["title"] == "Service indisponible"
    assert int(response.headers["Retry-After"]) > 0


def test_database_refused_answers_503_then_recovers_without_restart(app, client, backend):
    """A session cookie, an API token, an anonymous visitor: 503 in French while the database refuses, then
    the same cookie and token work again once it accepts, in the same process."""
    login(client, ACSS)
    secret = token(ACSS)
    assert client.get("/boite").status_code == 200
    assert call(client, "GET", "/tasks", secret).status_code == 200
    with refused(app, backend):
        for _ in range(2):  # the first request meets the dropped connection, the next a refused one
            is_unavailable_page(client.get("/boite"))
            is_unavailable_page(client.get("/dossiers"))
            is_unavailable_problem(client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}))
        is_unavailable_problem(client.post("/api/v1/dossiers/1/notes", json={"kind": "note", "text": "x"},
                                           headers={"Authorization": f"Bearer {secret}",
                                                    "Idempotency-Key": "cle-base-absente-0123456789"}))
        json_page = client.get("/boite", headers={"Accept": "application/json"})
        assert json_page.status_code == 503 and json_page.headers["Retry-After"]
        ready = client.get("/pret")
        assert ready.status_code == 503 and "database" in ready.get_json()["echecs"]
        assert client.get("/sante").status_code == 200  # liveness never reads the database
        anonymous = app.test_client()  # no cookie at all: the page a visitor meets says the same
        login_page = anonymous.get("/connexion")
        assert login_page.status_code in (200, 503)
        if login_page.status_code == 503:
            is_unavailable_page(login_page)
    # Back: the same session and token, without restarting anything.
    deadline = time.monotonic() + 10
    while client.get("/boite").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    page = client.get("/boite")
    assert page.status_code == 200 and "Se déconnecter" in page.get_data(as_text=True)
    assert call(client, "GET", "/tasks", secret).status_code == 200


def test_connections_a_server_ended_are_replaced_before_any_request_meets_them(app, client, backend):
    """The server ends every connection of the application (a restart, pg_terminate_backend): the next page and the
    next API call are served at once, the dead connections refused when taken from the pool (models/liveness.py),
    without a ping; a healthy connection at rest is taken again, not replaced."""
    if backend != "postgresql":
        pytest.skip("les connexions mises en commun ne concernent que PostgreSQL")
    login(client, ACSS)
    secret = token(ACSS)
    assert client.get("/boite").status_code == 200

    def backend_pid() -> int:
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.remove()  # back to the pool
        return pid
    first = backend_pid()
    assert backend_pid() == first  # at rest and alive: kept
    refused_at_checkout = []
    event.listen(db.engine, "invalidate", lambda *args: refused_at_checkout.append(args))
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ended = conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                                      "AND pid <> pg_backend_pid()"), {"name": url.database}).all()
            assert ended and all(row[0] for row in ended)
            deadline = time.monotonic() + 10
            while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                               {"pid": first}).scalar() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        admin.dispose()
    page = client.get("/boite")
    assert page.status_code == 200 and "Se déconnecter" in page.get_data(as_text=True)
    assert call(client, "GET", "/tasks", secret).status_code == 200
    assert refused_at_checkout  # the dead connection was met, and replaced before use
    assert backend_pid() != first


def test_an_unreachable_server_answers_503_whatever_the_session(app, backend, tmp_path):
    """An application pointed at a closed port (PostgreSQL) answers a session cookie's page with the French
    503 page, not gunicorn's English error: the user loader fails inside the error handling."""
    if backend != "postgresql":
        pytest.skip("un port fermé ne concerne que PostgreSQL")
    with app.test_client() as first:
        login(first, ACSS)
        cookie = first.get_cookie("session")
    assert cookie is not None
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(port=closed)
    broken = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
                         "SECRET_KEY": app.config["SECRET_KEY"], "SCHEDULER_ENABLED": False,
                         "DB_CONNECT_TIMEOUT_S": 2})
    with broken.app_context():
        client = broken.test_client()
        client.set_cookie("session", cookie.value)
        started = time.monotonic()
        is_unavailable_page(client.get("/boite"))
        is_unavailable_page(client.get("/dossiers/1"))
        is_unavailable_problem(client.get("/api/v1/me", headers={"Authorization": "Bearer abc"}))
        assert time.monotonic() - started < 10
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def limited(app, backend):
    """A second application on the same PostgreSQL database, with short statement and lock timeouts."""
    if backend != "postgresql":
        pytest.skip("délais de requête et de verrou : PostgreSQL")
    db.session.remove()  # the fixture's session holds no lock or transaction while the test runs
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SECRET_KEY": app.config["SECRET_KEY"], "SCHEDULER_ENABLED": False,
                        "CLOCK": app.extensions["clock"], "DB_STATEMENT_TIMEOUT_MS": 2000,
                        "DB_LOCK_TIMEOUT_MS": 800, "DB_READY_TIMEOUT_MS": 500})
    with other.app_context():
        yield other
        db.session.remove()
        db.engine.dispose()


def test_connections_carry_the_timeouts(limited):
    assert db.session.scalar(text("SHOW statement_timeout")) == "2s"
    assert db.session.scalar(text("SHOW lock_timeout")) == "800ms"
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        db.session.execute(text("SELECT pg_sleep(10)"))
    assert type(caught.value.orig).__name__ == "QueryCanceled" and time.monotonic() - started < 5
    db.session.rollback()


def _timeouts(application) -> tuple[str, str]:
    """(statement_timeout, lock_timeout) as PostgreSQL reports them on one of the application's connections."""
    with application.app_context():
        found = (db.session.scalar(text("SHOW statement_timeout")), db.session.scalar(text("SHOW lock_timeout")))
        db.session.remove()
        db.engine.dispose()
    return found


def test_production_defaults_limit_web_connections_and_not_commands(app, backend, monkeypatch):
    """Outside tests the web's connections get 5 s and 3 s by default; a Flask command (the scheduler,
    init-db, backups) gets none."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL")
    monkeypatch.setenv("SIGNALEMENT_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PUBLIC_URL", "https://signalement.example.fr")
    monkeypatch.setenv("LOG_FORMAT", "text")  # JSON logging would take over this test process's root logger
    for name in ("DB_STATEMENT_TIMEOUT_MS", "DB_LOCK_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    assert _timeouts(create_app()) == ("5s", "3s")
    monkeypatch.setenv("DB_LOCK_TIMEOUT_MS", "0")
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "1500")
    assert _timeouts(create_app()) == ("1500ms", "0")
    import click
    with click.Context(click.Command("scheduler"), info_name="scheduler"):
        command = create_app()
    assert _timeouts(command)[0] == "0"


def test_a_lock_held_past_the_lock_timeout_gives_503_quickly(app, limited):
    """Another connection holds an exclusive lock on tasks (and on the heartbeats): the inbox and the API
    answer 503 within about the lock timeout, /sante stays instant, /pret says the database is too slow; once
    the lock is released everything answers again."""
    client = limited.test_client()
    login(client, ACSS)
    secret = token(ACSS)
    assert client.get("/boite").status_code == 200
    holder = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    release = threading.Event()
    locked = threading.Event()

    def hold():
        with holder.connect() as conn:
            conn.execute(text("LOCK TABLE tasks, scheduler_heartbeats IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            release.wait(60)
            conn.rollback()

    db.session.remove()  # no transaction of the test itself stands in the holder's way
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10)
        for path in ("/boite",):
            started = time.monotonic()
            is_unavailable_page(client.get(path))
            assert time.monotonic() - started < 3, path
        started = time.monotonic()
        is_unavailable_problem(client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}))
        assert time.monotonic() - started < 3
        started = time.monotonic()
        assert client.get("/sante").status_code == 200 and time.monotonic() - started < 1
        started = time.monotonic()
        ready = client.get("/pret")
        assert time.monotonic() - started < 2
        assert ready.status_code == 503 and "database" in ready.get_json()["echecs"]
        assert "trop lentement" in ready.get_json()["verifications"]["database"]["error"]
    finally:
        release.set()
        thread.join(10)
        holder.dispose()
    assert client.get("/boite").status_code == 200
    assert call(client, "GET", "/tasks", secret).status_code == 200
