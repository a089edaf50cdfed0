"""claim time of a task row: the assignment event of the process-mining export

Revision ID: 0013_mining
Revises: 0012_priority
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0013_mining"
down_revision = "0012_priority"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Claims made before this revision keep no time: their tasks are exported without assignment.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
