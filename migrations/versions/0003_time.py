"""time and mail: claim leases on timers and outbox rows

Revision ID: 0003_time
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0003_time"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A sweep claims due rows for a while (a lease) so that several scheduler processes never
    # work the same row; an expired lease means the claimer died.
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", models.UTCDateTime(), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
