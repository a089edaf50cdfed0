"""Which target each user task of a process version carries (timekeeping/deadlines.py says what one is).

Read once per version from its parsed spec (the `targetDuration` and `targetCalendar` properties of its
user tasks, and `priorityMarker`), cached by content hash: versions never change. A value the validator
would refuse today (a version deployed before the rule) gives no target rather than a failing command.
"""
from __future__ import annotations

from datetime import datetime

from models import ProcessDefinition
from referentiel import TASK_PRIORITY_WEIGHTS
from timekeeping import deadlines
from workflow.deployment import spec_of

PRIORITY_PROPERTY = "priorityMarker"
_cache: dict[str, dict] = {}
_CACHE_SIZE = 64


def _properties(task_spec) -> dict:
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {}


def _read(definition: ProcessDefinition) -> dict:
    spec, subs = spec_of(definition)
    found = {}
    for task_spec in [t for s in [spec, *subs.values()] for t in s.task_specs.values()]:
        props = _properties(task_spec)
        try:
            target = deadlines.parse_target(props.get(deadlines.DURATION_PROPERTY),
                                            props.get(deadlines.CALENDAR_PROPERTY))
        except deadlines.TargetError:
            target = None
        boost = TASK_PRIORITY_WEIGHTS.get(props.get(PRIORITY_PROPERTY) or "", 0)
        if target is not None or boost:
            found[task_spec.name] = (target, boost)
    return found


def _of(definition: ProcessDefinition) -> dict:
    key = definition.content_hash
    if key not in _cache:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = _read(definition)
    return _cache[key]


def target_of(definition: ProcessDefinition, spec_name: str) -> deadlines.Target | None:
    """The target a version gives a user task, or None."""
    return (_of(definition).get(spec_name) or (None, 0))[0]


def due_date(definition: ProcessDefinition, spec_name: str, created: datetime, department: str | None):
    """Due date of a task created now: its version's target from its creation, or None without a target."""
    target = target_of(definition, spec_name)
    return target.due(created, department) if target else None


def priority_boost(definition: ProcessDefinition, spec_name: str) -> int:
    """What a task adds to its dossier's priority in the inbox (its `priorityMarker`), usually 0."""
    return (_of(definition).get(spec_name) or (None, 0))[1]
