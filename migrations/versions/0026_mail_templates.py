"""messages rendered at delivery from a pinned template set

Revision ID: 0026_mail_templates
Revises: 0019_platform
"""
from alembic import op
import sqlalchemy as sa

import models

revision = "0026_mail_templates"
down_revision = "0019_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_template_sets",
        sa.Column("hash", sa.String(length=64), primary_key=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", models.UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("template_set", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("context", sa.Text(), nullable=True))


def downgrade() -> None:
    # The older schema has no template context: messages still to render are rendered here, from the
    # template set each one is pinned to (this release's when it was not stored), before the columns go.
    import json

    from mail import notifications

    bind = op.get_bind()
    sets = {row.hash: row.files for row in bind.execute(sa.text("SELECT hash, files FROM mail_template_sets"))}
    current_hash, current_files = notifications._current_set()
    pending = bind.execute(sa.text("SELECT id, kind, subject, template_set, context FROM outbox "
                                   "WHERE template_set IS NOT NULL AND body_text = ''")).all()
    for row in pending:
        files = sets.get(row.template_set)
        files = json.loads(files) if isinstance(files, str) else files
        text, html = notifications.render_bodies(row.kind, json.loads(row.context), row.subject,
                                                 row.template_set if files else current_hash,
                                                 files or current_files)
        bind.execute(sa.text("UPDATE outbox SET body_text = :text, body_html = :html WHERE id = :id"),
                     {"text": text, "html": html, "id": row.id})
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("context")
        batch.drop_column("template_set")
    op.drop_table("mail_template_sets")
