"""scenario paths accepted when a version was deployed

Revision ID: gate_0027
Revises: 0025_http_indexes
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "gate_0027"
down_revision = "0025_http_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scenario_acceptances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("definition_id", sa.Integer(), sa.ForeignKey("process_definitions.id"), nullable=False),
        sa.Column("previous_id", sa.Integer(), sa.ForeignKey("process_definitions.id"), nullable=True),
        sa.Column("scenario", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", models.UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_scenario_acceptances_definition_id", "scenario_acceptances", ["definition_id"])


def downgrade() -> None:
    op.drop_table("scenario_acceptances")
