"""Live workflows kept in this process between two commands on the same dossier.

A command starts from the stored state: it reads the instance row under its lock, and rebuilds the
workflow from `state_json`. When this process ran the previous command on the instance, the
workflow it left is exactly that state (same spec, same data; tests/test_engine.py shows a workflow
kept in memory serializes to the stored bytes), so it is taken back instead of rebuilt, provided the
row still holds the very state text it was kept with (a string comparison: any other command, in any
process, and any damage to the stored text, makes them differ); a command that fails never puts
its workflow back. Taking an entry removes it, so that two threads
never run the same object. With `LIVE_WORKFLOW_CHECK` (on in tests), every workflow taken back is
serialized and compared with the stored state: the whole suite checks the equivalence.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from flask import current_app

from engine import serialization
from engine.errors import EngineError
from models import database_key

_lock = threading.Lock()
_live: OrderedDict = OrderedDict()
DEFAULT_SIZE = 128


def _key(instance_id: int) -> tuple:
    return (*database_key(), instance_id)


def take(instance):
    """The workflow this process left on the instance, if the row still holds its state; else None."""
    with _lock:
        entry = _live.pop(_key(instance.id), None)
    if entry is None or entry[0] != (instance.definition_id, instance.state_json):
        return None
    workflow = entry[1]
    if current_app.config.get("LIVE_WORKFLOW_CHECK") and serialization.dump_state(workflow) != instance.state_json:
        raise EngineError("L'état conservé en mémoire diffère de l'état enregistré.", 500)
    return workflow


def keep(instance_id: int, definition_id: int, state_json: str, workflow) -> None:
    """Keep a workflow whose state was just committed as this text."""
    size = current_app.config.get("LIVE_WORKFLOWS", DEFAULT_SIZE)
    if size <= 0:
        return
    key = _key(instance_id)
    with _lock:
        _live[key] = ((definition_id, state_json), workflow)
        _live.move_to_end(key)
        while len(_live) > size:
            _live.popitem(last=False)
