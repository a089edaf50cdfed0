"""Statements built once per shape and kept by the process, for the pages read most (the inbox, the fiche de suivi).

Building a SQLAlchemy statement, and walking it for the key of SQLAlchemy's compiled cache, costs more Python than
PostgreSQL spends running it: a page of ten statements spent more on them than on everything else but rendering. A
statement object that is run again is walked once (SQLAlchemy memoizes its key on the object), so the pages keep
theirs here: what varies from one request to the next (an id, the instant) is a bound parameter given at execution,
and whatever else the statement embeds must be part of its key - for the visibility model, `access.scope_key(user)`.

Statements hold no data and no session: they are shared by the application's threads and databases. The memo is
bounded (at KEPT statements it starts again empty), so hostile query strings cannot grow it without end.
"""
from __future__ import annotations

import threading

from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

KEPT = 2048
_kept: dict = {}
_lock = threading.Lock()


def kept(key: tuple, build):
    """The statement kept under `key`, built by `build()` the first time (or again after the memo was emptied)."""
    statement = _kept.get(key)
    if statement is None:
        statement = build()
        with _lock:
            if len(_kept) >= KEPT:
                _kept.clear()
            _kept[key] = statement
    return statement


def planned_once(statement):
    """A copy of `statement` whose values are written into its SQL, except the parameters named with a leading « _ »
    (those given at execution: an id, the instant, a text a user typed).

    PostgreSQL plans a prepared statement that has parameters again at every execution as long as its plan for any
    value (the generic plan) looks costlier than the plans for the values given, and for the inbox's it always did:
    with its LIMIT and its role unknown, a generic plan reads the whole worklist. Re-planning those statements cost
    more than running them (0.4 ms for the page's rows, which run in 0.15 ms). With the values in the text, the
    statement psycopg prepares has nothing left to plan for: PostgreSQL plans it once per connection.

    Only for values the statement's key holds (they are part of the text now) and that the code or an allow-list
    chose: a value a user typed keeps a parameter named with « _ ». SQLAlchemy renders the values with the
    dialect's literal quoting, at execution (« literal_execute »), so the statement itself stays portable."""
    def inline(element):
        if isinstance(element, BindParameter) and not element.key.startswith("_") and element.value is not None:
            return element.render_literal_execute()
        return None

    return replacement_traverse(statement, {}, inline)


def forget() -> None:
    """Empty the memo (tests that count what is built)."""
    with _lock:
        _kept.clear()


def size(kind: str | None = None) -> int:
    """How many statements are kept (of one kind: the first item of their keys)."""
    return len(_kept) if kind is None else sum(1 for key in list(_kept) if key[0] == kind)
