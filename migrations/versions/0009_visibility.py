"""visibility: the armées' choice of addressee and the restricted flag, stored on the dossier for SQL filters

Revision ID: 0009_visibility
Revises: 0006_engine_revision
"""
from alembic import op
import sqlalchemy as sa

revision = "0009_visibility"
down_revision = "0006_engine_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Military dossiers already closed keep no addressee: only the armées and the structure see them
    # until the armées' task is replayed or completed again (the safe default).
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("addressed_to", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_column("restricted")
        batch_op.drop_column("addressed_to")
