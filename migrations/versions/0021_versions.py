"""process versions: the active version per process id, deployment events, pending deployments

Revision ID: 0021_versions
Revises: 0018_api
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0021_versions"
down_revision = "0018_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "active_versions",
        sa.Column("process_id", sa.String(length=120), primary_key=True),
        sa.Column("definition_id", sa.Integer(), sa.ForeignKey("process_definitions.id"), nullable=False),
        sa.Column("changed_at", models.UTCDateTime(), nullable=False),
    )
    op.create_table(
        "deployment_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("process_id", sa.String(length=120), nullable=False),
        sa.Column("definition_id", sa.Integer(), sa.ForeignKey("process_definitions.id"), nullable=False),
        sa.Column("previous_id", sa.Integer(), sa.ForeignKey("process_definitions.id"), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("at", models.UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_deployment_events_process_id", "deployment_events", ["process_id"])
    op.create_index("ix_deployment_events_definition_id", "deployment_events", ["definition_id"])
    op.create_table(
        "pending_deployments",
        sa.Column("token", sa.String(length=64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_pending_deployments_user_id", "pending_deployments", ["user_id"])


def downgrade() -> None:
    op.drop_table("pending_deployments")
    op.drop_table("deployment_events")
    op.drop_table("active_versions")
