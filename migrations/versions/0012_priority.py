"""priority you can see: the dossier's markers and priority, copied on its open tasks for the inbox's order

Revision ID: 0012_priority
Revises: 0010_merge_security
"""
import json

from alembic import op
import sqlalchemy as sa

from referentiel import priority_score

revision = "0012_priority"
down_revision = "0010_merge_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN on both backends: a batch copy of `dossiers` on SQLite would drop a
    # table that tasks, outbox rows and retex reference, which its foreign keys refuse once dossiers exist.
    op.add_column("dossiers", sa.Column("urgent_help", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("dossiers", sa.Column("care_impact", sa.String(length=40), nullable=True))
    op.add_column("dossiers", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("tasks", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    # The inbox orders by priority then due date: the worklist index with the priority first.
    op.create_index("ix_tasks_priority", "tasks", ["status", "role", "priority", "due_at", "created_at", "id",
                                                   "claimed_by"])
    _backfill()


def _backfill() -> None:
    # The declarant's answers (urgent help, impact on care) are read from the audit log's submitted data.
    bind = op.get_bind()
    answers: dict = {}
    for dossier_id, payload in bind.execute(sa.text(
            "SELECT d.id, e.payload FROM dossiers d JOIN audit_events e ON e.instance_id = d.instance_id "
            "WHERE e.command = 'complete' AND e.actor_role = 'declarant' ORDER BY e.seq")).all():
        data = (json.loads(payload) if isinstance(payload, str) else payload or {}).get("data") or {}
        answers.setdefault(dossier_id, {}).update(
            {key: data[key] for key in ("besoin_aide_urgente", "impact_soins") if key in data})
    rows = bind.execute(sa.text("SELECT id, health_impact, qualification, off_hours FROM dossiers")).all()
    for dossier_id, health_impact, qualification, off_hours in rows:
        found = answers.get(dossier_id, {})
        urgent, care = bool(found.get("besoin_aide_urgente")), found.get("impact_soins")
        score = priority_score(urgent, care, bool(health_impact), qualification, bool(off_hours))
        if urgent or care or score:
            bind.execute(sa.text("UPDATE dossiers SET urgent_help = :urgent, care_impact = :care, priority = :score "
                                 "WHERE id = :id"), {"urgent": urgent, "care": care, "score": score, "id": dossier_id})
            bind.execute(sa.text("UPDATE tasks SET priority = :score WHERE dossier_id = :id AND status = 'ready'"),
                         {"score": score, "id": dossier_id})


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), for the same reason as in upgrade().
    op.drop_index("ix_tasks_priority", table_name="tasks")
    op.drop_column("tasks", "priority")
    for column in ("priority", "care_impact", "urgent_help"):
        op.drop_column("dossiers", column)
