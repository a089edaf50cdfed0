"""scheduler heartbeat read by the readiness endpoint

Revision ID: 0019_platform
Revises: 0020_knowledge
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0019_platform"
down_revision = "0020_knowledge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_heartbeats",
        sa.Column("name", sa.String(length=200), primary_key=True),
        sa.Column("beat_at", models.UTCDateTime(), nullable=False),
        sa.Column("sweeps", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduler_heartbeats")
