"""Engine guarantees: save/reload changes nothing, long-lived dossiers, restricted expressions,
handler failures, concurrent commands, versioned definitions."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from audit import verifier
from cli import scenarios
from engine import bare_run, clockhooks, expressions, runtime, serialization
from engine.errors import Conflict, EngineError, HandlerError
from models import AuditEvent, Dossier, OutboxMessage, ProcessDefinition, ProcessInstance, TaskRow, Timer, db
from workflow import commands, context, deployment, form_schemas, numbering


def events(dossier):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                              .order_by(AuditEvent.seq)).all()


@pytest.mark.parametrize("kept", [0, 128], ids=["reloaded", "kept-in-memory"])
@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_save_and_reload_at_every_wait_state_changes_nothing(app, clock, name, kept):
    """The live run reloads from the database at every wait state (or, in the process that ran the previous
    command, takes back the workflow it kept: live_cache.py); one in-memory workflow must agree."""
    app.config["LIVE_WORKFLOWS"] = kept
    dossier, _ = scenarios.run(name, clock)
    recorded = events(dossier)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = deployment.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
    inputs = bare_run.events_of(recorded)
    workflow, visited = bare_run.run_commands(spec, subs, inputs, instance_key=str(instance.id))
    assert visited == [e.visited for e in recorded]
    stored = serialization.load_state(instance.state_json, spec, subs, context.script_engine())
    assert runtime.current_data(stored) == runtime.current_data(workflow)
    assert stored.is_completed() == workflow.is_completed()
    # Same inputs, same ids, same clock, compacted like the live run but never saved nor
    # reloaded: the in-memory workflow serializes to exactly the stored bytes.
    compacted, _ = bare_run.run_commands(spec, subs, inputs, instance_key=str(instance.id), compact=True)
    assert serialization.sha256(serialization.dump_state(compacted)) == instance.state_hash


def test_stored_state_reloads_to_the_same_bytes(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = deployment.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
    workflow = serialization.load_state(instance.state_json, spec, subs, context.script_engine())
    assert serialization.dump_state(workflow) == instance.state_json
    assert serialization.sha256(instance.state_json) == instance.state_hash


@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_task_dump_matches_spiffworkflow_converter(app, clock, monkeypatch, name):
    """engine/serialization.py converts the tasks itself (_task_dict); SpiffWorkflow's own converters give the
    same bytes for the workflow of every step of every scenario."""
    assert serialization._FAST_TASKS
    dumped = []
    real = serialization.dump_state

    def both(workflow):
        monkeypatch.setattr(serialization, "_FAST_TASKS", False)
        generic = real(workflow)
        monkeypatch.setattr(serialization, "_FAST_TASKS", True)
        fast = real(workflow)
        assert fast == generic
        dumped.append(fast)
        return fast
    monkeypatch.setattr(serialization, "dump_state", both)
    dossier, _ = scenarios.run(name, clock)
    assert len(dumped) >= len(events(dossier))  # (and the checks of the workflows kept in memory)
    assert dumped[-1] == db.session.get(ProcessInstance, dossier.instance_id).state_json


def test_task_state_changes_logged_or_not_give_the_same_state(app, clock):
    """engine/clockhooks.py skips building SpiffWorkflow's log record of a task state change when its logger drops
    it; with the logger on, SpiffWorkflow's own method runs: both rebuild the stored bytes."""
    dossier, _ = scenarios.run("grave_acss", clock)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = deployment.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
    inputs = bare_run.events_of(events(dossier))
    quiet, _ = bare_run.run_commands(spec, subs, inputs, instance_key=str(instance.id), compact=True)
    logger = logging.getLogger("spiff.task")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logged, _ = bare_run.run_commands(spec, subs, inputs, instance_key=str(instance.id), compact=True)
    finally:
        logger.setLevel(level)
    assert serialization.dump_state(quiet) == serialization.dump_state(logged) == instance.state_json


def _dossier_in_support(clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    return dossier


def _a_thousand_support_iterations(dossier, clock):
    """Progress reports every two hours, and every tenth time a week without one (the weekly timer
    fires). The loop must neither stall nor grow: returns the workflow as stored at the end."""
    sizes = []
    for iteration in range(1000):
        if iteration % 10 == 9:
            assert scenarios.advance(clock, timedelta(days=7, hours=1)) == 1
        else:
            clock.advance(hours=2)
            row = scenarios.ready_task(dossier, "p4_accompagner")
            commands.complete_task(row.id, scenarios.SUIVI_CONTINUE, scenarios.actor_for(row))
        if iteration in (10, 999):
            sizes.append(len(db.session.get(ProcessInstance, dossier.instance_id).state_json))
    assert sizes[1] <= sizes[0] * 1.1, sizes
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    spec, subs = deployment.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
    workflow = serialization.load_state(instance.state_json, spec, subs, context.script_engine())
    assert max(t.depth for t in workflow.get_tasks()) < 50
    return workflow


def test_a_thousand_loop_iterations_neither_stall_nor_grow(app, clock):
    """Weekly updates and progress reports for years: the live state stays small and the loop keeps going."""
    dossier = _dossier_in_support(clock)
    workflow = _a_thousand_support_iterations(dossier, clock)
    assert [t.task_spec.name for t in runtime.ready_user_tasks(workflow)] == ["p4_accompagner"]
    weekly = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.kind == "point_hebdomadaire"))
    assert weekly == 100
    # The dossier still finishes normally after 1,000 iterations.
    for spec_name, data in [("p4_accompagner", scenarios.SUIVI_FIN), ("p4_fin_structure", scenarios.FIN_STRUCTURE)] \
            + scenarios.CLOSING:
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    db.session.refresh(dossier)
    assert dossier.state == "clôturé"
    assert db.session.get(ProcessInstance, dossier.instance_id).status == "completed"


def test_loop_runs_for_years_while_a_parallel_branch_stays_open(app, clock):
    """B3: the DGS's analysis runs in a parallel branch. If the DGS leaves it open while the support
    loop goes on for years, the loop's finished tasks sit below the split: they must not pile up
    (depth 1,000 stalls SpiffWorkflow) - and the dossier still replays step by step to the same state."""
    dossier, _ = scenarios.run("impact_sanitaire", clock, until="p3_dgs_analyse")
    steps = dict(scenarios.SCENARIOS["impact_sanitaire"].steps)
    for spec_name in ("p4_choix", "p4_analyse"):
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, steps[spec_name], scenarios.actor_for(row))
    workflow = _a_thousand_support_iterations(dossier, clock)
    assert sorted(t.task_spec.name for t in runtime.ready_user_tasks(workflow)) == ["p3_dgs_analyse", "p4_accompagner"]
    # The DGS answers at last; the dossier goes on to its closure.
    for spec_name, data in [("p3_dgs_analyse", steps["p3_dgs_analyse"]), ("p4_accompagner", scenarios.SUIVI_FIN),
                            ("p4_fin_structure", scenarios.FIN_STRUCTURE)] + scenarios.CLOSING:
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    db.session.refresh(dossier)
    assert dossier.state == "clôturé"
    assert db.session.get(ProcessInstance, dossier.instance_id).status == "completed"
    assert verifier.verify_dossier(dossier).ok


def test_information_request_loop_many_times(app, clock):
    """The qualification loop with the declarant (requests for information) also runs indefinitely."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    for _ in range(300):
        clock.advance(minutes=5)
        row = scenarios.ready_task(dossier, "p3_qualifier")
        commands.complete_task(row.id, scenarios.qualification("grave", info=True), scenarios.actor_for(row))
        row = scenarios.ready_task(dossier, "p3_complement")
        commands.complete_task(row.id, {"reponse_informations": "Précisions"}, scenarios.actor_for(row))
    row = scenarios.ready_task(dossier, "p3_qualifier")
    commands.complete_task(row.id, scenarios.qualification("grave"), scenarios.actor_for(row))
    assert scenarios.ready_task(dossier, "p4_choix").role == "ars"
    assert len(db.session.get(ProcessInstance, dossier.instance_id).state_json) < 40_000


@pytest.mark.parametrize("source", [
    "__import__('os').system('id')", "().__class__.__bases__", "import os", "open('/etc/passwd')",
    "[c for c in ().__class__.__mro__]", "exec('1')", "eval('1')", "globals()", "getattr(1, 'real')",
])
def test_expressions_cannot_escape(source):
    env = expressions.RestrictedEnvironment()
    with pytest.raises(expressions.ExpressionRefused) as excinfo:
        env.evaluate(source, {})
    assert str(excinfo.value).startswith("Expression refusée : ")


def test_expressions_evaluate_task_data():
    env = expressions.RestrictedEnvironment()
    assert env.evaluate('qualification == "grave" and len(types) == 2', {"qualification": "grave", "types": [1, 2]})
    context = {"bascule": {"qualification": "significatif"}}
    env.execute('qualification = bascule["qualification"]', context)
    assert context["qualification"] == "significatif"


def test_a_failing_handler_rolls_back_the_whole_command(app, clock, monkeypatch):
    import handlers
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    before = db.session.get(ProcessInstance, dossier.instance_id)
    state, seq = before.state_json, before.last_seq
    outbox_count = db.session.scalar(select(func.count()).select_from(OutboxMessage))

    def broken(ctx, data, **params):
        raise RuntimeError("serveur d'annuaire injoignable")
    monkeypatch.setitem(handlers.HANDLERS, "notifier", broken)
    row = scenarios.ready_task(dossier, "p3_qualifier")
    with pytest.raises(HandlerError) as excinfo:
        commands.complete_task(row.id, scenarios.qualification("grave"), scenarios.actor_for(row))
    assert "serveur d'annuaire injoignable" in excinfo.value.message
    assert "NameError" not in excinfo.value.message
    db.session.expire_all()
    after = db.session.get(ProcessInstance, dossier.instance_id)
    assert (after.state_json, after.last_seq) == (state, seq)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == outbox_count
    assert db.session.get(TaskRow, row.id).status == "ready"


def test_invalid_form_data_is_refused_in_french_and_nothing_changes(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    row = scenarios.ready_task(dossier, "p3_qualifier")
    seq = db.session.get(ProcessInstance, dossier.instance_id).last_seq
    with pytest.raises(form_schemas.FormErrors) as excinfo:
        commands.complete_task(row.id, {"qualification": "catastrophique"}, scenarios.actor_for(row))
    assert excinfo.value.status == 422
    assert excinfo.value.errors["qualification"]
    assert "obligatoire" in excinfo.value.errors["analyse_qualification"]
    assert db.session.get(ProcessInstance, dossier.instance_id).last_seq == seq


def test_wrong_actor_is_refused(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    row = scenarios.ready_task(dossier, "p4_choix")
    other_ars = context.Actor("ars.grandest@ars.example.fr", "ars", region="Grand Est")
    with pytest.raises(EngineError) as excinfo:
        commands.complete_task(row.id, {"modalite_appui": "confier_acss"}, other_ars)
    assert excinfo.value.status == 403
    acss = context.Actor("analyste@acss.example.fr", "acss")
    with pytest.raises(EngineError):
        commands.complete_task(row.id, {"modalite_appui": "confier_acss"}, acss)


def test_completed_task_answers_conflict(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    row = scenarios.ready_task(dossier, "p4_choix")
    actor = scenarios.actor_for(row)
    commands.complete_task(row.id, {"modalite_appui": "confier_acss"}, actor)
    with pytest.raises(Conflict) as excinfo:
        commands.complete_task(row.id, {"modalite_appui": "confier_acss"}, actor)
    assert excinfo.value.status == 409 and "déjà" in excinfo.value.message


def test_two_concurrent_commands_on_one_instance(app, clock):
    """Both analysts submit at once: exactly one wins, the other gets a clear conflict, never a 500."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    actor = scenarios.actor_for(row)
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt():
        with app.app_context():
            barrier.wait()
            try:
                commands.complete_task(row.id, {"declaration_recuperee": True, "analyste_referent": "A"}, actor)
                outcomes.append("ok")
            except Conflict:
                outcomes.append("conflict")
            except Exception as exc:  # anything else is a defect
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()
    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["conflict", "ok"], outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.instance_id == dossier.instance_id,
                                    AuditEvent.payload["spec"].as_string() == "p2_ouvrir")) == 1


def test_definitions_are_versioned_by_content(app, clock, tmp_path):
    first = deployment.latest_definition()
    assert deployment.deploy(app.config["PROCESS_FILE"]).id == first.id  # same content, same version
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    changed = tmp_path / "v2.bpmn"
    xml = Path(app.config["PROCESS_FILE"]).read_text(encoding="utf-8")
    changed.write_text(xml.replace("Qualifier l'incident (tâche A)", "Qualifier le signalement (tâche A)"),
                       encoding="utf-8")
    second = deployment.deploy(changed)
    assert second.id != first.id and second.content_hash != first.content_hash
    # The running dossier stays on its version; a new one starts on the new version.
    row = scenarios.ready_task(dossier, "p3_qualifier")
    assert row.title == "Qualifier l'incident (tâche A)"
    commands.complete_task(row.id, scenarios.qualification("grave"), scenarios.actor_for(row))
    assert db.session.get(ProcessInstance, dossier.instance_id).definition_id == first.id
    newer, _ = scenarios.run("b1", clock, until="p3_qualifier")
    assert db.session.get(ProcessInstance, newer.instance_id).definition_id == second.id
    assert scenarios.ready_task(newer, "p3_qualifier").title == "Qualifier le signalement (tâche A)"


def test_timer_rows_follow_the_process(app, clock):
    dossier = _dossier_in_support(clock)
    timer = db.session.scalar(select(Timer).where(Timer.instance_id == dossier.instance_id,
                                                  Timer.status == "pending"))
    assert timer.spec_name == "p4_hebdo"
    assert timer.due_at == clock.now() + timedelta(days=7)
    row = scenarios.ready_task(dossier, "p4_accompagner")
    commands.complete_task(row.id, scenarios.SUIVI_CONTINUE, scenarios.actor_for(row))
    db.session.refresh(timer)
    assert timer.status == "cancelled"  # the report came in time: this week's timer is void
    pending = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id,
                                                     Timer.status == "pending")).all()
    assert len(pending) == 1 and pending[0].due_at == clock.now() + timedelta(days=7)


def test_sqlite_durability_settings(app, backend):
    if backend != "sqlite":
        assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
        return
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_dossier_numbers_are_sequential_per_year(app, clock):
    first, _ = scenarios.run("b1", clock, until="p1_impact")
    second, _ = scenarios.run("b1", clock, until="p1_impact")
    assert first.number == "SSI-2026-00001" and second.number == "SSI-2026-00002"
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 2


def test_numbers_taken_at_once_are_consecutive_and_a_rollback_gives_its_number_back(app, clock):
    """Three transactions number at once: the first holds its number while the others wait for the counter's row,
    then gives it back (rollback); the two others take consecutive numbers, the first of them the one given back."""
    assert numbering.next_number(clock.now()) == "SSI-2026-00001"  # the year's first: the row is made
    db.session.commit()
    taken, holding, release = [], threading.Event(), threading.Event()

    def first():
        with app.app_context():
            try:
                taken.append(("rolled back", numbering.next_number(clock.now())))
                holding.set()
                release.wait(30)
                db.session.rollback()
            finally:
                db.session.remove()

    def other():
        with app.app_context():
            try:
                holding.wait(30)
                number = numbering.next_number(clock.now())
                db.session.commit()
                taken.append(("committed", number))
            finally:
                db.session.remove()
    threads = [threading.Thread(target=first)] + [threading.Thread(target=other) for _ in range(2)]
    for thread in threads:
        thread.start()
    holding.wait(30)
    time.sleep(0.3)  # the others reach the counter's row and wait (SQLite: for the database's write lock)
    assert [kind for kind, _ in taken] == ["rolled back"]
    release.set()
    for thread in threads:
        thread.join(60)
    assert taken[0] == ("rolled back", "SSI-2026-00002")
    assert sorted(number for kind, number in taken[1:]) == ["SSI-2026-00002", "SSI-2026-00003"]
    db.session.expire_all()
    assert db.session.execute(text("SELECT value FROM counters WHERE name = 'dossier-2026'")).scalar() == 3


def test_a_timer_that_failed_for_good_is_not_inserted_again(app, clock):
    """The sweep gave up on a timer the engine still waits on; other commands must keep working."""
    dossier, _ = scenarios.run("impact_sanitaire", clock, until="p3_dgs_analyse")
    for spec_name, data in [("p4_choix", {"modalite_appui": "confier_acss"}), ("p4_analyse", scenarios.ANALYSE)]:
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    timer = db.session.scalar(select(Timer).where(Timer.instance_id == dossier.instance_id))
    timer.status = "failed"
    db.session.commit()
    row = scenarios.ready_task(dossier, "p3_dgs_analyse")  # the DGS works in parallel meanwhile
    commands.complete_task(row.id, {"analyse_impact_patients": "Aucun retard de prise en charge"},
                           scenarios.actor_for(row))
    rows = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id)).all()
    assert [(r.task_id, r.status) for r in rows] == [(timer.task_id, "failed")]


def _changed_definition(app, tmp_path, old: str, new: str):
    xml = Path(app.config["PROCESS_FILE"]).read_text(encoding="utf-8")
    assert old in xml
    path = tmp_path / "v2.bpmn"
    path.write_text(xml.replace(old, new), encoding="utf-8")
    return deployment.deploy(path)


def test_a_running_dossier_migrates_to_a_new_version_and_replays(app, clock, tmp_path, runner):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    first = deployment.latest_definition()
    second = _changed_definition(app, tmp_path, "Choisir la modalité d'appui au traitement",
                                 "Choisir la modalité d'appui (ARS)")
    result = runner.invoke(args=["migrate-dossier", dossier.number])
    assert result.exit_code == 0, result.output
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert instance.definition_id == second.id
    row = scenarios.ready_task(dossier, "p4_choix")
    assert row.title == "Choisir la modalité d'appui (ARS)"  # the open task took the new name
    last = events(dossier)[-1]
    assert last.command == "migration" and last.payload["from_definition"] == first.id
    commands.complete_task(row.id, {"modalite_appui": "confier_acss"}, scenarios.actor_for(row))
    assert verifier.verify_dossier(dossier).ok  # replay switches version at the migration event
    again = runner.invoke(args=["migrate-dossier", dossier.number])
    assert again.exit_code != 0 and "déjà sur cette version" in again.output


def test_a_migration_that_would_lose_the_dossier_is_refused(app, clock, tmp_path):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    seq = db.session.get(ProcessInstance, dossier.instance_id).last_seq
    target = _changed_definition(app, tmp_path, "p4_choix", "p4_decision_ars")  # the element is renamed
    with pytest.raises(EngineError) as excinfo:
        commands.migrate_dossier(dossier, target, context.Actor("x", "responsable_processus"))
    assert excinfo.value.status == 409 and "p4_choix" in excinfo.value.message
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert instance.last_seq == seq and instance.definition_id != target.id


def test_deploying_an_invalid_bpmn_is_a_clear_error(app, tmp_path):
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<bpmn:definitions", encoding="utf-8")
    with pytest.raises(EngineError) as excinfo:
        deployment.deploy(broken)
    assert excinfo.value.status == 422 and "BPMN" in excinfo.value.message
    xml = Path(app.config["PROCESS_FILE"]).read_text(encoding="utf-8")
    duplicated = tmp_path / "duplicated.bpmn"
    duplicated.write_text(xml.replace('id="p4_choix"', 'id="p4_analyse"'), encoding="utf-8")
    with pytest.raises(EngineError) as excinfo:
        deployment.deploy(duplicated)
    assert excinfo.value.status == 422
    assert db.session.scalar(select(func.count()).select_from(ProcessDefinition)) == 1


@pytest.mark.parametrize("old, new", [
    ('impact_soins != "aucun"', "__import__('os').system('id') or True"),
    ('qualification = bascule["qualification"]', "import os"),
    ("value=\"['fssi']\"", "value=\"().__class__.__bases__\""),
])
def test_deploying_a_bpmn_with_an_unsafe_expression_is_refused(app, tmp_path, old, new):
    xml = Path(app.config["PROCESS_FILE"]).read_text(encoding="utf-8")
    assert old in xml
    path = tmp_path / "unsafe.bpmn"
    path.write_text(xml.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(EngineError) as excinfo:
        deployment.deploy(path)
    assert excinfo.value.status == 422 and "élément" in excinfo.value.message
    assert db.session.scalar(select(func.count()).select_from(ProcessDefinition)) == 1


def test_task_ids_are_uuid5_of_the_command():
    """The ids a command gives its tasks are uuid.uuid5(namespace of the instance and sequence, str(n)), as they
    have been since the first stored state: computed faster, they must stay the same ids, equal and hashed alike."""
    for key, seq in (("1", 1), ("4242", 17), ("abc", 3)):
        source = clockhooks.id_source(key, seq)
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"signalement-ssi:{key}:{seq}")
        for n in range(1, 500):
            made, expected = source(), uuid.uuid5(namespace, str(n))
            assert (made, str(made), hash(made), made.version, made.variant, made.is_safe) == \
                (expected, str(expected), hash(expected), 5, uuid.RFC_4122, expected.is_safe)
