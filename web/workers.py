"""Keeping the long-lived objects of a gunicorn worker out of Python's cyclic garbage collector.

The application is built once in the gunicorn master and forked (scripts/gunicorn.conf.py, `preload_app`): about
200,000 objects (Flask, SQLAlchemy's mappers, SpiffWorkflow, jsonschema, the templates' environment) that live as
long as the process. A full collection walks every tracked object: in a worker it took about 100 ms on the 2-core
machine, during which the request it was serving waited, and it writes to every object's header, which un-shares the
pages the worker had in common with the master. `gc.freeze()` moves the objects that exist at that moment to a
permanent generation that collections skip:

- in the master, before each fork (`freeze_preloaded`): the preloaded application;
- in each worker, once, after it has served `GC_FREEZE_AFTER` requests (`request_served`): what the worker built
  lazily on its first requests (statements kept by models/kept.py, SQLAlchemy's compiled cache, the process specs,
  compiled templates). A collection runs first, so the request garbage of that moment is freed, not frozen.

Frozen objects are never collected: an object frozen and later dropped inside a reference cycle stays in memory.
That costs at most what was frozen, once; objects with no cycle are still freed by their reference counts.
"""
from __future__ import annotations

import gc
import logging
import os
import threading

log = logging.getLogger("signalement.serve")
DEFAULT_FREEZE_AFTER = 200
_served = 0
_after: int | None = None  # GC_FREEZE_AFTER as read once by this worker (forked), not at every request
_lock = threading.Lock()  # gthread workers count from several threads


def freeze_preloaded() -> int:
    """Freeze every object of this process (the master, before a fork); returns how many are frozen."""
    gc.freeze()
    return gc.get_freeze_count()


def freeze_after() -> int:
    """Requests a worker serves before its own freeze (GC_FREEZE_AFTER; 0 turns it off). A value that is not a whole
    number is a ValueError naming the variable: scripts/gunicorn.conf.py reads it at start, so gunicorn refuses to
    start with it rather than a worker failing at its first request."""
    value = os.environ.get("GC_FREEZE_AFTER", str(DEFAULT_FREEZE_AFTER)).strip()
    if not value.isdigit():
        raise ValueError(f"GC_FREEZE_AFTER={value!r} : un nombre entier de requêtes est attendu (0 désactive le gel "
                         f"propre à chaque worker) / GC_FREEZE_AFTER must be a whole number of requests (0 turns "
                         f"the worker's own freeze off).")
    return int(value)


def request_served(after: int | None = None) -> bool:
    """Count a request served by this worker; at the `after`-th (default: GC_FREEZE_AFTER, read once), collect and
    freeze once. True when this call froze."""
    global _served, _after
    if after is None:
        if _after is None:
            _after = freeze_after()
        after = _after
    with _lock:
        _served += 1
        if after == 0 or _served != after:
            return False
    gc.collect()
    gc.freeze()
    log.info("worker %s: %s long-lived objects frozen after %s requests", os.getpid(), gc.get_freeze_count(), after)
    return True


def forked() -> int:
    """A new worker starts counting its own requests (the master's count is not its own) and reads its setting;
    returns how many objects it inherited frozen."""
    global _served, _after
    _served, _after = 0, freeze_after()
    inherited = gc.get_freeze_count()
    log.info("worker %s: starts with %s objects of the preloaded application frozen", os.getpid(), inherited)
    return inherited
