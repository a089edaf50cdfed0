"""One test per path of annex 1: elements visited, dossier states in order, who was notified."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from cli import scenarios
from models import AuditEvent, Dossier, OutboxMessage, ProcessInstance, TaskRow, db

FSSI = "ssi@sg.social.gouv.fr"


def history(dossier: Dossier):
    """Visited elements and state transitions over all the dossier's events, in order."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                                .order_by(AuditEvent.seq)).all()
    visited = [element for event in events for element in event.visited]
    states = [state for event in events for state in event.states]
    return visited, states


def messages(dossier: Dossier) -> list[tuple[str, tuple[str, ...]]]:
    """(kind, recipient roles) of every queued message, in order."""
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id)
                              .order_by(OutboxMessage.id)).all()
    return [(m.kind, tuple(m.recipient_roles)) for m in rows]


def kinds(dossier: Dossier) -> list[str]:
    return [kind for kind, _ in messages(dossier)]


def assert_in_order(sequence, expected):
    """Every expected item appears in the sequence, in this order."""
    position = 0
    for item in expected:
        assert item in sequence[position:], f"{item} absent (ou dans le désordre) de {sequence}"
        position = sequence.index(item, position) + 1


def run(name, clock):
    dossier, steps = scenarios.run(name, clock)
    db.session.refresh(dossier)
    return dossier, steps


COMMON_START = ["p1_perimetre", "p1_impact", "p1_origine", "p1_formulaire", "p1_etat_declare", "p1_heures",
                "p1_gw_hno"]
CLOSING = ["p5_cloturer", "p5_bilan", "p5_etat", "p5_notification", "p6_similaires", "p6_retex",
           "p6_connaissances", "p6_partage", "p6_anonymiser", "p6_end"]
FULL_STATES = ["déclaré", "en attente de qualification", "à traiter", "à clôturer", "clôturé"]


def test_b1_not_an_incident(app, clock):
    dossier, _ = run("b1", clock)
    visited, states = history(dossier)
    assert_in_order(visited, COMMON_START + ["p2_notification", "p2_ar", "p2_ouvrir", "p3_qualifier",
                                             "p3_gw_b1", "p3_b1", "p3_b1_ars", "p3_b1_etat", "p5_cloturer",
                                             "p5_etat", "p5_notification", "p5_end"])
    for element in ("p3_b2", "p4_choix", "p5_bilan", "p6_retex", "p1_fssi_hno"):
        assert element not in visited
    assert states == ["déclaré", "en attente de qualification", "à clôturer", "clôturé"]
    assert messages(dossier) == [("notification_signalement", ("ars", "acss")), ("accuse_reception", ("declarant",)),
                                 ("prise_en_compte", ("declarant",)), ("b1_sans_suite", ("declarant",)),
                                 ("qualification_ars", ("ars",)), ("cloture", ("declarant", "ars"))]
    assert dossier.state == "clôturé" and dossier.qualification == "non_incident"
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert instance.status == "completed"
    assert db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.status == "ready")) is None


def test_grave_supported_by_acss(app, clock):
    dossier, _ = run("grave_acss", clock)
    visited, states = history(dossier)
    assert_in_order(visited, COMMON_START + [
        "p2_notification", "p2_ar", "p2_ouvrir", "p2_etat", "p2_prise_en_compte", "p3_qualifier", "p3_demande",
        "p3_complement", "p3_qualifier", "p3_gw_b1", "p3_b2", "p3_ars", "p3_etat", "p4_choix", "p4_info_acss",
        "p4_similaires", "p4_gw_similaires", "p4_analyse", "p4_traces", "p4_fiches", "p4_accompagner",
        "p4_point_ars", "p4_accompagner", "p4_point_ars", "p4_fin_structure", "p4_etat"] + CLOSING)
    for element in ("p4_bascule", "p4bis_coordonner", "p3_b3", "p3_ansm", "p1_fssi_hno", "p4_appui_ars"):
        assert element not in visited
    assert states == FULL_STATES
    assert_in_order(kinds(dossier), ["notification_signalement", "accuse_reception", "prise_en_compte",
                                     "demande_informations", "information_hfds", "coordination_anssi",
                                     "qualification_ars", "modalite_appui", "preservation_traces", "fiches_reflexes",
                                     "point_avancement", "point_avancement", "cloture"])
    assert dossier.qualification == "grave" and dossier.state == "clôturé"
    ack = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                        OutboxMessage.kind == "accuse_reception"))
    assert "ARS Bretagne" in ack.body_text and "Cellule ACSS" in ack.body_text
    assert ack.recipients == ["declarant.rennes@chu-rennes.example.fr"]


def test_grave_switched_to_4bis_by_similar_open_incident(app, clock):
    dossier, _ = run("grave_4bis_similaire", clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p3_gw_gravite", "p4_choix", "p4_similaires", "p4_gw_similaires",
                              "p4_decision_similaires", "p4_gw_decision_similaires", "p4_bascule",
                              "p4bis_gw_entree", "p4bis_pilotage", "p4_analyse", "p4_gw_significatif",
                              "p4bis_coordonner", "p4bis_gw_mode", "p4bis_gw_mode_fin", "p4_fiches",
                              "p4_accompagner"] + CLOSING)
    assert "p4bis_crise" not in visited and "p4bis_alerte" not in visited
    assert states == FULL_STATES
    assert dossier.qualification == "significatif"
    assert ("passage_significatif", ("hfds", "ars")) in messages(dossier)
    assert ("pilotage_hfds", ("ars", "dgs")) in messages(dossier)
    first = db.session.scalar(select(Dossier).where(Dossier.id != dossier.id))
    bascule = [r for e in db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id))
               for r in e.service_results if r["operator"] == "incidents_similaires"]
    assert first.number in bascule[0]["result"]
    assert "Même famille de code malveillant : lockbit" in bascule[0]["result"]


def test_significatif_in_crisis_mode(app, clock):
    dossier, _ = run("significatif_crise", clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p3_gw_gravite", "p4bis_gw_entree", "p4bis_pilotage", "p4_analyse",
                              "p4bis_coordonner", "p4bis_crise", "p4bis_alerte", "p4bis_communication",
                              "p4_fiches", "p4_accompagner", "p4_fin_structure"] + CLOSING)
    assert "p4_choix" not in visited and "p4_similaires" not in visited
    assert states == FULL_STATES
    sent = messages(dossier)
    assert ("plan_crise", ("acss", "ars", "dgs")) in sent
    alerts = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "alerte_diffusion")).all()
    assert len(alerts) == 2  # every ARS in one message, structures of the same kind in another
    assert len(alerts[0].recipients) == 18 and "ssi-bretagne@ars.sante.fr" in alerts[0].recipients
    assert "ssi@rennes.example.fr" in alerts[1].recipients
    closing = [m for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "cloture"))]
    assert closing[0].recipient_roles == ["declarant", "ars", "hfds"]


def test_health_impact_alerts_dgs(app, clock):
    dossier, _ = run("impact_sanitaire", clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p3_b2", "p3_gw_b3", "p3_b3", "p3_b3_split", "p3_dgs_analyse", "p3_dgs_hfds",
                              "p3_dgs_end"])
    assert_in_order(visited, ["p3_b3_split", "p3_gw_b3_fin", "p3_ars", "p3_etat", "p4_choix"] + CLOSING)
    assert states == FULL_STATES
    assert ("alerte_dgs", ("dgs", "fssi")) in messages(dossier)
    assert ("analyse_dgs", ("hfds",)) in messages(dossier)
    alert = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "alerte_dgs"))
    assert FSSI in alert.recipients and "alerte-dgs@sante.example.fr" in alert.recipients
    assert dossier.health_impact is True
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert instance.status == "completed"


def test_off_hours_declaration_with_urgent_help(app, clock):
    dossier, _ = run("hors_heures", clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p1_formulaire", "p1_heures", "p1_gw_hno", "p1_fssi_hno", "p1_gw_hno_fin",
                              "p1_gw_militaire", "p2_notification", "p2_ar"])
    assert states == FULL_STATES
    escalation = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "escalade_hors_heures"))
    assert escalation.recipients == [FSSI]
    ack = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "accuse_reception"))
    assert "FSSI" in ack.body_text  # the acknowledgement lists the FSSI among the entities alerted
    assert dossier.off_hours is True


def test_urgent_help_in_working_hours_is_not_escalated(app, clock):
    scenario = scenarios.SCENARIOS["hors_heures"]
    scenarios.SCENARIOS["hors_heures_ouvre"] = scenarios.Scenario(
        "hors_heures_ouvre", "", scenario.structure_finess_prefix, scenarios.MONDAY_MORNING, scenario.steps[:4])
    try:
        dossier, _ = run("hors_heures_ouvre", clock)
    finally:
        del scenarios.SCENARIOS["hors_heures_ouvre"]
    visited, _ = history(dossier)
    assert "p1_heures" in visited and "p1_fssi_hno" not in visited
    assert dossier.off_hours is False


@pytest.mark.parametrize("name, care_impact", [("militaire_sans_impact", False), ("militaire_impact_soins", True)])
def test_military_hospital(app, clock, name, care_impact):
    dossier, _ = run(name, clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p1_gw_militaire", "mil_chaine", "mil_etat", "mil_message_type", "mil_gw_soins",
                              "mil_gw_soins_fin", "mil_ar", "mil_traiter", "mil_gw_info", "mil_cloture", "mil_end"])
    assert ("mil_ars_soins" in visited) is care_impact
    for element in ("p2_notification", "p2_ouvrir", "p3_qualifier"):
        assert element not in visited  # only the ministry's chain handles it
    assert states == ["déclaré", "transmis au ministère des armées", "clôturé"]
    sent = messages(dossier)
    assert sent[0] == ("chaine_cyber_armees", ("armees",))
    assert sent[1] == ("message_type_ars", ("ars",))
    assert (("armees_offre_soins", ("ars",)) in sent) is care_impact
    assert "notification_signalement" not in [kind for kind, _ in sent]
    informed = "hfds" if care_impact else "acss"
    assert ("information_armees", (informed,)) in sent
    armees_task = db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier.id,
                                                          TaskRow.spec_name == "mil_traiter"))
    assert armees_task.role == "armees"


def test_medical_device_incident_coordinates_with_ansm(app, clock):
    dossier, _ = run("dispositif_medical", clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p3_gw_b3", "p3_gw_b3_fin", "p3_gw_ansm", "p3_ansm", "p3_gw_ansm_fin", "p3_gw_oiv",
                              "p3_gw_oiv_fin", "p3_ars", "p4_choix"])
    assert "p3_anssi" not in visited  # the radiotherapy centre is not an operator of vital importance
    assert states == FULL_STATES
    ansm = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "coordination_ansm"))
    assert ansm.recipient_roles == ["ansm", "fssi"] and "DM" in ansm.subject


def test_grave_taken_over_by_the_ars(app, clock):
    dossier, _ = run("grave_ars", clock)
    visited, states = history(dossier)
    assert_in_order(visited, ["p4_choix", "p4_gw_modalite", "p4_appui_ars", "p4_fin_structure", "p4_etat"] + CLOSING)
    assert "p4_similaires" not in visited and "p4_accompagner" not in visited
    assert states == FULL_STATES
    task = db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier.id,
                                                   TaskRow.spec_name == "p4_appui_ars"))
    assert task.role == "ars" and task.region == "Grand Est"
