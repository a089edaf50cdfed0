"""The scheduler only wakes the sweeps: when it starts, when it plans the next wake, the CLI commands."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click
import pytest
from sqlalchemy import select

import scheduler
from app import create_app
from cli import scenarios
from models import OutboxMessage, Timer, db
from workflow import commands, context


def test_never_started_in_tests_nor_when_disabled(app):
    assert "scheduler" not in app.extensions
    assert scheduler.should_start(app) is False
    app.config.update(TESTING=False, SCHEDULER_ENABLED=False)
    assert scheduler.should_start(app) is False
    app.config.update(SCHEDULER_ENABLED=True)
    assert scheduler.should_start(app) is True  # a WSGI server (gunicorn...) loading the app


def _inside(command: str, **params):
    ctx = click.Context(click.Command(command), info_name=command)
    ctx.params.update(params)
    return ctx


def test_not_in_the_reloader_parent_nor_for_cli_tasks(app, monkeypatch):
    app.config.update(TESTING=False, SCHEDULER_ENABLED=True)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with _inside("init-db"):
        assert scheduler.should_start(app) is False
    with _inside("scheduler"):
        assert scheduler.should_start(app) is False  # `flask scheduler` runs its own, blocking
    with _inside("run", reload=True):
        assert scheduler.should_start(app) is False  # the parent only watches files
    with _inside("run", reload=False):
        assert scheduler.should_start(app) is True
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    with _inside("run", reload=True):
        assert scheduler.should_start(app) is True   # the reloader's child serves, and sweeps


def test_create_app_starts_it_outside_tests(app, clock):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with _inside("init-db"):
        quiet = create_app({"TESTING": False, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t", "CLOCK": clock})
    assert "scheduler" not in quiet.extensions
    served = create_app({"TESTING": False, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t", "CLOCK": clock})
    sched = served.extensions["scheduler"]
    try:
        assert sched.first_sweep_done.wait(30)
        assert sched.last_result is not None
    finally:
        sched.shutdown()
        with served.app_context():
            db.engine.dispose()


def test_it_plans_the_next_wake_at_the_earliest_due_row(app, clock):
    sched = scheduler.Scheduler(app, max_sleep=60)
    before = datetime.now(timezone.utc)
    assert sched.plan() - before >= timedelta(seconds=60)  # nothing due: the safety wake

    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    # Outbox rows are due (since the first step): wake at once.
    first = db.session.scalar(select(OutboxMessage.next_attempt_at).order_by(OutboxMessage.id).limit(1))
    assert scheduler.next_due() == first < clock.now()
    assert sched.plan() - datetime.now(timezone.utc) <= timedelta(seconds=0)
    for row in db.session.scalars(select(OutboxMessage)):
        row.status = "sent"
    db.session.commit()
    # Next come the task's reminder (40 working hours) and the weekly timer (7 days): capped at 60 s.
    timer = db.session.scalars(select(Timer).where(Timer.status == "pending")).one()
    task = scenarios.ready_task(dossier, "p4_accompagner")
    assert scheduler.next_due() == min(task.due_at, timer.due_at) + scheduler.EPSILON
    clock.set(timer.due_at - timedelta(seconds=10))
    task.reminded_at = clock.now()
    db.session.commit()
    before = datetime.now(timezone.utc)
    wake = sched.plan()
    assert timedelta(seconds=10) <= wake - before <= timedelta(seconds=10.5)
    assert sched.aps.get_job(scheduler.JOB_ID).trigger.run_date == wake


def test_a_commit_with_an_earlier_due_row_wakes_it(app, clock):
    sched = scheduler.Scheduler(app, max_sleep=3600)
    sched.start()
    try:
        assert sched.first_sweep_done.wait(30)
        # Nothing due: the next sweep is an hour away (wall clock)...
        assert sched.planned_for - datetime.now(timezone.utc) > timedelta(minutes=59)
        # ...until a command queues messages due now.
        structure = scenarios.structure_for("35000002")
        commands.start_dossier(structure, None, context.SYSTEM)  # no due row: no wake
        assert sched.wakes == 0
        assert sched.planned_for - datetime.now(timezone.utc) > timedelta(minutes=59)
        swept = sched.sweeps
        dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")  # the declaration queues notifications
        assert sched.wakes >= 1
        # The woken sweep delivers them (log backend) without waiting for the hour.
        assert sched.wait_for_sweeps(swept + 1, 30)
    finally:
        sched.shutdown()  # waits for a sweep in progress
    db.session.expire_all()
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id)).all()
    assert rows and {r.status for r in rows} == {"sent"}


def test_cli_commands_run_one_sweep(app, clock, runner):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    timer = db.session.scalars(select(Timer).where(Timer.status == "pending")).one()
    clock.set(timer.due_at + timedelta(minutes=1))
    result = runner.invoke(args=["fire-timers"])
    assert result.exit_code == 0, result.output
    assert "Minuteurs déclenchés : 1" in result.output
    pending = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "point_hebdomadaire"))
    assert pending.status == "pending"
    result = runner.invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    count = db.session.scalar(select(db.func.count()).select_from(OutboxMessage))
    assert f"Messages envoyés : {count}" in result.output
    db.session.refresh(pending)
    assert pending.status == "sent"


@pytest.mark.parametrize("command", ["scheduler", "fire-timers", "send-mail"])
def test_cli_commands_are_registered_with_french_help(app, runner, command):
    result = runner.invoke(args=[command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
