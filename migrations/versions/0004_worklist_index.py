"""inbox at volume: an index serving the national roles' worklists

Revision ID: 0004_worklist_index
Revises: 0003_time
"""
from alembic import op

revision = "0004_worklist_index"
down_revision = "0003_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The Cellule ACSS, HFDS and DGS see every region's tasks: their inbox filters on status and
    # role, counts overdue and claimed tasks and orders by due date; this index covers all of it.
    op.create_index("ix_tasks_worklist", "tasks", ["status", "role", "due_at", "created_at", "id", "claimed_by"])


def downgrade() -> None:
    op.drop_index("ix_tasks_worklist", table_name="tasks")
