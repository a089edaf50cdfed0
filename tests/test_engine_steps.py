"""engine/steps.py runs the engine steps as SpiffWorkflow does: the READY tasks it finds are the library's, in the
library's order, at every call; and dossiers run live with it replay step for step, state hash and visited
elements included, when the library's own loop does the replay (and the other way round)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from SpiffWorkflow.util.task import TaskState

from audit import verifier
from cli import scenarios
from engine import bare_run, serialization, steps
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, db
from workflow import commands, context, deployment

library_ready = steps.ready_tasks


def _run_everything(clock) -> list[Dossier]:
    """A dossier kept in weekly support for two months (timers firing, loops taken) and closed, then every
    scenario."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    scenarios.advance(clock, timedelta(days=60))
    for spec_name, data in scenarios.SUPPORT_END + scenarios.CLOSING:
        clock.advance(hours=2)
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    return [dossier] + [scenarios.run(name, clock)[0] for name in scenarios.SCENARIOS]


def test_the_ready_tasks_are_the_librarys_at_every_call(app, clock, monkeypatch):
    calls = []

    def compared(workflow):
        ours = library_ready(workflow)
        theirs = workflow.get_tasks(state=TaskState.READY)
        assert [t.id for t in ours] == [t.id for t in theirs]
        assert all(a is b for a, b in zip(ours, theirs))
        calls.append(len(ours))
        return ours

    monkeypatch.setattr(steps, "ready_tasks", compared)
    made = _run_everything(clock)
    assert len(calls) > 500 and max(calls) >= 2  # several READY tasks at once (parallel branches) were met
    assert all(verifier.verify_dossier(d).ok for d in made)


@pytest.mark.parametrize("live, replay", [("ours", "library"), ("library", "ours")])
def test_one_loop_replays_what_the_other_ran(app, clock, monkeypatch, live, replay):
    loops = {"ours": steps.do_engine_steps, "library": bare_run.library_engine_steps}
    monkeypatch.setattr(steps, "do_engine_steps", loops[live])
    made = _run_everything(clock)
    monkeypatch.setattr(steps, "do_engine_steps", loops[replay])
    for dossier in made:
        result = verifier.verify_dossier(db.session.get(Dossier, dossier.id))
        assert result.ok, (dossier.number, result.message)
        assert result.steps >= 6


def test_a_large_tree_is_left_to_the_library(app, clock, monkeypatch):
    """Past 1,000 tasks SpiffWorkflow's depth limit could cut its search: its own iterator answers."""
    asked = []
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    monkeypatch.setattr(steps, "MAX_DEPTH", 3)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = deployment.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
    workflow = serialization.load_state(instance.state_json, spec, subs, context.script_engine())
    real = type(workflow).get_tasks

    def counted(self, *args, **kwargs):
        asked.append(kwargs.get("state"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(workflow), "get_tasks", counted)
    found = steps.ready_tasks(workflow)
    assert asked == [TaskState.READY]
    assert [t.task_spec.name for t in found] == ["p4_accompagner"]


def test_the_yardstick_stays_plain_spiffworkflow(app, clock, monkeypatch):
    """bench/engine.py divides by engine/bare_run.py's time: it runs SpiffWorkflow's own loop, not ours."""
    dossier, _ = scenarios.run("grave_acss", clock)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = deployment.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id)
                                .order_by(AuditEvent.seq)).all()

    def ours(*_args):
        raise AssertionError("engine/steps.py used by the yardstick")

    monkeypatch.setattr(steps, "ready_tasks", ours)
    monkeypatch.setattr(steps, "do_engine_steps", ours)
    workflow, visited = bare_run.run_commands(spec, subs, bare_run.events_of(events), instance_key=str(instance.id))
    assert workflow.is_completed()
    assert visited == [e.visited for e in events]
