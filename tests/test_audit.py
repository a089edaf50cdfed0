"""Audit: replay reproduces every stored state, tampering is detected at the right step, CLI, exports."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import JSON, bindparam, select, text
from sqlalchemy.exc import DBAPIError

from audit import bpmn_paths, hash_chain, mining, replayer, verifier
from cli import scenarios
from engine import compaction, serialization
from engine.errors import EngineError
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, TaskRow, UTCDateTime, db
from tampering import guard_lifted
from workflow import commands, event_chain


def _instance(dossier: Dossier) -> ProcessInstance:
    return db.session.get(ProcessInstance, dossier.instance_id)


def _assert_replay_matches(dossier: Dossier) -> int:
    """Replay a dossier and compare every step with its recorded event; return the step count."""
    instance = _instance(dossier)
    events = hash_chain.events_of(instance.id)
    steps = list(replayer.replay(instance, events, check=False, summarize=False))
    assert len(steps) == len(events) == instance.last_seq
    for snapshot, event in zip(steps, events):
        assert snapshot.state_hash == event.state_hash, f"{dossier.number} étape {event.seq}"
        assert snapshot.visited_step == event.visited, f"{dossier.number} étape {event.seq}"
    assert steps[-1].state_json == instance.state_json
    assert serialization.sha256(instance.state_json) == instance.state_hash == events[-1].state_hash
    result = verifier.verify_dossier(dossier)
    assert result.ok, result.message
    return len(steps)


# --------------------------------------------------------------------------------------------
# (a) every scenario path replays exactly, on both backends

@pytest.mark.parametrize("name", list(scenarios.SCENARIOS))
def test_replay_reproduces_every_step_of_every_scenario(app, clock, name):
    dossier, results = scenarios.run(name, clock)
    # Journal entries (the indicators some scenarios record) are steps of the chain, not of the scenario.
    journal = sum(e.command == "journal" for e in hash_chain.events_of(dossier.instance_id))
    assert _assert_replay_matches(dossier) == len(results) + journal
    # The scenario that starts with another dossier: every dossier of the database verifies.
    assert all(r.ok for r in verifier.verify_all())


def test_replay_with_weekly_timers_and_info_loop(app, clock):
    """Timer firings (the weekly point) are commands too and replay to the same state."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    fired = scenarios.advance(clock, timedelta(days=15))
    assert fired == 2
    events = hash_chain.events_of(dossier.instance_id)
    assert [e.command for e in events[-2:]] == ["timer", "timer"]
    assert events[-1].visited[0] == "p4_hebdo"
    for spec_name, data in scenarios.SUPPORT_END + scenarios.CLOSING:
        clock.advance(hours=2)
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    _assert_replay_matches(dossier)


def test_state_at_step_shows_what_was_known(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock)
    first = replayer.state_at(dossier, 1)
    assert first.event.command == "start"
    assert [t["element"] for t in first.open_tasks] == ["p1_perimetre"]
    assert "titre" not in first.data and first.data["dossier"]["numero"] == dossier.number
    events = hash_chain.events_of(dossier.instance_id)
    form_step = next(e.seq for e in events if e.visited and e.visited[0] == "p1_formulaire")
    before, after = replayer.state_at(dossier, form_step - 1), replayer.state_at(dossier, form_step)
    assert after.data["titre"] == scenarios.formulaire()["titre"]
    changes = {c["chemin"]: c for c in replayer.data_diff(before.data, after.data)}
    assert changes["titre"]["type"] == "ajout"
    assert changes["besoin_aide_urgente"]["apres"] is False
    assert "structure.nom" not in changes
    last = replayer.state_at(dossier, len(events))
    assert last.completed and last.open_tasks == []
    assert last.visited[-1] == "End" or "p6_end" in last.visited
    with pytest.raises(EngineError):
        replayer.state_at(dossier, len(events) + 1)


def test_taken_flows_follow_the_bpmn(app, clock):
    dossier, _ = scenarios.run("b1", clock)
    definition = db.session.get(ProcessDefinition, _instance(dossier).definition_id)
    last = replayer.state_at(dossier, len(hash_chain.events_of(dossier.instance_id)))
    flows = bpmn_paths.taken_flows(definition.bpmn_xml, last.visited)
    root = etree.fromstring(definition.bpmn_xml.encode())
    by_id = {f.get("id"): (f.get("sourceRef"), f.get("targetRef"))
             for f in root.iter("{%s}sequenceFlow" % bpmn_paths.BPMN_NS)}
    assert flows and all(f in by_id for f in flows)
    assert by_id[flows[0]] == ("p1_start", "p1_perimetre")
    # B1 never reaches phase 4.
    assert not any(by_id[f][1].startswith("p4") for f in flows)
    # At step 1 the token waits on the first task: the flow it arrived by counts as taken.
    first = replayer.state_at(dossier, 1)
    assert first.active == ["p1_perimetre"]
    assert bpmn_paths.taken_flows(definition.bpmn_xml, first.visited) == []
    assert [by_id[f] for f in bpmn_paths.taken_flows(definition.bpmn_xml, first.visited, first.active)] == [
        ("p1_start", "p1_perimetre")]


# --------------------------------------------------------------------------------------------
# (c) tampering, the attacker using raw SQL (no ORM), one change per fresh dossier

STEP = 5  # a completed user task in the middle of the history


def _raw(sql: str, **params):
    statement = text(sql)
    types = {"at": UTCDateTime(), "payload": JSON()}
    statement = statement.bindparams(*[bindparam(k, type_=types[k]) for k in params if k in types])
    with guard_lifted():
        db.session.execute(statement, params)


def _event_row(instance_id: int, seq: int) -> dict:
    row = db.session.execute(text("SELECT id, payload, at FROM audit_events WHERE instance_id = :i AND seq = :s"),
                             {"i": instance_id, "s": seq}).one()
    return {"id": row[0], "payload": json.loads(row[1]) if isinstance(row[1], str) else row[1]}


def _rechain_from(instance_id: int, seq: int) -> None:
    """The clever attacker: recompute hashes and links after the edit, so only replay can tell."""
    db.session.expire_all()
    events = hash_chain.events_of(instance_id)
    prev = events[seq - 2].hash if seq > 1 else event_chain.GENESIS_HASH
    with guard_lifted():
        for event in events[seq - 1:]:
            event.prev_hash = prev
            new_hash = event_chain.event_hash(event)
            db.session.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                               {"p": prev, "h": new_hash, "id": event.id})
            prev = new_hash


def _tamper_data(instance_id):
    row = _event_row(instance_id, STEP)
    payload = row["payload"]
    assert payload["data"], "the tampered step must carry submitted data"
    key = sorted(payload["data"])[0]
    payload["data"][key] = "valeur falsifiée"
    _raw("UPDATE audit_events SET payload = :payload WHERE id = :id", payload=payload, id=row["id"])


def _tamper_time(instance_id):
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.seq == STEP))
    _raw("UPDATE audit_events SET at = :at WHERE id = :id", at=event.at - timedelta(minutes=7), id=event.id)


def _tamper_order(instance_id):
    for old, new in ((STEP, -1), (STEP + 1, STEP), (-1, STEP + 1)):
        _raw("UPDATE audit_events SET seq = :new WHERE instance_id = :i AND seq = :old", new=new, old=old,
             i=instance_id)


def _tamper_delete(instance_id):
    _raw("DELETE FROM audit_events WHERE instance_id = :i AND seq = :s", i=instance_id, s=STEP)


def _tamper_delete_last(instance_id):
    last = db.session.scalar(select(ProcessInstance.last_seq).where(ProcessInstance.id == instance_id))
    _raw("DELETE FROM audit_events WHERE instance_id = :i AND seq = :s", i=instance_id, s=last)


def _tamper_truncate_consistently(instance_id):
    """Cut the last event and roll the stored state back to the one before: the chain is consistent."""
    instance = db.session.get(ProcessInstance, instance_id)
    last = instance.last_seq
    previous = list(replayer.replay(instance, upto=last - 1, summarize=False))[-1]
    _raw("DELETE FROM audit_events WHERE instance_id = :i AND seq = :s", i=instance_id, s=last)
    _raw("UPDATE process_instances SET state_json = :s, state_hash = :h, last_seq = :n WHERE id = :i",
         s=previous.state_json, h=previous.state_hash, n=last - 1, i=instance_id)


def _stored_state(instance_id):
    state = db.session.execute(text("SELECT state_json FROM process_instances WHERE id = :i"),
                               {"i": instance_id}).scalar_one()
    assert "Veeam 12" in state
    return state.replace("Veeam 12", "Veeam 11")


def _tamper_state(instance_id):
    _raw("UPDATE process_instances SET state_json = :s WHERE id = :i", s=_stored_state(instance_id), i=instance_id)


def _tamper_state_and_hash(instance_id):
    state = _stored_state(instance_id)
    _raw("UPDATE process_instances SET state_json = :s, state_hash = :h WHERE id = :i", s=state,
         h=serialization.sha256(state), i=instance_id)


def _tamper_data_rechained(instance_id):
    _tamper_data(instance_id)
    _rechain_from(instance_id, STEP)


def _tamper_time_rechained(instance_id):
    _tamper_time(instance_id)
    _rechain_from(instance_id, STEP)


LAST = "last"
TAMPERINGS = {
    "donnees": (_tamper_data, STEP, "empreinte de l'événement"),
    "date": (_tamper_time, STEP, "empreinte de l'événement"),
    "ordre": (_tamper_order, STEP, "chaînage rompu"),
    "suppression": (_tamper_delete, STEP, "manquant"),
    "suppression_derniere": (_tamper_delete_last, LAST, "journal en contient"),
    "suppression_derniere_maquillee": (_tamper_truncate_consistently, LAST, "tâches accomplies"),
    "etat_stocke": (_tamper_state, LAST, "état stocké a été modifié"),
    "etat_stocke_et_empreinte": (_tamper_state_and_hash, LAST, "dernier événement"),
    "donnees_rechainees": (_tamper_data_rechained, STEP, "état rejoué diffère"),
    "date_rechainee": (_tamper_time_rechained, STEP, "état rejoué diffère"),
}


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_tampering_is_detected_at_the_right_step(app, clock, case):
    dossier, _ = scenarios.run("grave_acss", clock)
    other, _ = scenarios.run("b1", clock)
    number, instance_id = dossier.number, dossier.instance_id
    last_seq = _instance(dossier).last_seq
    assert verifier.verify_dossier(dossier).ok
    tamper, step, reason = TAMPERINGS[case]
    tamper(instance_id)
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == number))
    result = verifier.verify_dossier(dossier)
    assert not result.ok
    assert result.step == (last_seq if step == LAST else step), result.message
    assert reason in result.reason
    assert result.message.startswith(f"Dossier {number} : différence à l'étape {result.step} (")
    # The chain-only check (no replay) sees everything except a consistently rewritten chain.
    chain = verifier.verify_dossier(dossier, full=False)
    assert chain.ok == ("rechain" in case)
    # Other dossiers are untouched.
    results = {r.dossier: r for r in verifier.verify_all()}
    assert results[other.number].ok and not results[number].ok


def test_no_code_path_updates_or_deletes_events():
    """Append-only by construction: nothing in the application issues UPDATE/DELETE on audit events."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    packages = [d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and (d / "__init__.py").exists()
                and d.name != "tests"]
    paths = list(root.glob("*.py")) + [path for package in packages for path in package.glob("*.py")]
    assert len(paths) > 40 and any(path.parent.name == "workflow" for path in paths)
    offenders = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        for needle in ("update(AuditEvent", "delete(AuditEvent", "UPDATE audit_events", "DELETE FROM audit_events"):
            if needle in source:
                offenders.append(f"{path.name}: {needle}")
    assert offenders == []


def _b3_support_with_dgs_branch_open(clock, monkeypatch, incident_type: str):
    """A B3 dossier in weekly support while the DGS's parallel branch stays open: the shape of state
    where engine revisions 1 and 2 compact differently. (Each with its own incident type: an open
    dossier of the same type would be a similar incident and switch the next one to 4 bis.)"""
    scenario = scenarios.SCENARIOS["impact_sanitaire"]
    steps = [(name, scenarios.formulaire((incident_type,)) if name == "p1_formulaire" else data)
             for name, data in scenario.steps]
    monkeypatch.setitem(scenarios.SCENARIOS, "impact_sanitaire", dataclasses.replace(scenario, steps=steps))
    dossier, _ = scenarios.run("impact_sanitaire", clock, until="p3_dgs_analyse")
    steps = dict(steps)
    for spec_name, data in [("p4_choix", steps["p4_choix"]), ("p4_analyse", steps["p4_analyse"])] \
            + [("p4_accompagner", scenarios.SUIVI_CONTINUE)] * 3:
        clock.advance(hours=2)
        row = scenarios.ready_task(dossier, spec_name)
        commands.complete_task(row.id, data, scenarios.actor_for(row))
    return dossier


def test_each_instance_replays_with_the_engine_revision_it_ran_with(app, clock, monkeypatch):
    """History written before splicing existed (revision 1) still verifies; a revision changed in the
    database after the fact does not."""
    monkeypatch.setattr(compaction, "ENGINE_REVISION", 1)
    old = _b3_support_with_dgs_branch_open(clock, monkeypatch, "rancongiciel")
    monkeypatch.setattr(compaction, "ENGINE_REVISION", 2)
    row = scenarios.ready_task(old, "p4_accompagner")  # a command after the upgrade keeps revision 1
    commands.complete_task(row.id, scenarios.SUIVI_CONTINUE, scenarios.actor_for(row))
    new = _b3_support_with_dgs_branch_open(clock, monkeypatch, "hameconnage")
    revisions = {d.number: db.session.get(ProcessInstance, d.instance_id).engine_revision for d in (old, new)}
    assert revisions == {old.number: 1, new.number: 2}
    sizes = {d.number: len(db.session.get(ProcessInstance, d.instance_id).state_json) for d in (old, new)}
    assert sizes[new.number] < sizes[old.number]  # revision 2 keeps less
    assert verifier.verify_dossier(old).ok and verifier.verify_dossier(new).ok
    _raw("UPDATE process_instances SET engine_revision = 1 WHERE id = :i", i=new.instance_id)
    result = verifier.verify_dossier(db.session.get(Dossier, new.id))
    assert not result.ok and result.step is not None


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'quelqu''un' WHERE seq = 2",
                                       "DELETE FROM audit_events WHERE seq = 2"])
def test_the_database_refuses_edits_of_the_audit_log(app, clock, statement):
    """Append-only in the database too: UPDATE and DELETE fail, nothing changes, commands still append."""
    dossier, _ = scenarios.run("b1", clock)
    before = [(e.seq, e.actor, e.hash) for e in hash_chain.events_of(dossier.instance_id)]
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement))
    db.session.rollback()
    db.session.expire_all()
    assert [(e.seq, e.actor, e.hash) for e in hash_chain.events_of(dossier.instance_id)] == before
    assert verifier.verify_dossier(dossier).ok
    again, _ = scenarios.run("b1", clock)
    assert len(hash_chain.events_of(again.instance_id)) == len(before)


# --------------------------------------------------------------------------------------------
# (e) command line

def test_cli_verify_ok_and_tampered(app, clock, runner):
    dossier, _ = scenarios.run("grave_ars", clock)
    scenarios.run("b1", clock)
    result = runner.invoke(args=["audit", "verify", dossier.number])
    assert result.exit_code == 0, result.output
    assert "intègre" in result.output
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "2 dossiers vérifiés" in result.output
    _tamper_time(dossier.instance_id)
    result = runner.invoke(args=["audit", "verify", dossier.number])
    assert result.exit_code == 1
    assert f"Dossier {dossier.number} : différence à l'étape {STEP} (" in result.output
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"Dossier {dossier.number} : différence à l'étape {STEP}" in result.output
    assert "1 dossier sur 2 présente une différence" in result.output
    result = runner.invoke(args=["audit", "verify", "--chaine-seule"])
    assert result.exit_code == 1
    result = runner.invoke(args=["audit", "verify", "SSI-1999-99999"])
    assert result.exit_code == 1 and "introuvable" in result.output


def test_cli_replay_step(app, clock, runner):
    dossier, _ = scenarios.run("b1", clock)
    result = runner.invoke(args=["audit", "replay", dossier.number, "--step", "2"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert state["dossier"] == dossier.number and state["etape"] == 2
    assert state["visites_a_cette_etape"] == ["p1_perimetre"]
    assert [t["element"] for t in state["taches_ouvertes"]] == ["p1_impact"]
    assert state["donnees"]["perimetre"] == scenarios.PERIMETRE["perimetre"]
    result = runner.invoke(args=["audit", "replay", dossier.number, "--step", "99"])
    assert result.exit_code == 1 and "hors limites" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# (d) exports: pm4py reads the XES; the CSV carries the same events

def _expected_events(dossiers):
    """(events, activities, activity names of the BPMN): a completion per task or event visited; per task row
    its schedule and start, its assign when claimed, its ate_abort when interrupted."""
    total, names = 0, set()
    for dossier in dossiers:
        definition = db.session.get(ProcessDefinition, _instance(dossier).definition_id)
        activities = bpmn_paths.activity_names(definition.bpmn_xml)
        for event in hash_chain.events_of(dossier.instance_id):
            hits = [activities[v] for v in event.visited if v in activities]
            total += len(hits)
            names.update(hits)
        for row in db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id)):
            total += 2 + (row.claimed_at is not None) + (row.status == "cancelled")
    return total, names, activities


def test_xes_export_reads_in_pm4py(app, clock, runner, tmp_path):
    pm4py = pytest.importorskip("pm4py")
    for name in ("b1", "grave_acss", "significatif_crise"):
        scenarios.run(name, clock)
    dossiers = mining.dossiers_between()
    total, names, tasks = _expected_events(dossiers)
    path = tmp_path / "export.xes"
    result = runner.invoke(args=["audit", "export", "--format", "xes", "-o", str(path)])
    assert result.exit_code == 0, result.output
    log = pm4py.read_xes(str(path))
    assert log["case:concept:name"].nunique() == 3 == len(dossiers)
    assert len(log) == total
    assert set(log["case:concept:name"]) == {d.number for d in dossiers}
    assert set(log["concept:name"]) == names and names <= set(tasks.values())
    assert set(log["lifecycle:transition"]) == {"schedule", "assign", "start", "complete"}
    assert "declarant" in set(log["org:role"])
    # No personal data unless asked: resources are roles, never e-mail addresses.
    assert not any("@" in str(r) for r in log["org:resource"])
    first = log[log["case:concept:name"] == dossiers[0].number]
    assert first["time:timestamp"].is_monotonic_increasing
    assert first.iloc[0]["case:qualification"] == "non_incident"
    path2 = tmp_path / "perso.xes"
    runner.invoke(args=["audit", "export", "--personal-data", "-o", str(path2)])
    personal = pm4py.read_xes(str(path2))
    assert any("@" in str(r) for r in personal["org:resource"])


def test_export_period_and_csv(app, clock, runner):
    scenarios.run("b1", clock)                      # created 2026-03-02
    clock.set(scenarios.MONDAY_MORNING + timedelta(days=30))
    d2, _ = scenarios.run("militaire_sans_impact", clock)  # scenario resets its start date
    db.session.execute(text("UPDATE dossiers SET created_at = :c WHERE id = :i").bindparams(
        bindparam("c", type_=UTCDateTime())), {"c": scenarios.MONDAY_MORNING + timedelta(days=30), "i": d2.id})
    db.session.commit()
    result = runner.invoke(args=["audit", "export", "--format", "csv", "--from", "2026-03-01", "--to", "2026-03-02"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    header = lines[0].split(",")
    assert header[:6] == ["case:concept:name", "concept:name", "time:timestamp", "lifecycle:transition",
                          "org:resource", "org:role"]
    cases = {line.split(",")[0] for line in lines[1:]}
    assert cases == {"SSI-2026-00001"}
    total, _, _ = _expected_events(mining.dossiers_between(None, scenarios.MONDAY_MORNING + timedelta(days=1)))
    assert len(lines) - 1 == total
    xes = runner.invoke(args=["audit", "export", "--dossier", d2.number]).output
    root = etree.fromstring(xes.encode())
    traces = root.findall("{%s}trace" % mining.XES_NS)
    assert len(traces) == 1
    assert traces[0].find("{%s}string[@key='concept:name']" % mining.XES_NS).get("value") == d2.number
