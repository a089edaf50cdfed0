"""APScheduler wiring: it only wakes the sweeps at the next due time; the database holds all state.

One job, rescheduled after every sweep for the earliest due row (timer, retry, reminder,
outbox message, expired lease), never later than MAX_SLEEP so rows written by other processes
are seen too. A commit in this process that adds an earlier due row wakes it at once (see
`_after_flush`). Several schedulers on one PostgreSQL share the work through row claims
(workflow/timers.py, mail/mailer.py), so running one per web worker, or alone with `flask scheduler`, is safe.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta, timezone

import click
from flask import current_app, has_app_context
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session
from sqlalchemy import event, update

from knowledge import signals
from mail import mailer
from models import WAKE_KEY, OutboxMessage, SchedulerHeartbeat, TaskRow, Timer, db, note_due
from workflow import operations, timers

log = logging.getLogger(__name__)

MAX_SLEEP = 60.0              # seconds: upper bound between two sweeps
EPSILON = timedelta(milliseconds=1)  # timers fire strictly after their instant
JOB_ID = "sweep"

_running: dict[int, "Scheduler"] = {}   # id(app) -> its scheduler in this process
_lock = threading.Lock()


def run_sweeps(fire=None) -> dict:
    """One pass of every sweep (timers, reminders, weak signals, mail) inside an app context."""
    fired = timers.sweep_timers(fire=fire)
    reminders = timers.sweep_reminders()
    # Before the mail sweep, so that an alert raised now leaves in the same pass.
    weak_signals = signals.sweep(current_app.extensions["clock"].now())
    try:  # failed work mails the administrators once per item; its own failure never stops the mail sweep
        alerts = operations.alert_administrators()
    except Exception:
        log.exception("could not queue the failed-work alerts")
        db.session.rollback()
        alerts = 0
    delivered = mailer.deliver_due()
    return {"timers": fired, "reminders": reminders, "weak_signals": weak_signals, "alerts": alerts,
            "mail": delivered}


def beat(name: str, now: datetime, sweeps: int) -> None:
    """Record that the scheduler `name` finished a sweep at `now` (read by the readiness check `/pret`)."""
    done = db.session.execute(update(SchedulerHeartbeat).where(SchedulerHeartbeat.name == name)
                              .values(beat_at=now, sweeps=sweeps)).rowcount
    if not done:
        db.session.add(SchedulerHeartbeat(name=name, beat_at=now, sweeps=sweeps))
    db.session.commit()


def next_due() -> datetime | None:
    """The earliest instant at which some sweep has work."""
    timer, reminder = timers.next_timer_due(), timers.next_reminder_due()
    # Timers and reminders are due strictly after their instant; wake just past it.
    candidates = [timer and timer + EPSILON, reminder and reminder + EPSILON, mailer.next_delivery_due()]
    db.session.rollback()
    candidates = [c for c in candidates if c is not None]
    return min(candidates) if candidates else None


class Scheduler:
    """Wakes the sweeps of one application at the right wall-clock time."""

    def __init__(self, app, blocking: bool = False, max_sleep: float = MAX_SLEEP, fire=None):
        self.app = app
        self.fire = fire  # how a claimed timer is fired (default: through the engine; the bench injects its own)
        self.max_sleep = max_sleep
        self.clock = app.extensions["clock"]
        cls = BlockingScheduler if blocking else BackgroundScheduler
        self.aps = cls(timezone=timezone.utc, job_defaults={"coalesce": True, "max_instances": 1,
                                                            "misfire_grace_time": None})
        self.wake_requested = False
        self.sweeping = False  # a sweep is running: wakes only flag it (plan() then sweeps again at once)
        self.planned_for: datetime | None = None  # wall-clock time of the next sweep
        self.sweeps = 0
        self.wakes = 0  # sweeps brought forward by a commit (see _after_commit)
        self.last_result: dict | None = None
        self.first_result: dict | None = None  # the startup sweep's: what came due while stopped
        self.first_sweep_done = threading.Event()
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:200]  # heartbeat row of this process
        self._plan_lock = threading.Lock()
        self._swept = threading.Condition()
        self.stopped = False

    def start(self) -> None:
        """Start with an immediate sweep: what came due while the application was stopped fires now."""
        _install_listeners()
        with _lock:
            _running[id(self.app)] = self
        self._schedule(datetime.now(timezone.utc))
        self.aps.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the scheduler (waits for a running sweep)."""
        self.stopped = True
        with _lock:
            _running.pop(id(self.app), None)
        if self.aps.running:
            self.aps.shutdown(wait=wait)

    def _schedule(self, when: datetime) -> None:
        self.planned_for = when
        if not self.aps.running:
            # Before start, APScheduler queues every add_job: keep only the latest plan.
            try:
                self.aps.remove_job(JOB_ID)
            except JobLookupError:
                pass
        self.aps.add_job(self._tick, "date", run_date=when, id=JOB_ID, replace_existing=True)

    def _tick(self) -> None:
        with self.app.app_context():
            with self._plan_lock:
                self.wake_requested = False
                self.sweeping = True
            try:
                self.last_result = run_sweeps(self.fire)
                beat(self.name, self.clock.now(), self.sweeps + 1)
            except Exception:  # a sweep that fails (database down) is retried at the next wake
                log.exception("scheduler sweep failed")
                db.session.rollback()
            self.plan()
            with self._swept:
                self.sweeps += 1
                if self.first_result is None:
                    self.first_result = self.last_result  # a later sweep may overwrite last_result
                self._swept.notify_all()
            self.first_sweep_done.set()  # after planning, so a reader sees the next wake too

    def wait_for_sweeps(self, count: int, timeout: float) -> bool:
        """Block until `count` sweeps have run (for tests and tools; the scheduler never needs it)."""
        with self._swept:
            return self._swept.wait_for(lambda: self.sweeps >= count, timeout)

    def plan(self) -> datetime:
        """Reschedule the job for the next due row, mapping the app clock to the wall clock."""
        try:
            due = next_due()
        except Exception:
            log.exception("scheduler could not read the next due time")
            db.session.rollback()
            due = None
        delay = self.max_sleep
        if due is not None:
            delay = min(self.max_sleep, max(0.0, (due - self.clock.now()).total_seconds()))
        with self._plan_lock:
            self.sweeping = False
            if self.wake_requested:  # a commit asked for a sweep while we were reading
                delay = 0.0
            when = datetime.now(timezone.utc) + timedelta(seconds=delay)
            if not self.stopped:
                self._schedule(when)
        return when

    def wake(self, due: datetime | None = None) -> None:
        """Sweep now if `due` (app clock) is earlier than the planned sweep."""
        with self._plan_lock:
            now = datetime.now(timezone.utc)
            # A plan in the past means a sweep is running and may have read the database before this
            # commit: always ask it to sweep again rather than risk waiting MAX_SLEEP.
            if due is not None and self.planned_for is not None and self.planned_for > now:
                if now + (due - self.clock.now()) >= self.planned_for:
                    return
            self.wake_requested = True
            self.wakes += 1
            if self.sweeping:
                return  # the running sweep plans the next one at once (see plan): no job to queue now
            if self.aps.running and not self.stopped:
                self._schedule(datetime.now(timezone.utc))


# --------------------------------------------------------------------------------------------
# Waking on commit: a command that writes an earlier due row should not wait for MAX_SLEEP.

def _due_of(obj) -> datetime | None:
    if isinstance(obj, Timer):
        return obj.due_at
    if isinstance(obj, OutboxMessage):
        return obj.next_attempt_at
    if isinstance(obj, TaskRow):
        return obj.due_at
    return None


def _after_flush(session, flush_context) -> None:
    if not _running:
        return
    for obj in session.new:
        note_due(session, _due_of(obj))


def _after_commit(session) -> None:
    due = session.info.pop(WAKE_KEY, None)
    if due is None:
        return
    if not has_app_context():
        return
    scheduler = _running.get(id(current_app._get_current_object()))
    if scheduler is not None:
        scheduler.wake(due)


def _after_rollback(session) -> None:
    session.info.pop(WAKE_KEY, None)


def _install_listeners() -> None:
    with _lock:
        if getattr(_install_listeners, "done", False):
            return
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        _install_listeners.done = True


# --------------------------------------------------------------------------------------------
# Starting it with the web process

def should_start(app) -> bool:
    """Start inside this process? Not in tests, not when disabled, not in the reloader's parent, not for CLI tasks."""
    if not app.config.get("SCHEDULER_ENABLED", True) or app.config.get("TESTING"):
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        # Under the `flask` command, only `flask run` serves requests; `init-db`, `demo`... must not
        # start a background sweeper (and `flask scheduler` runs its own, blocking).
        if ctx.info_name != "run":
            return False
        reload = ctx.params.get("reload")
        if reload is None:
            reload = app.debug
        if reload and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            return False  # the reloader's parent only watches files; its child serves and sweeps
    return True


def init_app(app) -> Scheduler | None:
    """Start the in-process scheduler when the configuration and the way we were launched allow it."""
    if not should_start(app):
        return None
    scheduler = Scheduler(app)
    scheduler.start()
    app.extensions["scheduler"] = scheduler
    return scheduler
