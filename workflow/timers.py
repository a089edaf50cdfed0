"""Sweeps over due rows: BPMN timers fired through the engine, reminders of overdue tasks.

The database holds all state (DESIGN.md decision 7): a sweep claims due rows with a lease
(`claimed_by`, `claimed_until`; on PostgreSQL under `FOR UPDATE SKIP LOCKED`), then fires each
one in its own transaction. Several scheduler processes can sweep at once: a row is claimed by
one of them, and the firing transaction re-checks the claim under the instance's row lock, so a
timer fires exactly once even if a lease expired meanwhile. The lease is short and renewed
between rows (`leases.Heartbeat`): a killed sweep's rows are due again within about 30 s.
A failure is recorded on the row (attempts, last_error, next_attempt_at with exponential
backoff) and the sweep goes on.
"""
from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import literal, or_, select, update

from engine.errors import Conflict, EngineError
from mail import notifications
from models import Dossier, OutboxMessage, ProcessInstance, Structure, TaskRow, Timer, User, db
from referentiel import ROLES
from timekeeping import leases
from timekeeping.clock import app_now
from workflow import commands

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")

BATCH = 50                        # rows claimed at once: short claim transactions, fair sharing
DEFAULTS = {"TIMER_MAX_ATTEMPTS": 5, "TIMER_RETRY_BASE_S": 30, "TIMER_RETRY_MAX_S": 3600, "TIMER_SWEEP_THREADS": 4}


@dataclass
class SweepResult:
    """What one sweep did; `lateness` holds fired-time minus due-time, in seconds, per fired timer."""

    fired: int = 0
    failed: int = 0
    skipped: int = 0
    reminders: int = 0
    lateness: list = field(default_factory=list)


def _setting(name: str):
    return current_app.config.get(name, DEFAULTS[name])



# --------------------------------------------------------------------------------------------
# Timers

def _due_timer_filter(now: datetime):
    # Strictly before now: SpiffWorkflow fires a timer only once its instant is in the past.
    return (Timer.status == "pending", Timer.due_at < now,
            or_(Timer.next_attempt_at.is_(None), Timer.next_attempt_at <= now),
            or_(Timer.claimed_until.is_(None), Timer.claimed_until < now))


def claim_timers(now: datetime, limit: int = BATCH) -> tuple[str, list[tuple[int, int]]]:
    """Claim up to `limit` due timers for this process; returns the claim token and (timer, instance) ids."""
    return leases.claim(Timer, _due_timer_filter(now), (Timer.due_at, Timer.id), now, limit,
                        (Timer.id, Timer.instance_id))


def fire_claimed(timer_id: int, instance_id: int, token: str, fire=None) -> float | None:
    """Fire one claimed timer in its own transaction; return its lateness in seconds, or None if skipped."""
    fire = fire or commands.fire_timer
    # Lock the instance first (every command on it does), then read the timer under that lock:
    # only the holder of the current claim on a still-pending row may fire it.
    if leases.is_postgresql():  # SQLite has no row locks: its single writer serializes commands already
        db.session.execute(select(ProcessInstance.id).where(ProcessInstance.id == instance_id).with_for_update())
    timer = db.session.scalars(select(Timer).where(Timer.id == timer_id)
                               .execution_options(populate_existing=True)).first()
    if timer is None or timer.status != "pending" or timer.claimed_by != token:
        db.session.rollback()
        return None
    due_at, spec_name = timer.due_at, timer.spec_name
    fire(timer)  # commits
    fired_at = app_now()
    status = db.session.scalar(select(Timer.status).where(Timer.id == timer_id))
    db.session.rollback()  # end the read transaction
    if status == "pending":
        # The engine did not consider it due (clocks of two processes apart): retry later.
        raise TimerNotFired(f"Le moteur n'a pas déclenché le minuteur {spec_name} dû le {due_at.isoformat()}.")
    return (fired_at - due_at).total_seconds()


class TimerNotFired(RuntimeError):
    """The engine ran the timer command but the timer was still waiting afterwards."""


def _record_failure(timer_id: int, token: str, now: datetime, error: str, count: bool = True) -> bool:
    """Write a failed attempt on the row (own transaction); True if the timer is now given up."""
    timer = db.session.get(Timer, timer_id)
    if timer is None or timer.claimed_by != token or timer.status != "pending":
        db.session.rollback()
        return False
    if count:
        timer.attempts = (timer.attempts or 0) + 1
    timer.last_error = error[:2000]
    timer.claimed_by = timer.claimed_until = None
    gave_up = timer.attempts >= _setting("TIMER_MAX_ATTEMPTS")
    if gave_up:
        timer.status = "failed"
        timer.next_attempt_at = None
    else:
        delay = (leases.backoff(timer.attempts, _setting("TIMER_RETRY_BASE_S"), _setting("TIMER_RETRY_MAX_S"))
                 if count else timedelta(seconds=1))
        timer.next_attempt_at = now + delay
    db.session.commit()
    return gave_up


def _fire_one(timer_id: int, instance_id: int, token: str, fire) -> tuple[str, float | None]:
    """Fire one claimed timer and record what happened; never raises (one broken timer must not stop the others)."""
    try:
        lateness = fire_claimed(timer_id, instance_id, token, fire)
    except Conflict as exc:
        # Another command changed the instance meanwhile: try again shortly, it is not a failure.
        db.session.rollback()
        _record_failure(timer_id, token, app_now(), exc.message, count=False)
        return "skipped", None
    except Exception as exc:
        db.session.rollback()
        log.warning("timer %s failed: %s", timer_id, exc, exc_info=not isinstance(exc, EngineError))
        message = exc.message if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
        try:
            _record_failure(timer_id, token, app_now(), message)
        except Exception:  # the database itself is failing: the lease will expire and the row be retried
            db.session.rollback()
            log.exception("could not record the failure of timer %s", timer_id)
        return "failed", None
    return ("skipped", None) if lateness is None else ("fired", lateness)


def fire_one(timer_id: int, instance_id: int, token: str, fire=None) -> tuple[str, float | None]:
    """Fire one claimed timer and record what happened (the sweep's path; « Relancer » uses it for one row)."""
    return _fire_one(timer_id, instance_id, token, fire)


def sweep_timers(fire=None, max_rows: int = 100_000, batch: int = BATCH, threads: int | None = None) -> SweepResult:
    """Fire every due timer, each in its own transaction, until none is due (or max_rows)."""
    if threads is None:
        # PostgreSQL commits in parallel, so a few threads hide the round trips; SQLite has one writer.
        threads = _setting("TIMER_SWEEP_THREADS") if leases.is_postgresql() else 1
    app = current_app._get_current_object()

    def fire_and_beat(timer_id, instance_id, token, heartbeat):
        outcome = _fire_one(timer_id, instance_id, token, fire)
        heartbeat.beat(app_now())  # between rows: the rows still waiting stay ours
        return outcome

    def run(chunk):
        with app.app_context():  # each thread its own session, for its whole share of the batch
            return [fire_and_beat(*item) for item in chunk]

    result = SweepResult()
    done = 0
    pool = ThreadPoolExecutor(threads, thread_name_prefix="timers") if threads > 1 else None
    try:
        while done < max_rows:
            token, ids = claim_timers(app_now(), min(batch, max_rows - done))
            if not ids:
                break
            done += len(ids)
            heartbeat = leases.Heartbeat(Timer, token, app_now())
            if pool:
                chunks = [[(t, i, token, heartbeat) for t, i in ids[n::threads]] for n in range(threads)]
                outcomes = [outcome for part in pool.map(run, chunks) for outcome in part]
            else:
                outcomes = (fire_and_beat(t, i, token, heartbeat) for t, i in ids)
            for outcome, lateness in outcomes:
                if outcome == "fired":
                    result.fired += 1
                    result.lateness.append(lateness)
                elif outcome == "failed":
                    result.failed += 1
                else:
                    result.skipped += 1
    finally:
        if pool:
            pool.shutdown()
    return result


def next_timer_due() -> datetime | None:
    """The earliest instant at which a timer sweep may have work (due, retry or lease expiry)."""
    pending = Timer.status == "pending"
    candidates = [
        db.session.scalar(select(Timer.due_at).where(pending, Timer.next_attempt_at.is_(None),
                                                     Timer.claimed_until.is_(None))
                          .order_by(Timer.due_at).limit(1)),
        db.session.scalar(select(Timer.next_attempt_at).where(pending, Timer.next_attempt_at.is_not(None))
                          .order_by(Timer.next_attempt_at).limit(1)),
        db.session.scalar(select(Timer.claimed_until).where(pending, Timer.claimed_until.is_not(None))
                          .order_by(Timer.claimed_until).limit(1)),
    ]
    candidates = [c for c in candidates if c is not None]
    return min(candidates) if candidates else None


# --------------------------------------------------------------------------------------------
# Reminders of overdue tasks

def reminder_message_id(task_id: str, domain: str) -> str:
    """Stable Message-ID of the reminder of one task (there is at most one per task)."""
    digest = hashlib.sha256(f"rappel:{task_id}".encode()).hexdigest()[:24]
    return f"<{digest}.rappel_echeance@{domain}>"


def _reminder_recipients(row: TaskRow, dossier: Dossier) -> list[str]:
    if row.role == "declarant":
        declarant = db.session.get(User, dossier.declarant_id) if dossier.declarant_id else None
        structure = db.session.get(Structure, dossier.structure_id)
        return [a for a in {(declarant.email if declarant else ""), structure.email if structure else ""} if a]
    try:
        return [notifications.mailbox(row.role, row.region, current_app.config["MAILBOXES"])]
    except KeyError:
        return []


def _queue_reminder(row: TaskRow, now: datetime) -> None:
    dossier = db.session.get(Dossier, row.dossier_id)
    structure = db.session.get(Structure, dossier.structure_id)
    data = {"structure": commands.structure_data(structure), "titre": dossier.title,
            "types_incident": list(dossier.incident_types or []), "qualification": dossier.qualification}
    extra = {"intro": notifications.INTROS.get("rappel_echeance", ""), "tache": row.title,
             "acteur": ROLES.get(row.role, row.role),
             "echeance": row.due_at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M"),
             "retard_heures": round((now - row.due_at).total_seconds() / 3600, 1)}
    ctx = notifications.template_context("rappel_echeance", data, dossier.number, extra)
    subject, text, html = notifications.render("rappel_echeance", ctx)
    # recipient_roles stays empty: a reminder is not an "entity alerted" about the incident.
    db.session.add(OutboxMessage(instance_id=row.instance_id, dossier_id=row.dossier_id, event_seq=None,
                                 kind="rappel_echeance", recipients=_reminder_recipients(row, dossier),
                                 recipient_roles=[], subject=subject, body_text=text, body_html=html,
                                 message_id=reminder_message_id(row.id, current_app.config["MAIL_DOMAIN"]),
                                 status="pending", attempts=0, next_attempt_at=now, created_at=now))


# « ready » written into the statement rather than bound: a partial index serves only a query whose conditions imply
# its own, which SQLite, and PostgreSQL's generic plans, cannot see through a parameter (models.ix_tasks_reminder).
TASK_READY = literal("ready", literal_execute=True)


def sweep_reminders(limit: int = 500) -> int:
    """Queue one reminder for each open task past its due date; return how many were queued."""
    now = app_now()
    ids = db.session.scalars(select(TaskRow.id).where(TaskRow.status == TASK_READY, TaskRow.due_at < now,
                                                      TaskRow.reminded_at.is_(None))
                             .order_by(TaskRow.due_at).limit(limit)).all()
    db.session.rollback()
    queued = 0
    for task_id in ids:
        # The conditional UPDATE is the claim: whoever changes the row queues the reminder, once.
        claimed = db.session.execute(update(TaskRow).where(TaskRow.id == task_id, TaskRow.status == "ready",
                                                           TaskRow.reminded_at.is_(None))
                                     .values(reminded_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            db.session.rollback()
            continue
        try:
            _queue_reminder(db.session.get(TaskRow, task_id), now)
            db.session.commit()
            queued += 1
        except Exception:
            db.session.rollback()
            log.exception("reminder for task %s failed", task_id)
    return queued


def next_reminder_due() -> datetime | None:
    """The earliest due date of an open task not yet reminded."""
    return db.session.scalar(select(TaskRow.due_at).where(TaskRow.status == TASK_READY, TaskRow.due_at.is_not(None),
                                                          TaskRow.reminded_at.is_(None))
                             .order_by(TaskRow.due_at).limit(1))
