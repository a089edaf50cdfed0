"""knowledge of the cell: reflex sheets (versioned), providers, retex review and publication, weak signals

Revision ID: 0020_knowledge
Revises: 0015_journal
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0020_knowledge"
down_revision = "0015_journal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("retex") as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("review_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("published_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("published_at", models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("published_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_retex_published_by_users", "users", ["published_by"], ["id"])
    op.create_table(
        "reflex_sheets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("incident_types", sa.JSON(), nullable=False),
        sa.Column("structure_kinds", sa.JSON(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_index("ix_reflex_sheets_current", "reflex_sheets", ["current", "key"])
    op.create_table(
        "sheet_dispatches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("sheet_id", sa.Integer(), sa.ForeignKey("reflex_sheets.id"), nullable=False),
        sa.Column("sent_at", models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sheet_dispatches_dossier_id", "sheet_dispatches", ["dossier_id"])
    op.create_index("ix_sheet_dispatches_sheet_id", "sheet_dispatches", ["sheet_id"])
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("qualification", sa.String(length=40), nullable=False),
        sa.Column("specialities", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", models.UTCDateTime(), nullable=False),
    )
    op.create_table(
        "weak_signal_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("label", sa.String(length=512), nullable=False),
        sa.Column("dossier_ids", sa.JSON(), nullable=False),
        sa.Column("first_at", models.UTCDateTime(), nullable=False),
        sa.Column("last_at", models.UTCDateTime(), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_weak_signal_alerts_created_at", "weak_signal_alerts", ["created_at"])
    op.create_index("ix_weak_signal_alerts_key", "weak_signal_alerts", ["dimension", "key", "last_at"])
    op.create_table(
        "knowledge_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", models.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("knowledge_events")
    op.drop_table("weak_signal_alerts")
    op.drop_table("providers")
    op.drop_table("sheet_dispatches")
    op.drop_table("reflex_sheets")
    with op.batch_alter_table("retex") as batch_op:
        batch_op.drop_constraint("fk_retex_published_by_users", type_="foreignkey")
        for name in ("published_by", "published_at", "published_text", "review_text", "search_text"):
            batch_op.drop_column(name)
