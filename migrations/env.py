"""Alembic environment: runs against the application's database connection."""
from alembic import context

from models import db

config = context.config
target_metadata = db.metadata


def run_migrations_online() -> None:
    """Run migrations on the connection the caller provides (see migrate.upgrade)."""
    connection = config.attributes.get("connection")
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `flask init-db`")
run_migrations_online()
