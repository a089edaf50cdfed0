"""Dead PostgreSQL connections left in the pool are replaced when they are taken out, without a round trip.

A restarted or failed-over server, an administrator's pg_terminate_backend, an idle-session timeout: the pool still
holds connections whose server process is gone. `pool_pre_ping` finds them by sending a statement each time a
connection is taken from the pool, that is at least once per request: a round trip and a statement for PostgreSQL on
every page (0.3 to 0.5 ms of a 5 ms inbox here).

Here the check is local. A connection resting in the pool has nothing left to read: its last answer was read in
full, and the application listens for no notification. When the server ends the connection it says so (a FATAL
message, then the end of the stream), so the socket of a dead connection is readable, or already closed; one
`poll` with no wait tells. Such a connection is refused at checkout (DisconnectionError), and the pool opens another
one in its place before the request sends anything, as the ping would.

What neither this nor the ping can see, a server gone without a word (a cable pulled), ends in the statement
timeout and the 503 page (web/auth/security.py), as before.
"""
from __future__ import annotations

import select

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

_WATCH = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL


def gone(raw) -> bool:
    """True when a psycopg connection at rest is closed, broken, or its server has sent something (its end)."""
    if raw.closed or raw.broken:
        return True
    try:
        poller = select.poll()
        poller.register(raw.fileno(), _WATCH)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # no socket any more
        return True


def _checkout(dbapi_connection, record, proxy) -> None:
    if gone(dbapi_connection):
        raise exc.DisconnectionError("la connexion à PostgreSQL a été fermée par le serveur")


def install(engine: Engine) -> None:
    """On a PostgreSQL (psycopg) engine: dead connections are refused when taken from the pool."""
    dialect = engine.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg" or event.contains(engine, "checkout", _checkout):
        return
    event.listen(engine, "checkout", _checkout)
