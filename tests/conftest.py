"""Test fixtures: an app per test on SQLite and on PostgreSQL, a settable clock, demo data."""
from __future__ import annotations

import os
import shutil
import uuid

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
    backend, where = template
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(where, path)
        return f"sqlite:///{path}"
    engine = create_engine(where)
    with engine.begin() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    return where


@pytest.fixture
def app(database_template, tmp_path, clock):
    """An application on a fresh database with the process deployed and the demo data loaded."""
    url = _fresh_database(database_template, tmp_path)
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "CLOCK": clock,
                              "SECRET_KEY": "test", "WTF_CSRF_ENABLED": True, "SCHEDULER_ENABLED": False,
                              "PUBLIC_URL": "http://localhost",
                              "ATTACHMENTS_DIR": str(tmp_path / "attachments")})
    with application.app_context():
        deployment.deploy(application.config["PROCESS_FILE"])
        demo.load_demo(password="secret-test")
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def backend(database_template):
    """'sqlite' or 'postgresql'."""
    return database_template[0]


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask CLI runner."""
    return app.test_cli_runner()
