"""Clock and identifiers inside SpiffWorkflow (DESIGN.md decision 3): its `datetime.now`, `time.time`
and task uuids read ours, so a replay of the audit log rebuilds byte-identical states.
"""
from __future__ import annotations

import contextvars
import hashlib
import logging
import uuid
from datetime import datetime, timezone

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
import SpiffWorkflow.task as spiff_task

from timekeeping import clock as clock_mod


_ids: contextvars.ContextVar = contextvars.ContextVar("spiff_ids", default=None)


class _ClockDatetime(datetime):
    """`datetime` as seen by SpiffWorkflow's timer module: `now()` reads our clock."""

    @classmethod
    def now(cls, tz=None):
        instant = clock_mod.now()
        return instant.astimezone(tz) if tz else instant.astimezone(timezone.utc).replace(tzinfo=None)


class _ClockTime:
    """`time` as seen by SpiffWorkflow's Task: `time()` reads our clock, so state is replayable."""

    @staticmethod
    def time():
        return clock_mod.now().timestamp()


def _task_uuid():
    source = _ids.get()
    return source() if source is not None else uuid.uuid4()


_logged_set_state = spiff_task.Task._set_state


def _set_state(self, value: int) -> None:
    """SpiffWorkflow's Task._set_state (3.2.0, pinned), without building the log record's extras (the task's
    spec, parent, state names) when its logger would drop it: a task changes state about fifteen times a
    command. The same state and `last_state_change` (its `time.time()`, ours once the hooks are installed)."""
    if _task_logger.isEnabledFor(logging.INFO):
        _logged_set_state(self, value)
    elif value != self._state:
        self.last_state_change = spiff_task.time.time()
        self._state = value


_task_logger = spiff_task.logger


def install_spiff_hooks() -> None:
    """Route SpiffWorkflow's clock and task ids through ours; idempotent."""
    spiff_timer.datetime = _ClockDatetime
    spiff_task.time = _ClockTime
    spiff_task.uuid4 = _task_uuid
    spiff_task.Task._set_state = _set_state


def id_source(instance_key: str, seq: int):
    """Deterministic task ids for one command: the same command replayed creates the same ids.

    The n-th id is uuid.uuid5(namespace, str(n)) for the command's namespace, computed as uuid5 does (SHA-1 of the
    namespace's bytes and the name, the version and variant bits set) with the namespace hashed once, and the UUID
    made from its integer without uuid.UUID's argument checks: a replay makes hundreds of thousands of them.
    tests/test_engine.py compares them with uuid.uuid5."""
    counter = iter(range(1, 1 << 62))
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"signalement-ssi:{instance_key}:{seq}")
    prefix = hashlib.sha1(namespace.bytes, usedforsecurity=False)

    def next_id() -> uuid.UUID:
        digest = prefix.copy()
        digest.update(str(next(counter)).encode())
        value = (int.from_bytes(digest.digest()[:16], "big") & _CLEAR_VERSION) | _VERSION_5
        made = _new_uuid(uuid.UUID)
        _set(made, "int", value)
        _set(made, "is_safe", uuid.SafeUUID.unknown)
        return made
    return next_id


# What uuid.UUID(bytes=..., version=5) does to the 128-bit integer: variant RFC 4122, version 5.
_CLEAR_VERSION = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_VERSION_5 = (0x8000 << 48) | (5 << 76)
_new_uuid = object.__new__
_set = object.__setattr__  # uuid.UUID forbids attribute assignment; its own __init__ goes through object too
