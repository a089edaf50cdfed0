"""The declarant's own screens: no analyst machinery, a declaration in progress can be abandoned, the SSI number
is given at validation; and the military path says what really happens, up to the outcome sent to the declarant."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import func, select

from audit import verifier
from cli import scenarios
from models import AuditEvent, Counter, Dossier, OutboxMessage, ProcessInstance, TaskRow, db
from test_web_support import (ACSS, ARMEES, DECLARANT, DECLARANT_BEGIN, DECLARANT_METZ, form_data, login, open_task,
                              post, structure_of, user)
from workflow import commands, context

ANALYST_CONTROLS = ("Prendre", "Non attribuée", "filtre-qualification", "filtre-prise", "Attribution",
                    "f-qualification", "Prise en charge par", "prise par", "Minuteurs en attente", "Non qualifié")


def start(client, email: str) -> Dossier:
    """Log in as a declarant and validate step 1 of the wizard: the dossier exists, not yet declared."""
    login(client, email)
    response = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(email).finess_et))
    assert response.status_code == 302, response.text
    db.session.expire_all()
    return db.session.scalars(select(Dossier).where(Dossier.structure_id == structure_of(email).id)
                              .order_by(Dossier.id.desc())).first()


def finish(client, dossier: Dossier, formulaire: dict):
    """Steps 2 to 4 of the wizard; the last response (the confirmation's redirect)."""
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE), ("p1_formulaire", formulaire)]:
        row = open_task(dossier.id, spec)
        response = post(client, f"/taches/{row.id}", form_data(data, action="valider"))
        assert response.status_code == 302, response.text
    return response


def counter() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.coalesce(func.max(Counter.value), 0)))


def test_the_declarant_sees_no_analyst_control(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_complement")
    row = open_task(dossier.id, "p3_complement")
    login(client, DECLARANT)
    pages = {"boite": client.get("/boite"), "tache": client.get(f"/taches/{row.id}"),
             "dossiers": client.get("/dossiers"), "fiche": client.get(f"/dossiers/{dossier.id}")}
    assert all(page.status_code == 200 for page in pages.values())
    for name, page in pages.items():
        found = [control for control in ANALYST_CONTROLS if control in page.text]
        assert not found, (name, found)
    assert "Ce que vous avez à faire" in pages["boite"].text and row.title in pages["boite"].text
    # The analysts keep their tools.
    login(client, ACSS)
    inbox = client.get("/boite").text
    assert "filtre-qualification" in inbox and "filtre-prise" in inbox


def test_the_number_is_given_at_validation_without_holes(client, clock):
    dossier = start(client, DECLARANT)
    assert re.fullmatch(r"BR-[0-9A-F]{10}", dossier.number) and counter() == 0
    assert dossier.number in client.get("/declarer").text  # listed as a draft to resume
    response = finish(client, dossier, scenarios.formulaire())
    db.session.refresh(dossier)
    assert dossier.number == "SSI-2026-00001" and counter() == 1
    assert dossier.number in client.get(response.location).text  # the confirmation page
    receipt = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                            OutboxMessage.kind == "accuse_reception"))
    assert dossier.number in receipt.subject
    validation = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id,
                                                             AuditEvent.command == "complete")
                                    .order_by(AuditEvent.seq.desc())).first()
    assert validation.payload["numero"] == "SSI-2026-00001"
    assert verifier.verify_dossier(dossier).ok
    # A draft abandoned in between takes no number: the next validated one follows without a hole.
    abandoned = start(client, DECLARANT)
    assert post(client, f"/declarer/{abandoned.id}/abandonner", {"motif": "Doublon"}).status_code == 302
    third = start(client, DECLARANT)
    finish(client, third, scenarios.formulaire())
    db.session.refresh(third)
    assert third.number == "SSI-2026-00002" and counter() == 2


def test_a_declaration_in_progress_can_be_abandoned_and_it_is_audited(client, clock):
    dossier = start(client, DECLARANT)
    row = open_task(dossier.id, "p1_impact")
    assert f"/declarer/{dossier.id}/abandonner" in client.get(f"/taches/{row.id}").text
    confirm = client.get(f"/declarer/{dossier.id}/abandonner")
    assert confirm.status_code == 200 and "définitive" in confirm.text and dossier.number in confirm.text
    too_long = post(client, f"/declarer/{dossier.id}/abandonner", {"motif": "x" * 2001})
    assert too_long.status_code == 422
    assert "x" * 2001 in too_long.text and 'id="erreur-motif"' in too_long.text  # kept whole, never cut
    assert 'maxlength' not in too_long.text.split('id="motif"')[1].split(">")[0]
    done = post(client, f"/declarer/{dossier.id}/abandonner", {"motif": "Déclaré par erreur"})
    assert done.status_code == 302 and done.location.endswith("/declarer")
    db.session.expire_all()
    assert dossier.state == "abandonnée" and counter() == 0
    assert db.session.get(ProcessInstance, dossier.instance_id).status == "abandoned"
    assert db.session.get(TaskRow, row.id).status == "cancelled"
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                               .order_by(AuditEvent.seq.desc())).first()
    assert event.command == "abandon" and event.payload == {"motif": "Déclaré par erreur"}
    assert event.actor == user(DECLARANT).email
    assert verifier.verify_dossier(dossier).ok
    assert "Brouillon " + dossier.number not in client.get("/declarer").text  # no longer a draft to resume
    fiche = client.get(f"/dossiers/{dossier.id}").text
    assert "abandonnée" in fiche and "Déclaration abandonnée" in fiche  # its structure keeps the history
    assert post(client, f"/declarer/{dossier.id}/abandonner", {}).status_code == 409  # once only
    assert post(client, f"/taches/{row.id}", form_data(scenarios.IMPACT, action="valider")).status_code == 409
    login(client, ACSS)
    assert client.get(f"/dossiers/{dossier.id}").status_code == 404
    assert dossier.number not in client.get("/dossiers").text
    # Another structure cannot abandon it, a validated declaration cannot be abandoned.
    other = start(client, DECLARANT)
    login(client, DECLARANT_METZ)
    assert post(client, f"/declarer/{other.id}/abandonner", {}).status_code == 404
    validated = start(client, DECLARANT)
    finish(client, validated, scenarios.formulaire())
    assert post(client, f"/declarer/{validated.id}/abandonner", {}).status_code == 409


def test_a_civil_declaration_still_asks_for_the_acss_support(client, clock):
    dossier = start(client, DECLARANT)
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE)]:
        post(client, f"/taches/{open_task(dossier.id, spec).id}", form_data(data, action="valider"))
    row = open_task(dossier.id, "p1_formulaire")
    assert 'name="besoin_accompagnement"' in client.get(f"/taches/{row.id}").text
    without = dict(scenarios.formulaire())
    without.pop("besoin_accompagnement")
    refused = post(client, f"/taches/{row.id}", form_data(without, action="valider"))
    assert refused.status_code == 422 and "erreur-besoin_accompagnement" in refused.text


def test_the_military_path_says_what_happens_and_sends_the_outcome(client, clock):
    dossier = start(client, DECLARANT_BEGIN)
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE)]:
        post(client, f"/taches/{open_task(dossier.id, spec).id}", form_data(data, action="valider"))
    row = open_task(dossier.id, "p1_formulaire")
    step4 = client.get(f"/taches/{row.id}").text
    assert "besoin_accompagnement" not in step4 and "Cellule ACSS ?" not in step4  # not asked of a military hospital
    assert "seule chaîne « CYBER » du ministère des armées" in step4
    formulaire = dict(scenarios.formulaire())
    formulaire.pop("besoin_accompagnement")
    response = post(client, f"/taches/{row.id}", form_data(formulaire, action="valider",
                                                           besoin_accompagnement="true"))  # ignored if sent anyway
    assert response.status_code == 302, response.text
    confirmation = client.get(response.location).text
    assert "uniquement par la chaîne « CYBER » du ministère des armées" in confirmation
    assert "L'ARS de votre région et la Cellule ACSS vont" not in confirmation
    assert "Ministère des armées" in confirmation and "message type" in confirmation
    validation = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id,
                                                             AuditEvent.command == "complete")
                                    .order_by(AuditEvent.seq.desc())).first()
    assert "besoin_accompagnement" not in validation.payload["data"]
    receipt = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                            OutboxMessage.kind == "accuse_reception"))
    assert "uniquement par la chaîne « CYBER »" in receipt.body_text
    assert "recontacté pour la qualification" not in receipt.body_text
    # The armées qualify and treat it: the dossier closes with their outcome, mailed to the declarant.
    armees = open_task(dossier.id, "mil_traiter")
    commands.complete_task(armees.id, {"information_armees": "acss", "synthese_armees": "ISSUE-ARMEES : poste isolé",
                                       "niveau_confidentialite": "non_protege"}, context.Actor.of(user(ARMEES)))
    db.session.refresh(dossier)
    assert dossier.state == "clôturé"
    outcome = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                            OutboxMessage.kind == "issue_armees"))
    assert outcome.recipients == [user(DECLARANT_BEGIN).email] and outcome.recipient_roles == ["declarant"]
    assert "ISSUE-ARMEES : poste isolé" in outcome.body_text and dossier.number in outcome.subject
    fiche = client.get(f"/dossiers/{dossier.id}").text
    assert "clôturé par le ministère des armées" in fiche and "Qualifié et traité par le ministère des armées" in fiche
    assert "Non qualifié" not in fiche and "Issue du traitement" in fiche  # the outcome message is listed to them
    assert verifier.verify_dossier(dossier).ok


def test_a_restricted_military_outcome_is_not_mailed_in_clear(app, clock):
    dossier, _ = scenarios.run("militaire_impact_soins", clock)
    outcome = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                            OutboxMessage.kind == "issue_armees"))
    assert "Rançongiciel contenu" not in outcome.body_text + outcome.body_html
    assert "diffusion restreinte" in outcome.body_text
    assert verifier.verify_dossier(dossier).ok


def test_a_declaration_on_new_years_night_in_paris_takes_the_new_years_number(client, clock):
    """1 January at 00:30 in Paris is 31 December 23:30 UTC: the number is the new year's, on every path."""
    clock.set(datetime(2026, 12, 31, 22, 50, tzinfo=timezone.utc))
    dossier = start(client, DECLARANT)
    clock.set(datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc))  # 00:30 in Paris
    finish(client, dossier, scenarios.formulaire())
    db.session.refresh(dossier)
    assert dossier.number == "SSI-2027-00001"
    # A dossier numbered at its start (scenarios, other commands) follows the same year.
    started = commands.start_dossier(structure_of(DECLARANT), user(DECLARANT), context.Actor.of(user(DECLARANT)))
    assert started.number == "SSI-2027-00002"
    # One hour earlier in Paris (22:30 UTC), still the old year.
    clock.set(datetime(2026, 12, 31, 22, 30, tzinfo=timezone.utc))
    older = commands.start_dossier(structure_of(DECLARANT), user(DECLARANT), context.Actor.of(user(DECLARANT)))
    assert older.number == "SSI-2026-00001"
