"""Test fixtures: an app per test on SQLite and on PostgreSQL, a settable clock, demo data."""
from __future__ import annotations

import os
import shutil
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, text

import migrate
from app import create_app
from cli import demo
from models import db
from timekeeping import clock as clock_mod
from workflow import deployment

# The browser fixtures (`live`, `page`) live with their helpers.
pytest_plugins = ["browser_support"]

PG_SERVER = os.environ.get("TEST_POSTGRES_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
PG_MISSING = ("PostgreSQL indisponible sur 127.0.0.1:5432 : la moitié PostgreSQL de la suite est ignorée "
              "(REQUIRE_POSTGRES=1 la rend obligatoire)")


def _postgres_available() -> bool:
    try:
        engine = create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_template(request, tmp_path_factory):
    """One migrated database per backend and session: a file template (SQLite) or a throwaway database."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "template.db"
        url = f"sqlite:///{path}"
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            migrate.upgrade()
            db.engine.dispose()
        yield ("sqlite", path)
        return
    if not _postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL est obligatoire (REQUIRE_POSTGRES=1) mais injoignable sur 127.0.0.1:5432")
        pytest.skip(PG_MISSING)
    name = f"signalement_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        migrate.upgrade()
        db.engine.dispose()
    yield ("postgresql", url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def clock():
    """A frozen clock on a Monday morning (Paris working hours)."""
    return clock_mod.FrozenClock()


def _fresh_database(template, tmp_path) -> str:
    """An empty migrated database: a copy of the SQLite template, or the PostgreSQL one emptied."""
    backend, where = template
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(where, path)
        return f"sqlite:///{path}"
    with psycopg.connect(_dsn(where), autocommit=True) as conn:
        _truncate(conn)
    return where


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version' "
        "ORDER BY tablename")]


def _truncate(conn) -> None:
    tables = _tables(conn)
    if tables:
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


def _app_config(url: str, clock, attachments) -> dict:
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "CLOCK": clock,
            "SECRET_KEY": "test", "WTF_CSRF_ENABLED": True, "SCHEDULER_ENABLED": False,
            "PUBLIC_URL": "http://localhost", "ATTACHMENTS_DIR": str(attachments)}


def seed(application) -> None:
    """What every `app` starts with: the process deployed and the demo data loaded."""
    with application.app_context():
        deployment.deploy(application.config["PROCESS_FILE"])
        demo.load_demo(password="secret-test")
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def seeded_template(database_template, tmp_path_factory):
    """The migrated database once seeded (see `seed`), per backend and session, with the same clock and
    configuration as `app`: a file to copy (SQLite), or every table's rows and every sequence's position
    to put back (PostgreSQL). Deploying and loading the demo took most of a test's set-up; what they
    write does not change from one test to the next, and tests/test_fixtures.py checks the copy."""
    backend, where = database_template
    folder = tmp_path_factory.mktemp("seeded")
    if backend == "sqlite":
        path = folder / "seeded.db"
        shutil.copy(where, path)
        seed(create_app(_app_config(f"sqlite:///{path}", clock_mod.FrozenClock(), folder / "attachments")))
        yield ("sqlite", path)
        return
    _fresh_database(database_template, folder)
    seed(create_app(_app_config(where, clock_mod.FrozenClock(), folder / "attachments")))
    with psycopg.connect(_dsn(where)) as conn:
        rows = {}
        for table in _tables(conn):
            with conn.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
                rows[table] = b"".join(bytes(block) for block in copy)
        positions = conn.execute("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
                                 "WHERE schemaname = 'public'").fetchall()
    yield ("postgresql", where, rows, positions)


def _seeded_database(seeded, tmp_path) -> str:
    """A database as `seed` leaves it, for one test."""
    if seeded[0] == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(seeded[1], path)
        return f"sqlite:///{path}"
    _, where, rows, positions = seeded
    with psycopg.connect(_dsn(where)) as conn:
        # Foreign keys and the audit table's append-only rules are triggers: replica mode skips them while
        # the tables are emptied and the rows, already consistent, go back in. DELETE, not TRUNCATE: on
        # tables this small it costs a sixth, 25 ms against 140 ms (TRUNCATE makes new files for every table and index).
        conn.execute("SET LOCAL session_replication_role = replica")
        for table in rows:
            conn.execute(f'DELETE FROM "{table}"')
        for table, data in rows.items():
            if data:
                with conn.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
                    copy.write(data)
        for name, position in positions:
            if position is None:
                conn.execute("SELECT setval(%s, 1, false)", (name,))
            else:
                conn.execute("SELECT setval(%s, %s, true)", (name, position))
    return where


@pytest.fixture
def app(seeded_template, tmp_path, clock):
    """An application on a fresh database with the process deployed and the demo data loaded."""
    url = _seeded_database(seeded_template, tmp_path)
    application = create_app(_app_config(url, clock, tmp_path / "attachments"))
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def backend(database_template):
    """'sqlite' or 'postgresql'."""
    return database_template[0]


@pytest.fixture
def postgres(backend):
    """Skips the SQLite half of a test about something only PostgreSQL has (prepared statements, autocommit)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL seulement : SQLite n'a pas ce qui est testé ici")


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask CLI runner."""
    return app.test_cli_runner()
