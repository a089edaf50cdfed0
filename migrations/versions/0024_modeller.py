"""drafts of the in-browser modeller, per user and process

Revision ID: 0024_modeller
Revises: 0023_accounts
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0024_modeller"
down_revision = "0023_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "modeller_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("process_id", sa.String(length=120), nullable=False),
        sa.Column("base_definition_id", sa.Integer(), sa.ForeignKey("process_definitions.id"), nullable=True),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("updated_at", models.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "process_id"),
    )
    op.create_index("ix_modeller_drafts_user_id", "modeller_drafts", ["user_id"])


def downgrade() -> None:
    op.drop_table("modeller_drafts")
