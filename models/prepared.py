"""Server-side prepared statements that survive the end of a request that only read, on PostgreSQL.

psycopg prepares a statement on the server once a connection has run it `prepare_threshold` times, and from
then on PostgreSQL skips parsing and planning it: 0.5 to 1.5 ms for each of the inbox's and the dossier page's
queries, more than their execution. But psycopg forgets every prepared statement (DEALLOCATE ALL) whenever a
transaction ends with ROLLBACK, since a rollback may undo the schema its plans were made on; and every request that
only reads ends with one, because the session closes its transaction by rolling it back. So nothing stayed
prepared, and every page paid the planning of every query.

A transaction that sent only SELECT statements and is not in error ends here with COMMIT instead: in the database
the two are the same (it wrote nothing, and its locks are released either way), and the statements stay prepared.
Anything else (a write, a savepoint, DDL, a statement that failed) ends with the real ROLLBACK, so a request that
wrote and then failed loses its writes exactly as before. SQLAlchemy still sees a rollback: no commit event runs.

A statement is prepared at its second execution on a connection rather than its sixth (psycopg's default), and a
connection keeps up to 200 of them rather than 100. A worker runs a few hundred texts, the inbox's alone one per
scope, order, filter and page (models/kept.planned_once writes their values in): at psycopg's default, each was
parsed and planned five times per worker before it was prepared, and in the first minutes after a start one inbox
page in eight paid that (2 ms of PostgreSQL's time, measured in its statement log). The price is the server's
memory: a connection's cached plans after 600 pages of the inbox and the fiche, 4.3 MB → 8.1 MB (52 statements
prepared instead of 29); the 200 statements bound it. A prepared statement with parameters is still planned at each
of its first five executions on a connection (PostgreSQL's rule; docs/reference/benchmarks.md, twelfth round).
"""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

WROTE = "transaction_wrote"
PREPARE_THRESHOLD = 1  # executions before a statement is prepared: prepared at the second one
PREPARED_MAX = 200  # statements kept prepared per connection (least recently used ones deallocated first)


def _note(conn, cursor, statement, parameters, context, executemany):
    """Remember that this connection's transaction sent something other than a SELECT."""
    if not statement.lstrip()[:6].upper() == "SELECT":
        conn.info[WROTE] = True


def _committed(conn):
    conn.info.pop(WROTE, None)


def _prepare_early(dbapi_connection, record) -> None:
    dbapi_connection.prepare_threshold = PREPARE_THRESHOLD
    dbapi_connection.prepared_max = PREPARED_MAX


def install(engine: Engine) -> None:
    """On a PostgreSQL (psycopg) engine: read-only transactions end with COMMIT, and statements are prepared early
    and more of them kept (see the module's text)."""
    dialect = engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg" or getattr(dialect, "_keeps_prepared", False):
        return
    from psycopg.pq import TransactionStatus

    rollback = dialect.do_rollback

    def end(connection) -> None:
        """connection: the pool's proxy of a psycopg connection (its info is the pool record's)."""
        try:
            wrote = connection.info.pop(WROTE, False)
        except NotImplementedError:  # the engine's first connection, set up outside the pool: no record
            return rollback(connection)
        raw = connection.dbapi_connection
        if not wrote and raw is not None and raw.info.transaction_status == TransactionStatus.INTRANS:
            raw.commit()
        else:
            rollback(connection)

    dialect.do_rollback = end
    dialect._keeps_prepared = True
    event.listen(engine, "before_cursor_execute", _note)
    event.listen(engine, "commit", _committed)
    event.listen(engine, "connect", _prepare_early)
