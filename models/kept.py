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


def forget() -> None:
    """Empty the memo (tests that count what is built)."""
    with _lock:
        _kept.clear()


def size(kind: str | None = None) -> int:
    """How many statements are kept (of one kind: the first item of their keys)."""
    return len(_kept) if kind is None else sum(1 for key in list(_kept) if key[0] == kind)
