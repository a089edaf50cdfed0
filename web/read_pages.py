"""The most read pages run their statements without a transaction on PostgreSQL (autocommit).

A request's first statement made psycopg open a transaction with a BEGIN of its own, and its end closed it with a
COMMIT (models/prepared.py): two round trips to the server for each page, beside the two statements of the inbox
or the seven of the fiche. These pages only read, and at PostgreSQL's READ COMMITTED level each statement of a
transaction already reads its own snapshot, so without one they read the same rows; a write they might make (the
login session's last-seen time, once a minute) is a single statement, committed at once as before.

Only the pages named here, and only for GET and HEAD; every other request, and anything on SQLite, keeps its
transaction. The connection returns to the pool with its usual isolation (SQLAlchemy restores it), so the next
request that writes on it is transactional again.
"""
from __future__ import annotations

from flask import request

from models import db

PAGES = frozenset({"inbox.index", "dossiers.show"})


def init_app(app) -> None:
    @app.before_request
    def _without_transaction():
        if (request.endpoint in PAGES and request.method in ("GET", "HEAD") and db.engine.dialect.name == "postgresql"
                and not db.session().in_transaction()):  # a transaction begun already is left as it is
            db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
