"""Sharing a long verification among several processes: forked children of the current application, each with
its own database connections (the parent's pool is never used from a child), results in submission order.

Fork, not spawn: a child starts with the application, its parsed process specs and its imports already in memory
(copy on write), so it costs milliseconds instead of an import and a parse. A database that lives in the process's
memory (SQLite `:memory:`) cannot be shared: the caller then verifies in its own process.
"""
from __future__ import annotations

import gc
import multiprocessing
import os

from flask import current_app

from models import db

_parent: dict = {}  # what a forked child needs: the application object, set just before forking


def can_fork() -> bool:
    """Whether children can reach the same database (a file or a server, and a platform with fork)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    url = db.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def default_processes(total: int, per_process: int = 200) -> int:
    """As many processes as cores, but not for a handful of dossiers (a process costs a fork and a connection)."""
    return max(1, min(os.cpu_count() or 1, total // per_process))


def _child_start() -> None:
    app = _parent["app"]
    with app.app_context():
        # The pool copied from the parent holds the parent's connections: forget them without closing them.
        db.engine.dispose(close=False)


def _child_run(job):
    function, part, kwargs = job
    with _parent["app"].app_context():
        try:
            return function(part, **kwargs)
        finally:
            db.session.remove()


def map_ordered(function, parts: list, processes: int, warm=None, **kwargs):
    """Yield function(part, **kwargs) for each part, computed in `processes` forked children, in order.

    `warm()` runs in the parent before forking (caches the children should share).
    """
    if warm is not None:
        warm()
    db.session.commit()  # no transaction open across the fork
    _parent["app"] = current_app._get_current_object()
    context = multiprocessing.get_context("fork")
    # What the children inherit (the application, its imports, the parsed specs) lives as long as they do:
    # frozen, the collector of each child never scans it again, and leaves its pages shared. Unfrozen after,
    # unless something was frozen before (the anonymization engine): unfreezing is all or nothing, and would
    # give the collector back the engine's objects for the rest of the process's life.
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        with context.Pool(processes, initializer=_child_start) as pool:
            yield from pool.imap(_child_run, [(function, part, kwargs) for part in parts])
    finally:
        if not frozen_before:
            gc.unfreeze()
