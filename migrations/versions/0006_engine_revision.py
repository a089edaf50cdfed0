"""engine revision per instance: replay applies the compaction rules the instance ran with

Revision ID: 0006_engine_revision
Revises: 0005_audit_append_only
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_engine_revision"
down_revision = "0005_audit_append_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Instances that exist already ran with revision 1 (no splicing inside branches): they keep it,
    # so that their stored states still replay to the same hashes.
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine_revision", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("process_instances", schema=None) as batch_op:
        batch_op.drop_column("engine_revision")
