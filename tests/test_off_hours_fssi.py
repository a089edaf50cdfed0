"""The FSSI's off-hours handling (instruction, 5; annex 1, phase 1): an urgent civil declaration made while the
Cellule ACSS is closed becomes a task of the permanent HFDS/FSSI, due within an hour of the clock, first in its
inbox, reminded at 30 minutes and escalated to the HFDS at 2 hours; the COSSI of the ANSSI is mailed when the FSSI
chooses so and only then; the Cellule ACSS's opening shows what the FSSI did; the declarant is told who handles
the request now and when the Cellule ACSS takes over. Working-hours and non-urgent declarations keep their path.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from lxml import etree
from sqlalchemy import select

from audit import verifier
from cli import scenarios
from engine import compaction
from models import AuditEvent, Dossier, OutboxMessage, ProcessInstance, TaskRow, Timer, db
from referentiel import PRIORITY_WEIGHTS, TASK_PRIORITY_WEIGHTS
from workflow import commands
from tests.test_web_support import ACSS, DECLARANT, HFDS, form_data, login, open_task, post

FSSI_MAILBOX = "ssi@sg.social.gouv.fr"
PROCESS = Path(__file__).resolve().parent.parent / "processes" / "signalement_incident_ssi.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC", "di": "http://www.omg.org/spec/DD/20100524/DI"}


def variant(name: str, base: str, start=None, steps=None, prefix=None):
    """Register a scenario derived from a named one (removed by the caller)."""
    scenario = scenarios.SCENARIOS[base]
    scenarios.SCENARIOS[name] = scenarios.Scenario(name, "", prefix or scenario.structure_finess_prefix,
                                                   start or scenario.start, steps or scenario.steps)


def run_variant(clock, name: str, base: str, until=None, **changes) -> Dossier:
    variant(name, base, **changes)
    try:
        dossier, _ = scenarios.run(name, clock, until=until)
    finally:
        del scenarios.SCENARIOS[name]
    return dossier


def messages(dossier: Dossier, kind: str) -> list[OutboxMessage]:
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                          OutboxMessage.kind == kind).order_by(OutboxMessage.id)).all()


def visited(dossier: Dossier) -> list[str]:
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                                .order_by(AuditEvent.seq)).all()
    return [element for event in events for element in event.visited]


def body(message: OutboxMessage) -> tuple[str, str]:
    return message.renderer(message)


def inbox_numbers(page: str) -> list[str]:
    table = page[page.index('<table id="boite">'):]
    return re.findall(r'class="numero"[^>]*>(SSI-[0-9-]+)<', table)


def test_the_fssi_gets_a_task_due_within_an_hour_first_in_its_inbox(app, client, clock):
    # Another HFDS task of a dossier with every dossier marker but off hours: urgent help, care, significatif.
    crisis_steps = [(spec, scenarios.formulaire(urgent=True) if spec == "p1_formulaire" else data)
                    for spec, data in scenarios.SCENARIOS["significatif_crise"].steps]
    crisis = run_variant(clock, "crise_urgente", "significatif_crise", until="p4bis_coordonner", steps=crisis_steps)
    assert open_task(crisis.id, "p4bis_coordonner").role == "hfds"
    night, _ = scenarios.run("hors_heures_cossi", clock, until="p1_fssi_traiter")
    night = db.session.get(Dossier, night.id)

    task = open_task(night.id, "p1_fssi_traiter")
    assert task.role == "hfds" and task.title == "Traiter le signalement hors heures ouvrées"
    # Its target is one hour of the clock, at night and on a Sunday (the Cellule ACSS is closed).
    assert task.due_at == task.created_at + timedelta(hours=1)
    assert task.created_at.isoweekday() in (6, 7)
    # The highest priority: the dossier's markers plus the task's own, above any dossier's markers.
    assert night.priority == PRIORITY_WEIGHTS["aide_urgente"] + PRIORITY_WEIGHTS["impact_soins"] + 1
    assert task.priority == night.priority + TASK_PRIORITY_WEIGHTS["traitement_hors_heures"]
    assert TASK_PRIORITY_WEIGHTS["traitement_hors_heures"] > sum(PRIORITY_WEIGHTS.values())
    assert crisis.priority > night.priority  # without its task's marker, the off-hours dossier would come second
    # The Cellule ACSS's opening is open too, due at its next working hours, with the dossier's priority only.
    opening = open_task(night.id, "p2_ouvrir")
    assert opening.priority == night.priority and opening.due_at > task.due_at
    # Its reminder and escalation wait: 30 minutes and 2 hours after the task appeared.
    dues = sorted(db.session.scalars(select(Timer.due_at).where(Timer.instance_id == night.instance_id,
                                                                 Timer.status == "pending")).all())
    assert dues == [task.created_at + timedelta(minutes=30), task.created_at + timedelta(hours=2)]

    login(client, HFDS)
    page = client.get("/boite").text
    numbers = inbox_numbers(page)
    assert numbers[0] == night.number and crisis.number in numbers
    page = client.get(f"/taches/{task.id}").text
    assert "Traiter le signalement hors heures ouvrées" in page
    assert "Rançongiciel, prise en charge des patients interrompue" in page  # the declaration, to act on
    [escalation] = messages(night, "escalade_hors_heures")
    assert escalation.recipients == [FSSI_MAILBOX]
    assert "La tâche « Traiter le signalement hors heures ouvrées » vous attend" in body(escalation)[0]


def test_reminder_then_escalation_when_nobody_hands_over(app, clock):
    night, _ = scenarios.run("hors_heures_cossi", clock, until="p1_fssi_traiter")
    task = open_task(night.id, "p1_fssi_traiter")
    assert scenarios.advance(clock, timedelta(minutes=29)) == 0 and messages(night, "relance_fssi") == []
    assert scenarios.advance(clock, timedelta(minutes=2)) == 1
    [reminder] = messages(night, "relance_fssi")
    assert reminder.recipients == [FSSI_MAILBOX] and reminder.subject.startswith("[URGENT] Relance")
    assert "Traiter le signalement hors heures ouvrées" in body(reminder)[0]
    assert open_task(night.id, "p1_fssi_traiter").id == task.id  # non-interrupting: the task stays
    assert messages(night, "escalade_fssi_hfds") == []
    assert scenarios.advance(clock, timedelta(minutes=90)) == 1
    [escalation] = messages(night, "escalade_fssi_hfds")
    assert escalation.recipients == ["hfds@sg.social.example.fr"]
    assert "toujours ouverte" in body(escalation)[0]
    assert open_task(night.id, "p1_fssi_traiter").id == task.id
    assert scenarios.advance(clock, timedelta(days=1)) == 0  # each fires once
    # Handed over late, after both timers: the completion goes through (the boundary events' split is kept
    # while the task is open, engine revision 3), the COSSI is alerted and the dossier's history verifies.
    commands.complete_task(task.id, scenarios.FSSI_COSSI, scenarios.actor_for(task))
    assert len(messages(night, "alerte_cossi")) == 1
    assert db.session.get(ProcessInstance, night.instance_id).engine_revision == compaction.ENGINE_REVISION == 3
    assert verifier.verify_dossier(db.session.get(Dossier, night.id)).ok


def test_handed_over_in_time_nothing_is_reminded_and_no_cossi_unless_chosen(app, clock):
    night, _ = scenarios.run("hors_heures", clock)  # the FSSI hands over within 30 minutes, without the COSSI
    assert "p1_fssi_traiter" in visited(night) and "p1_cossi" not in visited(night)
    assert messages(night, "alerte_cossi") == []
    assert db.session.scalar(select(Timer.id).where(Timer.instance_id == night.instance_id,
                                                    Timer.status == "pending", Timer.spec_name.like("p1_%"))) is None
    scenarios.advance(clock, timedelta(days=2))
    assert messages(night, "relance_fssi") == messages(night, "escalade_fssi_hfds") == []


def test_the_cossi_is_alerted_when_the_fssi_chooses_so(app, client, clock):
    night, _ = scenarios.run("hors_heures_cossi", clock, until="p1_fssi_traiter")
    task = open_task(night.id, "p1_fssi_traiter")
    login(client, HFDS)
    assert post(client, f"/taches/{task.id}/prendre").status_code == 302
    # Alerting the COSSI without a message for it is refused in French; nothing is lost or sent.
    refused = post(client, f"/taches/{task.id}", form_data(dict(scenarios.FSSI, alerter_cossi=True)))
    assert refused.status_code == 422 and "Message pour le COSSI" in refused.text
    assert messages(night, "alerte_cossi") == [] and open_task(night.id, "p1_fssi_traiter") is not None
    done = post(client, f"/taches/{task.id}", form_data(scenarios.FSSI_COSSI))
    assert done.status_code == 302 and open_task(night.id, "p1_fssi_traiter") is None
    [alert] = messages(night, "alerte_cossi")
    assert alert.recipients == ["cossi@ssi.example.fr"] and alert.recipient_roles == ["cossi"]
    text, html = body(alert)
    assert "Rançongiciel actif dans un CHU, soins interrompus" in text and "Isoler les serveurs touchés" in text
    assert "ssi@sg.social.gouv.fr" in text and "Message du FSSI" in html and alert.subject.startswith("[ALERTE]")
    assert "p1_cossi" in visited(night) and "p1_fssi_end" in visited(night)
    assert db.session.scalar(select(Timer.id).where(Timer.instance_id == night.instance_id,
                                                    Timer.status == "pending")) is None


def test_the_acss_opening_shows_what_the_fssi_did(app, client, clock):
    night, _ = scenarios.run("hors_heures_cossi", clock, until="p2_ouvrir")
    login(client, ACSS)
    opening = open_task(night.id, "p2_ouvrir")
    page = client.get(f"/taches/{opening.id}").text
    facts = page[page.index('id="titre-contexte"'):]
    for label, value in [("Hors heures ouvrées : actions menées par le permanent HFDS/FSSI", "Appel du RSSI à 23 h 10"),
                         ("Hors heures ouvrées : conseils donnés par le permanent HFDS/FSSI", "conserver les journaux"),
                         ("Hors heures ouvrées : COSSI de l&#39;ANSSI alerté", "Oui"),
                         ("Hors heures ouvrées : message adressé au COSSI", "soins interrompus"),
                         ("Hors heures ouvrées : note de transmission du permanent HFDS/FSSI", "stabilisée pour la nuit")]:
        assert label in facts and value in facts, label
    # A dossier without the FSSI's handling shows none of it.
    day, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    page = client.get(f"/taches/{open_task(day.id, 'p2_ouvrir').id}").text
    assert "Hors heures ouvrées" not in page


def test_the_acknowledgement_says_who_handles_it_now_and_when_the_acss_takes_over(app, client, clock):
    night, _ = scenarios.run("hors_heures_cossi", clock, until="p1_fssi_traiter")
    [ack] = messages(night, "accuse_reception")
    text, html = body(ack)
    expected = ("votre demande est traitée dès maintenant par le permanent HFDS/FSSI (ssi@sg.social.gouv.fr), qui "
                "peut vous contacter. La Cellule ACSS prend le relais à son ouverture, lundi 9 mars à 9 h (heure de "
                "Paris)")
    assert expected in " ".join(text.split()) and expected in " ".join(html.split())
    login(client, DECLARANT)
    page = client.get(f"/declarer/{night.id}/confirmation").text
    said = " ".join(page[page.index('id="prise-en-charge-urgente"'):].split())
    assert "traitée dès maintenant par <strong>le permanent HFDS/FSSI</strong>" in said
    assert "prend le relais à son ouverture, <strong>lundi 9 mars à 9 h</strong> (heure de Paris)" in said
    assert "vous recontacte en priorité" not in page


def test_working_hours_and_non_urgent_declarations_keep_their_path(app, client, clock):
    steps = scenarios.SCENARIOS["hors_heures_cossi"].steps[:4]
    daytime = run_variant(clock, "urgent_jour", "hors_heures_cossi", start=scenarios.MONDAY_MORNING, steps=steps)
    calm_steps = steps[:3] + [("p1_formulaire", scenarios.formulaire(urgent=False))]
    calm = run_variant(clock, "nuit_sans_urgence", "hors_heures_cossi", steps=calm_steps)
    for dossier in (daytime, calm):
        assert "p1_fssi_split" not in visited(dossier) and "p1_fssi_hno" not in visited(dossier)
        assert open_task(dossier.id, "p1_fssi_traiter") is None and open_task(dossier.id, "p2_ouvrir")
        text, _ = body(messages(dossier, "accuse_reception")[0])
        assert "permanent HFDS/FSSI" not in text
    assert db.session.get(Dossier, calm.id).off_hours is True
    login(client, DECLARANT)
    page = client.get(f"/declarer/{daytime.id}/confirmation").text
    assert "la Cellule ACSS vous recontacte en priorité" in page and "prise-en-charge-urgente" not in page


def test_a_military_hospital_off_hours_gets_the_fssi_mail_but_no_fssi_task(app, clock):
    steps = [(spec, scenarios.formulaire(urgent=True) if spec == "p1_formulaire" else data)
             for spec, data in scenarios.SCENARIOS["militaire_impact_soins"].steps[:4]]
    military = run_variant(clock, "militaire_nuit", "militaire_impact_soins", start=scenarios.SATURDAY_NIGHT,
                           steps=steps)
    path = visited(military)
    assert "p1_fssi_hno" in path and "p1_fssi_armees_end" in path and "p1_fssi_traiter" not in path
    [escalation] = messages(military, "escalade_hors_heures")
    assert "vous attend" not in body(escalation)[0]
    assert open_task(military.id, "mil_traiter") is not None
    assert db.session.scalar(select(TaskRow.id).where(TaskRow.dossier_id == military.id,
                                                      TaskRow.role == "hfds")) is None


def test_the_diagram_shows_the_fssi_handling_in_phase_1_beside_the_escalation_gateway():
    root = etree.parse(str(PROCESS)).getroot()

    def bounds(element_id):
        b = root.find(f".//bpmndi:BPMNShape[@bpmnElement='{element_id}']/dc:Bounds", NS)
        return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))

    values = {v.get("id"): v.get("value") for v in root.iterfind(".//bpmn:categoryValue", NS)}
    group = next(g.get("id") for g in root.iterfind(".//bpmn:group", NS)
                 if values[g.get("categoryValueRef")].startswith("Phase 1 :"))
    gx, gy, gw, gh = bounds(group)
    lane = root.find(".//bpmn:lane[@id='lane_hfds']", NS)
    in_lane = {ref.text for ref in lane.iterfind("bpmn:flowNodeRef", NS)}
    lx, ly, lw, lh = bounds("lane_hfds")
    new = ["p1_fssi_split", "p1_gw_fssi_civil", "p1_fssi_armees_end", "p1_fssi_traiter", "p1_fssi_rappel",
           "p1_fssi_relance", "p1_fssi_relance_end", "p1_fssi_escalade", "p1_fssi_escalade_hfds",
           "p1_fssi_escalade_end", "p1_gw_cossi", "p1_cossi", "p1_gw_cossi_fin", "p1_fssi_end"]
    for element in new:
        x, y, w, h = bounds(element)
        assert gx <= x and x + w <= gx + gw and gy <= y and y + h <= gy + gh, element  # inside phase 1
        assert element in in_lane and ly <= y and y + h <= ly + lh, element  # in the HFDS/FSSI lane
    # Beside the escalation gateway: its « Oui » leads to the FSSI's handling, drawn in full (every flow an edge).
    flow = root.find(".//bpmn:sequenceFlow[@sourceRef='p1_gw_hno'][@targetRef='p1_fssi_split']", NS)
    assert flow is not None and flow.get("name") == "Oui"
    flows = [f for f in root.iterfind(".//bpmn:sequenceFlow", NS)
             if f.get("sourceRef") in new or f.get("targetRef") in new]
    assert len(flows) == 14
    for f in flows:
        edge = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{f.get('id')}']", NS)
        assert edge is not None and len(edge.findall("di:waypoint", NS)) >= 2, f.get("id")
    # Reminder and escalation are non-interrupting timers on the task; the task quotes the instruction.
    for timer, duration in [("p1_fssi_rappel", '"PT30M"'), ("p1_fssi_escalade", '"PT2H"')]:
        event = root.find(f".//bpmn:boundaryEvent[@id='{timer}']", NS)
        assert event.get("attachedToRef") == "p1_fssi_traiter" and event.get("cancelActivity") == "false"
        assert event.find(".//bpmn:timeDuration", NS).text == duration
    doc = root.find(".//bpmn:userTask[@id='p1_fssi_traiter']/bpmn:documentation", NS).text
    assert "afin d'en assurer son traitement" in doc and "alerte le centre opérationnel" in doc
    form = json.loads((PROCESS.parent.parent / "forms" / "p1-fssi-hors-heures.schema.json").read_text("utf-8"))
    assert form["properties"]["alerter_cossi"]["title"].startswith("Faut-il alerter le centre opérationnel")


def test_the_takeover_is_the_cellule_acss_next_opening_in_paris_time():
    from datetime import datetime, timezone

    from timekeeping import business_calendar as calendar

    def takeover(utc, finess):
        return calendar.french_moment(calendar.next_opening(utc, finess))

    saturday_night = datetime(2026, 3, 7, 21, 30, tzinfo=timezone.utc)
    assert takeover(saturday_night, "350000020") == "lundi 9 mars à 9 h"
    assert takeover(datetime(2026, 3, 3, 17, 30, tzinfo=timezone.utc), "350000020") == "mercredi 4 mars à 9 h"
    # New Year's night in Paris (still 31 December in UTC), then a week-end: Monday 4 January.
    assert takeover(datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), "350000020") == "lundi 4 janvier à 9 h"
    # Good Friday is worked in Rennes but not in Metz (Alsace-Moselle), and Easter Monday nowhere.
    thursday_evening = datetime(2026, 4, 2, 17, 0, tzinfo=timezone.utc)  # 19 h in Paris (summer time)
    assert takeover(thursday_evening, "350000020") == "vendredi 3 avril à 9 h"
    assert takeover(thursday_evening, "570001020") == "mardi 7 avril à 9 h"
    assert calendar.next_opening(thursday_evening, "570001020") == datetime(2026, 4, 7, 7, 0, tzinfo=timezone.utc)
    # In working hours the Cellule ACSS is there now.
    monday = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    assert calendar.next_opening(monday, "350000020") == monday
