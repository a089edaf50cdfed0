"""visibility: the armées' choice of addressee and the restricted flag, stored on the dossier for SQL filters

Revision ID: 0009_visibility
Revises: 0006_engine_revision
"""
import json

from alembic import op
import sqlalchemy as sa

revision = "0009_visibility"
down_revision = "0006_engine_revision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("addressed_to", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false()))
    # National worklists exclude the tasks of military dossiers found through this index (web/access.py).
    op.create_index("ix_dossiers_military", "dossiers", ["military"])
    _backfill()


def _backfill() -> None:
    # Military dossiers the armées already handled: take their choice from the audit log (the
    # submitted data of their completed task), so the addressed body keeps reading them.
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT d.id, e.payload FROM dossiers d JOIN audit_events e ON e.instance_id = d.instance_id "
        "WHERE d.military = :yes AND e.command = 'complete' AND e.actor_role = 'armees' ORDER BY e.seq"),
        {"yes": True}).all()
    for dossier_id, payload in rows:
        data = (json.loads(payload) if isinstance(payload, str) else payload or {}).get("data") or {}
        if data.get("information_armees") in ("hfds", "acss"):
            bind.execute(sa.text("UPDATE dossiers SET addressed_to = :to, restricted = :restricted WHERE id = :id"),
                         {"to": data["information_armees"], "id": dossier_id,
                          "restricted": data.get("niveau_confidentialite") == "diffusion_restreinte"})


def downgrade() -> None:
    op.drop_index("ix_dossiers_military", table_name="dossiers")
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_column("restricted")
        batch_op.drop_column("addressed_to")
