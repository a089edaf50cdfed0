"""One clock for the engine, the timers, the business calendar and the audit log.

Time is an input (DESIGN.md decision 3): production uses the system clock, tests set a
`FrozenClock` and move it forward. SpiffWorkflow reads `datetime.now(timezone.utc)` and
`time.time()` itself, so `engine/clockhooks.py` routes those calls here through `current_clock`.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
import threading
from datetime import datetime, timedelta, timezone

from flask import current_app


class SystemClock:
    """The real time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that only moves when told to; thread-safe so scheduler threads can read it."""

    def __init__(self, start: datetime | None = None):
        start = start or datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the frozen instant (reading one attribute needs no lock: `set` and `advance` replace it whole;
        SpiffWorkflow reads the clock at every task state change)."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Jump to an instant (aware)."""
        if instant.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        with self._lock:
            self._now = instant.astimezone(timezone.utc)

    def advance(self, **delta) -> datetime:
        """Move forward by a timedelta given as keyword arguments."""
        with self._lock:
            self._now = self._now + timedelta(**delta)
            return self._now


# The clock in force for the code running in this context (a request, a command, a sweep).
current_clock: contextvars.ContextVar = contextvars.ContextVar("current_clock", default=SystemClock())


def now() -> datetime:
    """The current instant according to the clock in force."""
    return current_clock.get().now()


def app_now() -> datetime:
    """The application's current instant (its clock: the system's, or a test's)."""
    return current_app.extensions["clock"].now()


@contextmanager
def app_clock_frozen(start: datetime | None = None):
    """Run the block on a FrozenClock in place of the application's clock (scenarios, sample data)."""
    previous = current_app.extensions["clock"]
    frozen = FrozenClock(start)
    current_app.extensions["clock"] = frozen
    try:
        yield frozen
    finally:
        current_app.extensions["clock"] = previous

