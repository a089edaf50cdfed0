"""crash edges: idempotency keys for starting a declaration, SMTP stage of outbox rows

Revision ID: 0008_crash_edges
Revises: 0006_engine_revision
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0008_crash_edges"
down_revision = "0006_engine_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A retry of « Valider » (or of an API call) with the same key returns the dossier of the first
    # try instead of opening a second one; the key is bound to the user who sent it.
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),
    )
    op.create_index("ix_idempotency_keys_dossier_id", "idempotency_keys", ["dossier_id"])
    # How far SMTP got for an outbox row: a crash before DATA means the server cannot have the message.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("smtp_stage", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("smtp_stage")
    op.drop_index("ix_idempotency_keys_dossier_id", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
