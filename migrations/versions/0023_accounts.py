"""account administration: journal of changes, password links, single sign-on identities

Revision ID: 0023_accounts
Revises: 0014_observables
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0023_accounts"
down_revision = "0014_observables"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN: a batch copy of "structures" would trip the foreign keys that reference it.
    op.add_column("structures", sa.Column("phone", sa.String(length=40), nullable=False, server_default=""))
    op.add_column("structures", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "account_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", models.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("hash", sa.String(length=64), nullable=False, unique=True),
    )
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_index("ix_account_events_target_id", "account_events", ["target_id"])
    op.create_table(
        "password_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.UTCDateTime(), nullable=False),
        sa.Column("used_at", models.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_password_links_user_id", "password_links", ["user_id"])
    op.create_table(
        "user_identities",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", models.UTCDateTime(), nullable=True),
        sa.UniqueConstraint("provider", "subject"),
    )
    op.create_index("ix_user_identities_user_id", "user_identities", ["user_id"])


def downgrade() -> None:
    op.drop_table("user_identities")
    op.drop_table("password_links")
    op.drop_table("account_events")
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch copy would trip the foreign keys.
    op.drop_column("structures", "active")
    op.drop_column("structures", "phone")
