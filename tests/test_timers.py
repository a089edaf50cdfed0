"""Durable timers: the sweep fires due BPMN timers through the engine, once, driven by the clock."""
from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

import scheduler
from app import create_app
from cli import scenarios
from models import AuditEvent, Dossier, OutboxMessage, ProcessInstance, TaskRow, Timer, db
from timekeeping import clock as clock_mod
from workflow import commands, timers


def drive(clock, until: datetime) -> list[float]:
    """Move the clock from due time to due time up to `until`, sweeping at each; never sleeps."""
    lateness = []
    for _ in range(1000):
        due = scheduler.next_due()
        if due is None or due >= until:
            break
        clock.set(max(due, clock.now()))
        lateness += scheduler.run_sweeps()["timers"].lateness
    else:
        pytest.fail("the sweeps keep finding work at the same instant")
    clock.set(until)
    return lateness


def at_support(clock, name: str = "grave_acss") -> Dossier:
    """A grave incident whose support (phase 4) is given to the Cellule ACSS, waiting on p4_accompagner."""
    dossier, _ = scenarios.run(name, clock, until="p4_accompagner")
    scenarios.ready_task(dossier, "p4_accompagner")
    return dossier


def weekly(dossier) -> list[OutboxMessage]:
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                          OutboxMessage.kind == "point_hebdomadaire")
                              .order_by(OutboxMessage.id)).all()


def test_five_weeks_of_support_send_five_weekly_updates_to_the_ars(app, clock):
    dossier = at_support(clock)
    start = clock.now()
    lateness = drive(clock, start + timedelta(weeks=5, minutes=1))

    messages = weekly(dossier)
    assert len(messages) == 5
    assert all(m.recipients == ["ssi-bretagne@ars.sante.fr"] for m in messages)
    assert all(m.subject == f"Point hebdomadaire sur l'incident {dossier.number}" for m in messages)
    # One week apart, each fired at its due time (the sweep ran at the due instant + 1 ms).
    created = [m.created_at for m in messages]
    assert [b - a for a, b in zip(created, created[1:])] == [timedelta(weeks=1, milliseconds=1)] * 4
    assert len(lateness) == 5 and max(lateness) < 0.01
    timer_events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id,
                                                               AuditEvent.command == "timer")).all()
    assert len(timer_events) == 5
    # The support task is open again after each weekly update, and a sixth week is waiting.
    task = scenarios.ready_task(dossier, "p4_accompagner")
    assert task.created_at == created[-1]
    pending = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id,
                                                     Timer.status == "pending")).all()
    assert len(pending) == 1 and pending[0].due_at > clock.now()
    assert db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "fired")) == 5


def test_nothing_fires_before_its_time(app, clock):
    dossier = at_support(clock)
    timer = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id)).one()
    clock.set(timer.due_at)  # exactly the due instant: not yet past
    assert timers.sweep_timers().fired == 0
    clock.set(timer.due_at + timedelta(microseconds=1))
    assert timers.sweep_timers().fired == 1
    assert timers.sweep_timers().fired == 0  # and only once
    assert len(weekly(dossier)) == 1


def test_completing_the_task_cancels_the_weekly_timer(app, clock):
    dossier = at_support(clock)
    clock.advance(days=2)
    row = scenarios.ready_task(dossier, "p4_accompagner")
    commands.complete_task(row.id, scenarios.SUIVI_CONTINUE, scenarios.actor_for(row))
    statuses = Counter(db.session.scalars(select(Timer.status).where(Timer.instance_id == dossier.instance_id)))
    assert statuses == {"cancelled": 1, "pending": 1}
    drive(clock, clock.now() + timedelta(days=6, hours=23))
    assert weekly(dossier) == []  # the clock restarted with the progress report


def test_a_timer_due_while_the_application_was_stopped_fires_at_the_next_start(app, clock):
    dossier = at_support(clock)
    timer = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id)).one()
    due, timer_id = timer.due_at, timer.id
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.remove()
    db.engine.dispose()  # everything stops

    later = clock_mod.FrozenClock(due + timedelta(days=3, hours=2))
    restarted = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "CLOCK": later, "SECRET_KEY": "t"})
    assert "scheduler" not in restarted.extensions  # never started by itself in tests
    with restarted.app_context():
        sched = scheduler.Scheduler(restarted)
        sched.start()
        try:
            assert sched.first_sweep_done.wait(60)  # the startup sweep, run by the scheduler thread
        finally:
            sched.shutdown()
        # The startup sweep fired it (a commit may wake a second sweep meanwhile: read the first's result).
        assert sched.first_result["timers"].fired == 1
        assert sched.first_result["timers"].lateness == [(later.now() - due).total_seconds()]
        fired = db.session.get(Timer, timer_id)
        assert fired.status == "fired" and fired.fired_at == later.now()
        assert len(weekly(dossier)) == 1
        db.session.remove()
        db.engine.dispose()


def test_a_failing_timer_is_retried_with_backoff_and_the_others_still_fire(app, clock):
    first = at_support(clock)
    second = at_support(clock, "impact_sanitaire")  # another type: not a similar incident
    broken = first.instance_id

    def fire(timer):
        if timer.instance_id == broken:
            raise RuntimeError("annuaire indisponible")
        return commands.fire_timer(timer)

    due = max(db.session.scalars(select(Timer.due_at)).all())
    clock.set(due + timedelta(seconds=1))
    result = timers.sweep_timers(fire=fire)
    assert (result.fired, result.failed) == (1, 1)
    assert len(weekly(second)) == 1 and weekly(first) == []
    row = db.session.scalars(select(Timer).where(Timer.instance_id == broken)).one()
    assert row.status == "pending" and row.attempts == 1 and "annuaire indisponible" in row.last_error
    assert row.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert row.claimed_by is None

    # Not before the backoff; then 60 s, 120 s, 240 s; the fifth failure gives up.
    assert timers.sweep_timers(fire=fire).failed == 0
    delays = []
    for attempt in range(2, 6):
        clock.set(row.next_attempt_at)
        assert timers.sweep_timers(fire=fire).failed == 1
        db.session.refresh(row)
        assert row.attempts == attempt
        if row.next_attempt_at:
            delays.append(row.next_attempt_at - clock.now())
    assert delays == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    assert row.status == "failed" and row.next_attempt_at is None
    clock.advance(days=1)
    assert timers.sweep_timers(fire=fire).failed == 0  # given up: no more attempts


def test_an_engine_error_is_recorded_in_french(app, clock):
    dossier = at_support(clock)
    timer = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id)).one()
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    instance.state_json = '{"not": "a workflow"}'  # a corrupted state must not stop the sweep
    db.session.commit()
    clock.set(timer.due_at + timedelta(seconds=1))
    assert timers.sweep_timers().failed == 1
    db.session.refresh(timer)
    assert timer.status == "pending" and timer.attempts == 1
    assert timer.last_error.startswith("Le processus n'a pas pu avancer")


def test_overdue_tasks_get_one_reminder_to_the_role_mailbox(app, clock):
    dossier = at_support(clock)
    task = scenarios.ready_task(dossier, "p4_accompagner")
    assert task.due_at is not None  # 40 working hours for the Cellule ACSS
    clock.set(task.due_at)
    assert timers.sweep_reminders() == 0
    clock.set(task.due_at + timedelta(minutes=5))
    assert timers.sweep_reminders() == 1
    assert timers.sweep_reminders() == 0
    reminder = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "rappel_echeance")).one()
    assert reminder.recipients == ["cellule-acss@esante.example.fr"]
    assert reminder.subject == f"Rappel : tâche en retard sur le dossier {dossier.number}"
    assert task.title in reminder.body_text
    assert "Échéance" in reminder.body_text
    db.session.refresh(task)
    assert task.reminded_at == clock.now()


# --------------------------------------------------------------------------------------------
# Two scheduler processes on PostgreSQL

def _copy_instances(dossier: Dossier, count: int) -> None:
    """Clone an instance waiting on its weekly timer `count` times (state, dossier, timer rows)."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    timer = db.session.scalars(select(Timer).where(Timer.instance_id == instance.id)).one()
    now = instance.updated_at
    for n in range(count):
        copy = ProcessInstance(definition_id=instance.definition_id, state_json=instance.state_json,
                               state_hash=instance.state_hash, status="running", last_seq=instance.last_seq,
                               created_at=now, updated_at=now)
        db.session.add(copy)
        db.session.flush()
        db.session.add(Dossier(number=f"COPIE-{n:05d}", instance_id=copy.id, structure_id=dossier.structure_id,
                               region=dossier.region, structure_kind=dossier.structure_kind, state=dossier.state,
                               incident_types=dossier.incident_types, qualification=dossier.qualification,
                               created_at=now, updated_at=now, title=dossier.title))
        db.session.add(Timer(instance_id=copy.id, task_id=timer.task_id, spec_name=timer.spec_name,
                             due_at=timer.due_at, status="pending", attempts=0))
    db.session.commit()


def _sweeper(url: str, now_iso: str, barrier, results) -> None:
    """One scheduler process: its own app on the shared database, sweeping until nothing is due."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t",
                      "CLOCK": clock_mod.FrozenClock(datetime.fromisoformat(now_iso))})
    with app.app_context():
        db.session.execute(select(1))  # connect before the start line
        db.session.rollback()
        barrier.wait(60)
        fired = failed = 0
        while True:
            result = timers.sweep_timers(batch=10)
            fired, failed = fired + result.fired, failed + result.failed
            if result.fired == result.failed == result.skipped == 0:
                break
        results.put((fired, failed))
        db.engine.dispose()


@pytest.mark.postgres
def test_two_scheduler_processes_fire_1000_timers_exactly_once(app, clock, backend):
    if backend != "postgresql":
        pytest.skip("plusieurs processus planificateurs : PostgreSQL seulement (SQLite : un seul processus)")
    dossier = at_support(clock)
    _copy_instances(dossier, 999)
    due = db.session.scalar(select(func.max(Timer.due_at)))
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.remove()

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    now_iso = (due + timedelta(seconds=1)).isoformat()
    workers = [ctx.Process(target=_sweeper, args=(url, now_iso, barrier, results)) for _ in range(2)]
    for w in workers:
        w.start()
    counts = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(30)
        assert w.exitcode == 0

    assert sum(f for f, _ in counts) == 1000 and all(f > 0 for f, _ in counts), counts
    assert all(failed == 0 for _, failed in counts)
    events = db.session.execute(select(AuditEvent.instance_id, AuditEvent.payload)
                                .where(AuditEvent.command == "timer")).all()
    per_timer = Counter((instance_id, payload["task_id"]) for instance_id, payload in events)
    assert len(per_timer) == 1000 and set(per_timer.values()) == {1}
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.kind == "point_hebdomadaire")) == 1000
    statuses = Counter(db.session.scalars(select(Timer.status)))
    assert statuses == {"fired": 1000, "pending": 1000}  # each instance now waits for its next week
    assert db.session.scalar(select(func.count()).select_from(TaskRow).where(
        TaskRow.spec_name == "p4_accompagner", TaskRow.status == "ready")) == 1000
