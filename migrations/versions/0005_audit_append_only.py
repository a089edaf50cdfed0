"""audit log append-only in the database: triggers refuse UPDATE and DELETE of audit events

Revision ID: 0005_audit_append_only
Revises: 0004_worklist_index
"""
from alembic import op

import audit

revision = "0005_audit_append_only"
down_revision = "0004_worklist_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in audit.APPEND_ONLY_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in audit.APPEND_ONLY_DROP[op.get_bind().dialect.name]:
        op.execute(statement)
