"""Schema management with Alembic, driven from the application (no alembic.ini to keep in sync)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from models import db

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection=None) -> Config:
    """An Alembic config pointing at our migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(revision: str = "heads") -> None:
    """Bring the application's database to a revision (inside an app context)."""
    with db.engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision() -> str | None:
    """The revision the database is at."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revisions() -> set[str]:
    """The head revisions of the migration scripts on disk (what `upgrade()` would reach)."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_heads(connection) -> set[str]:
    """The revisions the database connected through `connection` is at."""
    return set(MigrationContext.configure(connection).get_current_heads())
