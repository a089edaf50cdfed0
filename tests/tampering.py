"""What an attacker with the database owner's rights can do: lift the audit log's append-only guard.

The tamper tests use it to edit audit events the way such an attacker would, then check that
`verify` still names the altered step. Not a test module (no `test_` prefix).
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import text

import audit
from models import db


@contextmanager
def guard_lifted():
    """Run the block with the append-only triggers off, in one transaction committed at the end."""
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        db.session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        for statement in audit.APPEND_ONLY_DROP[dialect]:
            db.session.execute(text(statement))
    yield
    db.session.flush()  # ORM changes made in the block are written while the guard is off
    if dialect == "postgresql":
        db.session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    else:
        for statement in audit.APPEND_ONLY_TRIGGERS[dialect]:
            db.session.execute(text(statement))
    db.session.commit()
    db.session.expire_all()
