"""Join the three security migrations (login sessions, crash edges, visibility) into one head.

They were written side by side from 0006 and touch different tables, so their order does not matter.
"""
revision = "0010_merge_security"
down_revision = ("0007_login_sessions", "0008_crash_edges", "0009_visibility")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
