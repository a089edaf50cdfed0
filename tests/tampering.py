"""What an attacker with the database owner's rights can do: lift the audit log's append-only guard.

The tamper tests use it to edit audit events the way such an attacker would, then check that
`verify` still names the altered step. Not a test module (no `test_` prefix).
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import text

from models import db


@contextmanager
def guard_lifted():
    """Run the block with the append-only triggers off, in one transaction committed at the end."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:  # SQLite cannot disable a trigger: drop them, then put the same ones back
        triggers = db.session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                           "AND tbl_name = 'audit_events' ORDER BY name")).all()
        assert triggers, "the append-only triggers are missing"
        for name, _ in triggers:
            db.session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    db.session.flush()  # ORM changes made in the block are written while the guard is off
    if postgres:
        db.session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    else:
        for _, sql in triggers:
            db.session.execute(text(sql))
    db.session.commit()
    db.session.expire_all()
