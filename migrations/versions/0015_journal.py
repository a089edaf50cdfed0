"""journal of a dossier: notes and attachments, links between dossiers

Revision ID: 0015_journal
Revises: 0021_versions
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0015_journal"
down_revision = "0021_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("author_role", sa.String(length=40), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_type", sa.String(length=100), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("removed_at", models.UTCDateTime(), nullable=True),
        sa.Column("removed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_journal_entries_dossier_id", "journal_entries", ["dossier_id"])
    op.create_index("ix_journal_entries_file_sha256", "journal_entries", ["file_sha256"])
    op.create_table(
        "dossier_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("removed_at", models.UTCDateTime(), nullable=True),
        sa.Column("removed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_dossier_links_source_id", "dossier_links", ["source_id"])
    op.create_index("ix_dossier_links_target_id", "dossier_links", ["target_id"])


def downgrade() -> None:
    op.drop_table("dossier_links")
    op.drop_table("journal_entries")
