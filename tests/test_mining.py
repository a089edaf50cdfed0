"""Process mining that fits: the exported log of every named scenario replays on the BPMN with fitness 1.0."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta

import pm4py
import pytest
from lxml import etree
from pm4py.objects.conversion.bpmn import converter as bpmn_converter
from pm4py.objects.petri_net.obj import Marking, PetriNet
from pm4py.objects.petri_net.utils.petri_utils import add_arc_from_to
from sqlalchemy import select

from audit import bpmn_paths, mining
from cli import scenarios
from models import Dossier, ProcessDefinition, TaskRow, User, db
from test_web_support import ACSS, login, post, user
from workflow import claims, commands

# pm4py suggests an optional faster XES reader; the one it ships reads these logs.
pytestmark = pytest.mark.filterwarnings("ignore:Install the optional requirement")


def _petri_net(bpmn_xml: str, bpmn_path: str):
    """The shipped BPMN as pm4py converts it, its transitions labelled with the export's activity names.

    `pm4py.convert_to_petri_net` labels tasks only and merges the silent transitions of events away, so
    its converter is called with element ids as labels, then ids become activities and gateways silent. pm4py leaves boundary events out: the interrupting timer `p4_hebdo` is added
    as a transition that takes the token of the task it is attached to, while that task waits.
    """
    names = bpmn_paths.activity_names(bpmn_xml)
    net, initial, final = bpmn_converter.apply(pm4py.read_bpmn(bpmn_path), parameters={"use_id": True})
    transitions = {transition.name: transition for transition in net.transitions}
    for transition in net.transitions:
        if transition.label is not None:
            transition.label = names.get(transition.label)
    timer = PetriNet.Transition("p4_hebdo", names["p4_hebdo"])
    net.transitions.add(timer)
    (task,) = [arc.source for arc in transitions["p4_accompagner"].in_arcs]
    (after,) = [arc.source for arc in transitions["p4_point_hebdo"].in_arcs]
    add_arc_from_to(task, timer, net)
    add_arc_from_to(timer, after, net)
    return net, initial, next(iter(final))


def _finish_with_weekly_timer(clock, dossier: Dossier) -> None:
    """The dossier left at p4_analyse by grave_4bis_similaire: support interrupted by the weekly timer, then closed."""
    steps = [("p4_analyse", scenarios.ANALYSE)] + scenarios.SUPPORT_END + scenarios.CLOSING
    for index, (spec_name, data) in enumerate(steps):
        clock.advance(minutes=20)
        row = scenarios.ready_task(dossier, spec_name)
        actor = scenarios.actor_for(row)
        if row.role != "declarant":
            assert claims.claim(row.id, actor.user_id)
            db.session.commit()
        if index == 1:  # the analyst holds « Accompagner la structure » when a week passes without a point
            assert scenarios.advance(clock, timedelta(days=8)) == 1
            row = scenarios.ready_task(dossier, spec_name)
        clock.advance(minutes=10)
        commands.complete_task(row.id, data, actor)


def _traces(xes: bytes) -> dict:
    """{case: [(activity, lifecycle, timestamp, element)]} read back from the XES text."""
    traces = {}
    for trace in etree.fromstring(xes).iter("{%s}trace" % mining.XES_NS):
        values = [{a.get("key"): a.get("value") for a in event} for event in trace.iter("{%s}event" % mining.XES_NS)]
        case = trace.find("{%s}string[@key='concept:name']" % mining.XES_NS).get("value")
        traces[case] = [(v["concept:name"], v["lifecycle:transition"], v["time:timestamp"], v["element"])
                        for v in values]
    return traces


def test_every_scenario_replays_on_the_bpmn_with_fitness_one(app, clock, runner, tmp_path):
    dossiers = {name: scenarios.run(name, clock)[0] for name in scenarios.SCENARIOS}
    earlier = db.session.scalar(select(Dossier).where(Dossier.state != "clôturé", Dossier.military.is_(False)))
    _finish_with_weekly_timer(clock, earlier)
    path = tmp_path / "journal.xes"
    assert runner.invoke(args=["audit", "export", "--format", "xes", "-o", str(path)]).exit_code == 0
    xes = path.read_bytes()
    definition = db.session.scalar(select(ProcessDefinition))
    net, initial, sink = _petri_net(definition.bpmn_xml, app.config["PROCESS_FILE"])

    log = pm4py.read_xes(str(path))
    assert set(log["lifecycle:transition"]) == {"schedule", "assign", "start", "complete", "ate_abort"}
    completed = pm4py.convert_to_event_log(log[log["lifecycle:transition"] == "complete"])
    # BPMN ends a case when its last token is consumed (implicit termination); pm4py's conversion sends
    # every end event to one sink place, so a case whose parallel branch ends on its own end event (the
    # DGS's impact analysis, p3_dgs_end) finishes with two tokens there. The accepting marking is the sink
    # with one token per end event the case reached: an end event missing from, or added to, a trace
    # still leaves tokens behind or missing. Token-based replay then represents every construct the
    # scenarios take (exclusive and parallel gateways, loops, the boundary timer), so no alignment is needed.
    ends = {name for element, name in bpmn_paths.activity_names(definition.bpmn_xml).items()
            if element.endswith("_end")}
    by_end_count = defaultdict(list)
    for trace in completed:
        by_end_count[sum(event["concept:name"] in ends for event in trace)].append(trace)
    fitness = {}
    for count, traces in by_end_count.items():
        results = pm4py.conformance_diagnostics_token_based_replay(
            pm4py.objects.log.obj.EventLog(traces), net, initial, Marking({sink: count}))
        fitness.update({t.attributes["concept:name"]: r["trace_fitness"] for t, r in zip(traces, results)})
    assert {name: fitness[d.number] for name, d in dossiers.items()} == {name: 1.0 for name in dossiers}
    assert fitness[earlier.number] == 1.0 and len(fitness) == len(dossiers) + 1
    assert by_end_count.keys() == {1, 2}  # the B3 case ends twice, the others once

    traces = _traces(xes)
    _assert_distinct_activities(traces, definition.bpmn_xml)
    _assert_lifecycle_of_user_tasks(traces, earlier)
    _assert_csv_matches(runner, traces)


def _assert_distinct_activities(traces: dict, bpmn_xml: str) -> None:
    """One activity per BPMN element, names shared in the BPMN disambiguated; service tasks and events in."""
    pairs = {(activity, element) for events in traces.values() for activity, _, _, element in events}
    assert len({a for a, _ in pairs}) == len({e for _, e in pairs}) == len(pairs)
    activities = dict((e, a) for a, e in pairs)
    assert activities["p3_b1_ars"] == "Informer l'ARS de la qualification (p3_b1_ars)"
    assert activities["p3_ars"] == "Informer l'ARS de la qualification (p3_ars)"
    assert activities["p2_ar"] != activities["mil_ar"]
    assert activities["p1_start"] == "Incident de sécurité constaté"
    assert activities["p4_hebdo"] == "Une semaine sans point d'avancement"
    kinds = bpmn_paths._bpmn_index(bpmn_xml)[2]
    assert {kinds[e] for e in activities} == {"userTask", "serviceTask", "startEvent", "endEvent", "boundaryEvent"}


def _assert_lifecycle_of_user_tasks(traces: dict, earlier: Dossier) -> None:
    """schedule, (assign,) start, complete with the task rows' offer, claim and completion times."""
    rows = db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == earlier.id).order_by(TaskRow.created_at))
    events = traces[earlier.number]
    for row in rows:
        mine = [(lifecycle, at) for _, lifecycle, at, element in events if element == row.spec_name]
        iso = mining._iso
        assert ("schedule", iso(row.created_at)) in mine
        if row.role == "declarant":
            assert row.claimed_at is None and ("start", iso(row.created_at)) in mine
        else:
            assert ("assign", iso(row.claimed_at)) in mine and ("start", iso(row.claimed_at)) in mine
        assert (("complete", iso(row.completed_at)) in mine) == (row.status == "completed")
    # The weekly timer interrupts the claimed task; the task comes back assigned to the same analyst.
    support = [(lifecycle, element) for _, lifecycle, _, element in events
               if element in ("p4_accompagner", "p4_hebdo")]
    assert support[:6] == [("schedule", "p4_accompagner"), ("assign", "p4_accompagner"),
                           ("start", "p4_accompagner"), ("ate_abort", "p4_accompagner"),
                           ("complete", "p4_hebdo"), ("schedule", "p4_accompagner")]
    assert support[6] == ("assign", "p4_accompagner")
    for events in traces.values():
        assert [at for _, _, at, _ in events] == sorted(at for _, _, at, _ in events)


def _assert_csv_matches(runner, traces: dict) -> None:
    """The CSV export holds the same events, with the same activity names, in the same order."""
    output = runner.invoke(args=["audit", "export", "--format", "csv"]).output
    rows = defaultdict(list)
    for line in csv.DictReader(io.StringIO(output)):
        rows[line["case:concept:name"]].append((line["concept:name"], line["lifecycle:transition"],
                                                line["time:timestamp"], line["element"]))
    assert dict(rows) == traces


def test_claim_times_follow_the_inbox(app, clock, client):
    """« Prendre » records when; taking one's own task again keeps it; « Libérer » clears it; a take-over renews it."""
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    analyst = user(ACSS)
    login(client, ACSS)
    taken_at = clock.now()
    assert post(client, f"/taches/{row.id}/prendre").status_code == 302
    clock.advance(minutes=5)
    assert post(client, f"/taches/{row.id}/prendre").status_code == 302
    db.session.refresh(row)
    assert (row.claimed_by, row.claimed_at) == (analyst.id, taken_at)
    assert post(client, f"/taches/{row.id}/liberer").status_code == 302
    db.session.refresh(row)
    assert (row.claimed_by, row.claimed_at) == (None, None)
    colleague = User(email="collegue@acss.example.fr", name="Collègue", password_hash="x", role="acss")
    db.session.add(colleague)
    db.session.commit()
    assert claims.claim(row.id, colleague.id)
    clock.advance(minutes=5)
    assert not claims.claim(row.id, analyst.id)
    assert claims.claim(row.id, analyst.id, take_over=True)
    db.session.commit()
    db.session.refresh(row)
    assert (row.claimed_by, row.claimed_at) == (analyst.id, clock.now())
    exported = [(r["lifecycle"], r["timestamp"]) for r in mining.activity_events(dossier) if r["element"] == "p2_ouvrir"]
    assert exported == [("schedule", row.created_at), ("assign", clock.now()), ("start", clock.now())]
