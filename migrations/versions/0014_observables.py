"""observables of a dossier (indicators of compromise), searchable across dossiers

Revision ID: 0014_observables
Revises: 0013_mining
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0014_observables"
down_revision = "0013_mining"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observables",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("normalized", sa.String(length=512), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("removed_at", models.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_observables_dossier_id", "observables", ["dossier_id"])
    op.create_index("ix_observables_lookup", "observables", ["kind", "normalized"])


def downgrade() -> None:
    op.drop_table("observables")
