"""End-to-end through the Flask test client: a grave incident from declaration to retex, and a B1 path."""
from __future__ import annotations

from sqlalchemy import select

from cli import scenarios
from models import OutboxMessage, TaskRow, db
from test_web_support import (ACSS, DECLARANT, GRAVE_STEPS, dossier_by_number, dossier_number, form_data, login,
                              open_task, post, structure_of)


def declare(client, formulaire=None):
    """Walk the four-step wizard as the Rennes declarant; return the dossier."""
    login(client, DECLARANT)
    page = client.get("/declarer")
    assert page.status_code == 200
    finess = structure_of(DECLARANT).finess_et
    assert f'value="{finess}"' in page.text  # pre-filled FINESS
    response = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=finess))
    assert response.status_code == 302, response.text
    number = dossier_by_number(dossier_number(client.get(response.location).text))
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE),
                       ("p1_formulaire", formulaire or scenarios.formulaire())]:
        row = open_task(number.id, spec)
        assert response.location.endswith(f"/taches/{row.id}"), (spec, response.location)
        response = post(client, f"/taches/{row.id}", form_data(data, action="valider"))
        assert response.status_code == 302, response.text
    return number, response


def work(client, email, dossier, spec, data, clock):
    """Log in as an actor and complete one task through its page."""
    clock.advance(minutes=30)
    login(client, email)
    row = open_task(dossier.id, spec)
    assert row is not None, f"pas de tâche {spec} ouverte"
    page = client.get(f"/taches/{row.id}")
    assert page.status_code == 200, page.text
    response = post(client, f"/taches/{row.id}", form_data(data, action="valider"))
    assert response.status_code == 302, response.text[:3000]
    return response


def test_grave_incident_from_declaration_to_retex(client, clock):
    dossier, response = declare(client)
    assert response.location.endswith(f"/declarer/{dossier.id}/confirmation")
    confirmation = client.get(response.location)
    assert dossier.number in confirmation.text
    assert "ARS Bretagne" in confirmation.text and "Cellule ACSS" in confirmation.text
    for email, spec, data in GRAVE_STEPS:
        work(client, email, dossier, spec, data, clock)
    dossier = dossier_by_number(dossier.number)
    assert dossier.qualification == "grave"
    assert dossier.state == "clôturé"
    assert db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.status == "ready")) is None
    page = client.get(f"/dossiers/{dossier.id}")
    assert page.status_code == 200
    assert "Enrichir le bilan pour en faire un retex" in page.text
    assert "Activer la double authentification" in page.text  # what was entered, in the timeline


def test_b1_path_and_next_step_message(client, clock):
    dossier, _ = declare(client, scenarios.formulaire(("bogue_logiciel",), titre="Lenteurs du logiciel de paie"))
    work(client, ACSS, dossier, "p2_ouvrir", scenarios.OPENING[0][1], clock)
    response = work(client, ACSS, dossier, "p3_qualifier", scenarios.qualification("non_incident"), clock)
    page = client.get(response.location, follow_redirects=True)
    assert "Étape suivante" in page.text
    work(client, ACSS, dossier, "p5_cloturer", scenarios.CLOTURE, clock)
    dossier = dossier_by_number(dossier.number)
    assert dossier.qualification == "non_incident"
    assert dossier.state == "clôturé"
    kinds = db.session.scalars(select(OutboxMessage.kind).where(OutboxMessage.dossier_id == dossier.id)).all()
    assert "b1_sans_suite" in kinds
