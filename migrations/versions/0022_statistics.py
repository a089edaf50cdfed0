"""statistics: the origin and the data impact of each dossier, counted by the observatory page

Revision ID: 0022_statistics
Revises: 0024_modeller
"""
import json

from alembic import op
import sqlalchemy as sa

from knowledge.statistics_facts import FACT_KEYS, facts_from_data

revision = "0022_statistics"
down_revision = "0024_modeller"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dossier_facts",
        sa.Column("dossier_id", sa.Integer(), sa.ForeignKey("dossiers.id"), primary_key=True, autoincrement=False),
        sa.Column("origin", sa.String(length=20), nullable=True),
        sa.Column("data_impact", sa.JSON(), nullable=False),
        sa.Column("personal_data", sa.Boolean(), nullable=True),
    )
    backfill(op.get_bind())


def backfill(bind) -> None:
    """Facts of the dossiers declared before this revision, from the forms submitted in their audit log."""
    answers: dict = {}
    for dossier_id, payload in bind.execute(sa.text(
            "SELECT d.id, e.payload FROM dossiers d JOIN audit_events e ON e.instance_id = d.instance_id "
            "WHERE e.command = 'complete' ORDER BY d.id, e.seq")).all():
        data = (json.loads(payload) if isinstance(payload, str) else payload or {}).get("data") or {}
        if isinstance(data, dict):
            answers.setdefault(dossier_id, {}).update({key: data[key] for key in FACT_KEYS if key in data})
    table = sa.table("dossier_facts", sa.column("dossier_id", sa.Integer()), sa.column("origin", sa.String()),
                     sa.column("data_impact", sa.JSON()), sa.column("personal_data", sa.Boolean()))
    rows = [dict(dossier_id=dossier_id, **facts_from_data(data)) for dossier_id, data in answers.items() if data]
    if rows:
        bind.execute(table.insert(), rows)


def downgrade() -> None:
    op.drop_table("dossier_facts")
