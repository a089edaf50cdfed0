"""Similar incidents (phase 4 task A): ranking with reasons, threshold and weights, the analyst's decision,
the HFDS mail and coordination page, military confinement, and replay of what the handler recorded."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from audit import hash_chain, replayer, verifier
from browser_support import fill, shot, submit
from browser_support import login as browser_login
from cases import observables as cases_observables
from cli import scenarios
from handlers import similarity
from models import AuditEvent, Dossier, Observable, OutboxMessage, ProcessInstance, db
from test_accessibility import axe  # noqa: F401  (the axe-core fixture)
from test_web_support import ACSS, ARS_BRETAGNE, HFDS, form_data, login, open_task, post, user
from web.casework.linked_dossiers import linked_dossiers
from workflow import commands, context

RENNES, METZ, LYON, TOURS, BASTIA, BEGIN = "35000002", "57000102", "69000302", "37000402", "2B000702", "94000202"
EVIDENCE = (("famille_rancongiciel", "LockBit"), ("ip", "185.220.101.4"), ("domaine", "c2.evil-cdn.example"))
CONFIRM = {"decision_similarite": "confirmer", "motif_decision": "Même famille LockBit et même serveur de commande"}
DISMISS = {"decision_similarite": "ecarter", "motif_decision": "Campagnes distinctes selon le CERT Santé"}


def plant(prefix, types=("rancongiciel",), observables=(), days_ago=1, state="à traiter", removed=()):
    """An open, qualified dossier of a demo structure with its observables (rows as the journal writes them)."""
    structure = scenarios.structure_for(prefix)
    dossier = commands.start_dossier(structure, None, context.SYSTEM)
    declared = scenarios.MONDAY_MORNING - timedelta(days=days_ago)
    db.session.execute(update(Dossier).where(Dossier.id == dossier.id).values(
        state=state, qualification="grave", incident_types=list(types), declared_at=declared))
    scenarios.plant_observables(dossier, observables, None)
    analyst = user(ACSS)
    for kind, value in removed:  # entered, then withdrawn by the analyst: similarity ignores it
        cases_observables.remove(cases_observables.add(dossier, kind, value, user=analyst, source="analyste"),
                                 user=analyst, reason="Saisie erronée")
    db.session.commit()
    return dossier


def drive(dossier, steps, clock):
    """Complete tasks in order as the demo user of each lane."""
    for spec, data in steps:
        clock.advance(minutes=10)
        row = scenarios.ready_task(dossier, spec)
        commands.complete_task(row.id, data, scenarios.actor_for(row))


def source_to_task_a(clock, observables=EVIDENCE):
    """A grave ransomware incident of the CHU de Rennes run up to phase 4 task A (support shared with the ACSS)."""
    clock.set(scenarios.MONDAY_MORNING)
    structure = scenarios.structure_for(RENNES)
    declarant = user("declarant.rennes@chu-rennes.example.fr")
    dossier = commands.start_dossier(structure, declarant, context.Actor.of(declarant))
    scenarios.plant_observables(dossier, observables, declarant)
    drive(dossier, scenarios.DECLARATION + [("p1_formulaire", scenarios.formulaire())] + scenarios.OPENING
          + [("p3_qualifier", scenarios.qualification("grave")), ("p4_choix", {"modalite_appui": "deleguer_partie"})],
          clock)
    db.session.refresh(dossier)
    return dossier


def similarity_result(dossier) -> dict:
    """The incidents_similaires result recorded in the dossier's audit chain."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                                .order_by(AuditEvent.seq)).all()
    found = [r["result"] for e in events for r in e.service_results if r["operator"] == "incidents_similaires"]
    assert len(found) == 1
    return json.loads(found[0])


def planted_set():
    """Two true matches, and the look-alikes that must not match (named by what makes them differ)."""
    return {
        "metz": plant(METZ, observables=EVIDENCE[:2]),                      # family + IP, other region
        "rennes_domaine": plant(RENNES, observables=EVIDENCE[2:]),          # domain, same region
        "lyon": plant(LYON),                                                # same type only, other region
        "rennes_nu": plant(RENNES),                                         # same type, region, week
        "rennes_ancien": plant(RENNES, days_ago=120),                       # same type and region, long ago
        "tours_retire": plant(TOURS, removed=EVIDENCE[:2]),                 # its shared evidence was withdrawn
        "militaire": plant(BEGIN, observables=EVIDENCE),                    # everything shared, but military
        "clos": plant(BASTIA, observables=EVIDENCE, state="clôturé"),       # everything shared, but closed
    }


def test_planted_matches_rank_first_with_reasons_and_hfds_is_told(app, client, clock):
    planted = planted_set()
    military = db.session.get(Dossier, planted["militaire"].id)
    military.military = True  # the hospital's dossier as the armées chain holds it
    db.session.commit()
    source = source_to_task_a(clock)
    result = similarity_result(source)
    numbers = {name: d.number for name, d in planted.items()}
    assert result["dossiers"] == [numbers["metz"], numbers["rennes_domaine"]] and result["nombre"] == 2
    best, second = result["correspondances"]
    assert best["score"] == 4 + 3 + 1 + 1 and second["score"] == 3 + 1 + 1 + 1
    texts = [r["texte"] for r in best["raisons"]]
    assert texts[:2] == ["Même famille de code malveillant : lockbit", "Observables communs : Adresse IP 185.220.101.4"]
    assert "Même type d'incident : Rançongiciel" in texts and not any(t.startswith("Même région") for t in texts)
    assert "Même région : Bretagne" in [r["texte"] for r in second["raisons"]]
    # Confinement: the military dossier is never compared with a civil one, not even counted as examined.
    recorded = json.dumps(result)
    assert numbers["militaire"] not in recorded and numbers["clos"] not in recorded
    assert result["candidats_examines"] == 6  # the open civil dossiers: all but the military and the closed one

    # The analyst reads the proposal with its reasons, then confirms it.
    row = open_task(source.id, "p4_decision_similaires")
    assert row is not None and row.role == "acss"
    login(client, ACSS)
    page = client.get(f"/taches/{row.id}")
    assert page.status_code == 200 and "Centre hospitalier de Metz-Thionville" in page.text
    assert "Même famille de code malveillant : lockbit" in page.text and numbers["militaire"] not in page.text
    response = post(client, f"/taches/{row.id}", form_data(CONFIRM, action="valider"))
    assert response.status_code == 302
    db.session.expire_all()
    source = db.session.get(Dossier, source.id)
    assert source.qualification == "significatif" and open_task(source.id, "p4_analyse") is not None
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == source.id,
                                                         OutboxMessage.kind == "passage_significatif"))
    assert mail.recipient_roles == ["hfds", "ars"]
    for text in (numbers["metz"], numbers["rennes_domaine"], "Observables communs : Adresse IP 185.220.101.4",
                 CONFIRM["motif_decision"], "9 points"):
        assert text in mail.body_text and text in mail.body_html.replace("<strong>", "").replace("</strong>", "")
    assert numbers["militaire"] not in mail.body_text and numbers["lyon"] not in mail.body_text

    # The HFDS coordination page lists the structures of the linked dossiers.
    drive(source, [("p4_analyse", scenarios.ANALYSE)], clock)
    task = open_task(source.id, "p4bis_coordonner")
    login(client, HFDS)
    page = client.get(f"/taches/{task.id}")
    assert page.status_code == 200
    section = page.text.split('id="dossiers-lies"')[1].split("</section>")[0]
    assert "Centre hospitalier de Metz-Thionville" in section and "Grand Est" in section
    assert "Centre hospitalier universitaire de Rennes" in section and numbers["rennes_domaine"] in section
    assert "2 dossiers rapprochés de celui-ci (seuil de rapprochement : 4 points)" in section and CONFIRM["motif_decision"] in page.text

    # Replay reads back what the handler recorded: the ranking may change later, the history still verifies.
    for row in db.session.scalars(select(Observable).where(Observable.dossier_id == planted["metz"].id)).all():
        cases_observables.remove(row, user=user(ACSS), reason="Retiré après analyse")
    app.config["SIMILARITY_THRESHOLD"] = 100
    events = hash_chain.events_of(source.instance_id)
    steps = list(replayer.replay(db.session.get(ProcessInstance, source.instance_id), events, check=False,
                                 summarize=False))
    assert len(steps) == len(events) and [s.state_hash for s in steps] == [e.state_hash for e in events]
    ranked_now = similarity.rank(db.session, similarity.profile_of(db.session, source), similarity.settings(app.config))
    assert similarity.result(ranked_now, similarity.settings(app.config))["nombre"] == 0  # it did change
    assert all(r.ok for r in verifier.verify_all())


def test_look_alikes_alone_do_not_switch_and_the_threshold_changes_that(app, clock):
    planted = {name: plant(prefix, days_ago=days) for name, prefix, days in
               (("lyon", LYON, 1), ("rennes_nu", RENNES, 1), ("rennes_ancien", RENNES, 120))}
    plant(TOURS, removed=EVIDENCE[:2])
    source = source_to_task_a(clock)
    result = similarity_result(source)
    assert result["nombre"] == 0 and result["dossiers"] == [] and result["candidats_examines"] == 4
    assert open_task(source.id, "p4_decision_similaires") is None
    assert open_task(source.id, "p4_analyse") is not None
    assert db.session.get(Dossier, source.id).qualification == "grave"

    # A lower threshold makes the same type, region and week (3 points) enough: the switch is proposed.
    app.config["SIMILARITY_THRESHOLD"] = 3
    second = source_to_task_a(clock, observables=())
    # (the first source is now an open Rennes ransomware dossier of the same week too)
    assert similarity_result(second)["dossiers"] == sorted([planted["rennes_nu"].number, source.number])
    assert open_task(second.id, "p4_decision_similaires") is not None
    # Weights too: with the region worth nothing, the same dossier falls back under the threshold.
    app.config["SIMILARITY_WEIGHTS"] = {"region": 0}
    third = source_to_task_a(clock, observables=())
    assert similarity_result(third)["nombre"] == 0
    assert all(r.ok for r in verifier.verify_all())


def test_analyst_dismisses_the_proposal_phase_4_goes_on_audited(app, client, clock):
    plant(METZ, observables=EVIDENCE[:2])
    source = source_to_task_a(clock)
    row = open_task(source.id, "p4_decision_similaires")
    login(client, ACSS)
    # Hostile or incomplete posts: a precise refusal, nothing recorded.
    bad = post(client, f"/taches/{row.id}", form_data({"decision_similarite": "basculer", "motif_decision": "x"},
                                                        action="valider"))
    assert bad.status_code == 422 and "Valeur non autorisée." in bad.text
    empty = post(client, f"/taches/{row.id}", form_data({"decision_similarite": "ecarter"}, action="valider"))
    assert empty.status_code == 422 and "Ce champ est obligatoire." in empty.text
    assert open_task(source.id, "p4_decision_similaires") is not None
    assert post(client, f"/taches/{row.id}", form_data(DISMISS, action="valider")).status_code == 302
    db.session.expire_all()
    source = db.session.get(Dossier, source.id)
    assert source.qualification == "grave" and open_task(source.id, "p4_analyse") is not None
    kinds = db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.dossier_id == source.id)).all()
    assert "passage_significatif" not in kinds and "pilotage_hfds" not in kinds
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == source.instance_id)
                               .order_by(AuditEvent.seq.desc())).first()
    assert event.command == "complete" and event.payload["data"] == DISMISS
    assert event.actor == ACSS and "p4_gw_decision_similaires" in event.visited and "p4_bascule" not in event.visited
    assert verifier.verify_dossier(source).ok


def test_military_dossiers_are_matched_only_with_military_ones(app, clock):
    clock.set(scenarios.MONDAY_MORNING)
    civil = plant(METZ, observables=EVIDENCE)
    armed = [plant(BEGIN, observables=EVIDENCE), plant(BEGIN, observables=EVIDENCE[:1])]
    db.session.execute(update(Dossier).where(Dossier.id.in_([d.id for d in armed])).values(military=True))
    db.session.commit()
    conf = similarity.settings(app.config)
    ranked = similarity.rank(db.session, similarity.profile_of(db.session, armed[0]), conf)
    assert [m["numero"] for m in ranked] == [armed[1].number]
    ranked = similarity.rank(db.session, similarity.profile_of(db.session, civil), conf)
    assert ranked == []  # the two military dossiers share all its evidence, yet are not even compared
    # A page shows only the linked dossiers its reader may see: the ARS of Brittany not Metz's.
    data = {"similaires": {"correspondances": [{"numero": civil.number, "score": 9, "raisons": []},
                                               {"numero": armed[0].number, "score": 9, "raisons": []}]}}
    shown, hidden, _ = linked_dossiers(user(ARS_BRETAGNE), data, "similaires")
    assert shown == [] and hidden == 2
    shown, hidden, _ = linked_dossiers(user(HFDS), data, "similaires")
    assert [item.dossier.number for item in shown] == [civil.number] and hidden == 1


def _profile(number="B", region="Bretagne", types=("rancongiciel",), observables=(), days=0):
    return similarity.Profile(1, number, region, False, frozenset(types),
                              scenarios.MONDAY_MORNING - timedelta(days=days), frozenset(observables))


def test_pure_score_weights_caps_and_window():
    conf = similarity.settings({})
    source = _profile("A", observables={("ip", "10.0.0.1"), ("ip", "10.0.0.2"), ("ip", "10.0.0.3"),
                                        ("ip", "10.0.0.4"), ("logiciel", "fortios 7.2"), ("cve", "cve-2024-21762")})
    candidate = _profile(region="Corse", days=40, observables=source.observables)
    points, reasons = similarity.score(source, candidate, conf)
    # Five technical indicators count for three, the software for one, the type once; no region, no window.
    assert points == 3 * 3 + 2 + 1 and [r["critere"] for r in reasons] == ["observable", "logiciel", "type_incident"]
    assert similarity.score(source, _profile(days=2), conf) == (3, [
        {"critere": "type_incident", "points": 1, "texte": "Même type d'incident : Rançongiciel"},
        {"critere": "region", "points": 1, "texte": "Même région : Bretagne"},
        {"critere": "fenetre", "points": 1, "texte": "Déclarés à 2 jours d'intervalle (fenêtre de 30 jours)"}])
    wide = similarity.settings({"SIMILARITY_WINDOW_DAYS": 60, "SIMILARITY_WEIGHTS": {"fenetre": 2}})
    assert similarity.score(source, candidate, wide)[0] == points + 2
    assert similarity.score(_profile("A", types=()), _profile(types=(), region="Corse", days=90), conf) == (0, [])


@pytest.mark.parametrize("config, message", [
    ({"SIMILARITY_WEIGHTS": {"couleur": 2}}, "critère inconnu couleur"),
    ({"SIMILARITY_WEIGHTS": {"region": -1}}, "SIMILARITY_WEIGHTS[region]"),
    ({"SIMILARITY_WEIGHTS": {"region": "1"}}, "SIMILARITY_WEIGHTS[region]"),
    ({"SIMILARITY_WEIGHTS": ["region"]}, "un dictionnaire"),
    ({"SIMILARITY_THRESHOLD": 0}, "strictement positif"),
    ({"SIMILARITY_WINDOW_DAYS": True}, "SIMILARITY_WINDOW_DAYS"),
    ({"SIMILARITY_THRESHOLD": float("inf")}, "SIMILARITY_THRESHOLD"),
])
def test_wrong_settings_stop_the_start_with_a_clear_message(config, message, tmp_path):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        create_app({"TESTING": True, "SECRET_KEY": "x", "SCHEDULER_ENABLED": False,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", **config})


@pytest.mark.browser
def test_decision_and_coordination_pages_in_chromium_pass_axe(page, axe, clock):  # noqa: F811
    """The analyst reads the proposal and confirms it in the browser; both pages with the linked-dossier table
    pass axe-core (WCAG 2.1 A and AA)."""
    dossier, _ = scenarios.run("grave_4bis_similaire", clock, until="p4_decision_similaires")
    dossier_id, first = dossier.id, db.session.scalar(select(Dossier.number).where(Dossier.id != dossier.id))
    decision = open_task(dossier_id, "p4_decision_similaires").id
    db.session.remove()  # the server thread has its own session
    browser_login(page, ACSS)
    page.goto(page.base + f"/taches/{decision}")
    linked = page.inner_text("#dossiers-lies")
    assert first in linked and "Même famille de code malveillant : lockbit" in linked
    found = axe("similarite-decision")
    fill(page, CONFIRM)
    submit(page)
    assert page.locator(".alerte-succes").count()
    clock.advance(minutes=10)
    row = open_task(dossier_id, "p4_analyse")
    commands.complete_task(row.id, scenarios.ANALYSE, scenarios.actor_for(row))
    coordination = open_task(dossier_id, "p4bis_coordonner").id
    db.session.remove()
    browser_login(page, HFDS)
    page.goto(page.base + f"/taches/{coordination}")
    assert "Centre hospitalier universitaire de Rennes" in page.inner_text("#dossiers-lies")
    shot(page, "similarite-coordination")
    found += axe("similarite-coordination")
    assert found == [], "\n".join(found)
