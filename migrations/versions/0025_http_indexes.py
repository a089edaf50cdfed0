"""worklist indexes carry dossier_id and cover the inbox; the dossiers hidden from national worklists, indexed

The national bodies' inboxes exclude the open tasks of a few thousand dossiers (military ones not
addressed to them, drafts): with dossier_id in the worklist indexes that check is made on the index
entries (an index-only scan), instead of looking up every hidden dossier's tasks on each request. The
regional index covers what a regional inbox counts and sorts, so it is read without the table either, and
the orders by creation date get their own index.

Revision ID: 0025_http_indexes
Revises: 0026_mail_templates
"""
from alembic import op

revision = "0025_http_indexes"
down_revision = "0026_mail_templates"
branch_labels = None
depends_on = None

INBOX = ["status", "role", "region", "due_at"]
WORKLIST = ["status", "role", "due_at", "created_at", "id", "claimed_by"]
PRIORITY = ["status", "role", "priority", "due_at", "created_at", "id", "claimed_by"]


def upgrade() -> None:
    op.drop_index("ix_tasks_inbox", table_name="tasks")
    op.create_index("ix_tasks_inbox", "tasks", INBOX + ["created_at", "id", "claimed_by", "priority", "dossier_id"])
    op.drop_index("ix_tasks_worklist", table_name="tasks")
    op.create_index("ix_tasks_worklist", "tasks", WORKLIST + ["dossier_id"])
    op.drop_index("ix_tasks_priority", table_name="tasks")
    op.create_index("ix_tasks_priority", "tasks", PRIORITY + ["dossier_id"])
    op.create_index("ix_dossiers_hidden", "dossiers", ["military", "addressed_to", "id"])
    op.create_index("ix_tasks_recent", "tasks", ["status", "role", "created_at", "id", "dossier_id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_recent", table_name="tasks")
    op.drop_index("ix_dossiers_hidden", table_name="dossiers")
    op.drop_index("ix_tasks_priority", table_name="tasks")
    op.create_index("ix_tasks_priority", "tasks", PRIORITY)
    op.drop_index("ix_tasks_worklist", table_name="tasks")
    op.create_index("ix_tasks_worklist", "tasks", WORKLIST)
    op.drop_index("ix_tasks_inbox", table_name="tasks")
    op.create_index("ix_tasks_inbox", "tasks", INBOX)
