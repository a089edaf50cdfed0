"""Workflows kept in memory between commands (workflow/live_cache.py): taken back only while the stored
state is the one they were kept with; a command of another process, or one that failed, means a reload."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from cli import scenarios
from engine import serialization
from engine.errors import EngineError
from models import AuditEvent, Dossier, ProcessInstance, db
from workflow import commands, live_cache

real_load = serialization.load_state  # taken before any test replaces it


@pytest.fixture
def loads(monkeypatch):
    """Count the workflows rebuilt from stored state."""
    count = []
    real = serialization.load_state

    def counting(*args, **kwargs):
        count.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(serialization, "load_state", counting)
    return count


def step(dossier, spec_name, data):
    row = scenarios.ready_task(dossier, spec_name)
    return commands.complete_task(row.id, data, scenarios.actor_for(row))


def test_the_next_command_takes_back_the_kept_workflow(app, clock, loads):
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    loads.clear()
    step(dossier, "p2_ouvrir", dict(scenarios.OPENING[0][1]))
    assert loads == []  # this process ran the previous command: nothing rebuilt
    app.config["LIVE_WORKFLOWS"] = 0
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    loads.clear()
    step(dossier, "p2_ouvrir", dict(scenarios.OPENING[0][1]))
    assert loads == [1]  # turned off: rebuilt from the row


def test_a_command_of_another_process_makes_the_kept_workflow_stale(app, clock, loads):
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    number = dossier.number
    # Another process (its own application and engine, so its own cache) on the same database.
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "CLOCK": clock, "SECRET_KEY": "test", "SCHEDULER_ENABLED": False})
    with other.app_context():
        theirs = db.session.scalar(select(Dossier).where(Dossier.number == number))
        step(theirs, "p2_ouvrir", dict(scenarios.OPENING[0][1]))
        db.session.remove()
        db.engine.dispose()
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    loads.clear()
    qualification = dict(scenarios.SCENARIOS["grave_acss"].steps)["p3_qualifier"]
    step(dossier, "p3_qualifier", qualification)
    assert loads == [1]  # the kept workflow was one command behind: the stored state was read instead
    events = db.session.scalars(select(AuditEvent.visited).where(AuditEvent.instance_id == dossier.instance_id)
                                .order_by(AuditEvent.seq)).all()
    assert events[-2][0] == "p2_ouvrir" and events[-1][0] == "p3_qualifier"


def test_a_failed_command_never_leaves_its_workflow_behind(app, clock, loads, monkeypatch):
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    stored = instance.state_json

    def failing(*args, **kwargs):
        raise RuntimeError("panne du service")
    monkeypatch.setattr(commands, "_write_rows", failing)  # fails after the workflow ran
    with pytest.raises(RuntimeError):
        step(dossier, "p2_ouvrir", dict(scenarios.OPENING[0][1]))
    monkeypatch.undo()
    monkeypatch.setattr(serialization, "load_state", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    db.session.expire_all()
    assert db.session.get(ProcessInstance, dossier.instance_id).state_json == stored
    step(db.session.get(Dossier, dossier.id), "p2_ouvrir", dict(scenarios.OPENING[0][1]))
    assert loads == [1]  # rebuilt from the stored state, not the one the failed command had moved


def test_a_kept_workflow_that_differs_from_its_stored_state_is_refused(app, clock):
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    kept = live_cache._live[live_cache._key(dossier.instance_id)][1]
    kept.task_tree.data["trafique"] = True  # what a bug that changed it after its commit would do
    with pytest.raises(EngineError, match="diffère de l'état enregistré"):
        step(dossier, "p2_ouvrir", dict(scenarios.OPENING[0][1]))


def test_commands_of_one_transaction_share_the_workflow_and_a_rollback_discards_it(app, clock, loads):
    """start_declaration's commands run in one transaction: each takes back the workflow the previous one
    left. Rolled back, the row holds the older text again: the workflow kept meanwhile is not used."""
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    loads.clear()
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    commands.complete_task(row.id, dict(scenarios.OPENING[0][1]), scenarios.actor_for(row), commit=False)
    assert loads == []
    db.session.rollback()  # the caller failed after the command: nothing of it stays
    dossier = db.session.get(Dossier, dossier.id)
    step(dossier, "p2_ouvrir", dict(scenarios.OPENING[0][1]))
    assert loads == [1]  # the kept workflow was one command ahead of the row: rebuilt instead
