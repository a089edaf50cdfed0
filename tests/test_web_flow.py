"""End-to-end through the Flask test client: a grave incident from declaration to retex, and a B1 path."""
from __future__ import annotations

import re

from sqlalchemy import select

from cli import scenarios
from workflow import commands
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


def test_the_fiche_agrees_with_itself(client, clock):
    """Before qualification the health impact is « non évalué » beside the declarant's care impact; after a request
    for information the earlier qualification reads as previous; the declaration's indicators carry their type's
    label; « Éléments du dossier » reads in order, without the structure's row id."""
    from test_web_support import ACSS, login, open_task, structure_of, user
    from workflow import context
    declarant = user(DECLARANT)
    dossier = commands.start_dossier(structure_of(DECLARANT), declarant, context.Actor.of(declarant))
    formulaire = dict(scenarios.formulaire(), indicateurs_techniques=[
        {"type": "famille_rancongiciel", "valeur": "LockBit"}, {"type": "ip", "valeur": "185.220.101.4"}])
    for spec, data in [("p1_perimetre", scenarios.PERIMETRE), ("p1_impact", dict(scenarios.IMPACT, impact_soins="interruption")),
                       ("p1_origine", scenarios.ORIGINE), ("p1_formulaire", formulaire)]:
        clock.advance(minutes=5)
        commands.complete_task(scenarios.ready_task(dossier, spec).id, data, context.Actor.of(declarant))
    login(client, ACSS)
    fiche = client.get(f"/dossiers/{dossier.id}").text
    impact = re.search(r'<dd id="impact-sanitaire">(.*?)</dd>', fiche, re.S).group(1)
    assert "Non évalué" in impact and ">Non<" not in impact and "Oui" not in impact
    declared = re.search(r'<dd id="impact-soins-declare">(.*?)</dd>', fiche, re.S).group(1)
    assert declared == "Interruption de la prise en charge des patients"
    history = fiche.split('id="chronologie"')[1].split('id="journal"')[0]
    assert "Type de structure" not in history and "famille_rancongiciel" not in history
    assert "Type d&#39;indicateur" in history and "Famille de rançongiciel ou de code malveillant" in history
    row = open_task(dossier.id, "p2_ouvrir")
    page = client.get(f"/taches/{row.id}").text
    context_block = page.split('id="titre-contexte"')[1].split("</section>")[0]
    assert "Identifiant" not in context_block
    assert context_block.index("Nom") < context_block.index("Département")
    commands.complete_task(row.id, dict(scenarios.OPENING)["p2_ouvrir"], scenarios.actor_for(row))
    qualify = open_task(dossier.id, "p3_qualifier")
    commands.complete_task(qualify.id, scenarios.qualification("grave", info=True), scenarios.actor_for(qualify))
    db.session.expire_all()
    assert dossier.state == "en attente de qualification" and dossier.qualification == "grave"
    fiche = client.get(f"/dossiers/{dossier.id}").text
    cell = re.search(r'<dd id="qualification-dossier">(.*?)</dd>', fiche, re.S).group(1)
    assert "En attente d'une nouvelle qualification" in cell and "Qualification précédente : Incident grave" in cell
    assert "<dt>Qualifié le</dt>" not in fiche
