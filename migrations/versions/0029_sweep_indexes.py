"""indexes for the scheduler's sweeps: the tasks not yet reminded, the dossiers by declaration date

An idle scheduler sweeps at least once a minute. At 100,000 dossiers each pass cost about 300 ms of PostgreSQL:
- the reminder sweep and the next reminder's due date read every open task's row through the worklist index
  (25,000 heap pages, 100-380 ms) to find the few not yet reminded; `ix_tasks_reminder` holds only those
  (partial: status « ready » and reminded_at null), in due-date order;
- the weak-signal sweep read the whole dossier table for the ones declared in its window (23-54 ms, twice a
  pass); `ix_dossiers_declared_at` reads the window;
- the next timer's wake read every pending timer's row for the earliest retry and lease (7-12 ms each);
  `ix_timers_retry` and `ix_timers_lease` hold only the timers that have one.

Revision ID: 0029_sweep_indexes
Revises: 0028_inbox_order
"""
from alembic import op
import sqlalchemy as sa

revision = "0029_sweep_indexes"
down_revision = "0028_inbox_order"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'ready' AND reminded_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_tasks_reminder", "tasks", ["due_at"], postgresql_where=PENDING, sqlite_where=PENDING)
    op.create_index("ix_dossiers_declared_at", "dossiers", ["declared_at"])
    for name, column in (("ix_timers_retry", "next_attempt_at"), ("ix_timers_lease", "claimed_until")):
        only = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "timers", ["status", column], postgresql_where=only, sqlite_where=only)


def downgrade() -> None:
    op.drop_index("ix_timers_lease", table_name="timers")
    op.drop_index("ix_timers_retry", table_name="timers")
    op.drop_index("ix_dossiers_declared_at", table_name="dossiers")
    op.drop_index("ix_tasks_reminder", table_name="tasks")
