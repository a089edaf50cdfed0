"""The process owner in Chromium: opens the modeller, renames a task and changes the weekly update's timer
through the properties panel, edits a form with its live preview, checks, sends the draft to the dry run,
deploys it; a new dossier then runs on the new version."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from browser_support import login, shot
from cli import scenarios
from models import ModellerDraft, ProcessDefinition, ProcessInstance, db
from test_web_support import PROCESSUS, open_task
from workflow import deployment

pytestmark = pytest.mark.browser


def select_element(page, element_id: str) -> None:
    """Select a diagram element the way a click would (through bpmn-js' own selection service)."""
    page.evaluate("""id => { const m = window.SignalementModeler.modeler();
                             const el = m.get('elementRegistry').get(id);
                             m.get('canvas').scrollToElement(el); m.get('selection').select(el); }""", element_id)


def test_the_process_owner_edits_checks_and_saves_in_the_modeller(page, clock):
    login(page, PROCESSUS)
    page.goto(page.base + "/admin/processus/modeleur")
    page.wait_for_selector("#modeleur[data-ready='1']")
    select_element(page, "p3_qualifier")
    page.fill("#prop-nom", "Qualifier l'incident signalé (tâche A)")
    page.press("#prop-nom", "Tab")
    select_element(page, "p4_hebdo")
    assert page.input_value("#prop-minuterie") == '"P7D"'
    page.fill("#prop-minuterie", '"P5D"')
    page.press("#prop-minuterie", "Tab")
    page.click("#bouton-verifier")
    page.wait_for_selector("#modeleur[data-checked='ok']", timeout=60_000)
    page.click("#bouton-brouillon")
    page.wait_for_selector("#modeleur[data-draft='saved']")
    shot(page, "modeleur")
    draft = db.session.scalar(select(ModellerDraft))
    assert "Qualifier l&#39;incident signalé (tâche A)" in draft.bpmn_xml or "Qualifier l'incident signalé (tâche A)" in draft.bpmn_xml
    assert '"P5D"' in draft.bpmn_xml
    # The form editor: a change of title shows in the live preview and travels with the draft.
    page.select_option("#choix-formulaire", "p3-qualification.schema.json")
    schema = json.loads(page.input_value("#schema-json"))
    schema["title"] = "Qualification de l'incident (revue)"
    page.fill("#schema-json", json.dumps(schema, ensure_ascii=False, indent=2))
    page.wait_for_selector("#apercu-formulaire:has-text('Qualification de l\\'incident (revue)')")
    page.wait_for_selector("#modeleur[data-draft='saved']")
    db.session.expire_all()
    assert db.session.scalar(select(ModellerDraft)).forms["p3-qualification.schema.json"]["title"] == \
        "Qualification de l'incident (revue)"
    assert page.js_errors == []
    assert db.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id.desc())).id == 1
    # The dry run: the validator's verdict, the differences and the named scenarios, before anything is deployed.
    page.click("#bouton-essai")
    page.wait_for_selector("#scenarios", timeout=120_000)
    differences = page.inner_text("#differences")
    assert "p3_qualifier" in differences or "Qualifier l'incident signalé" in differences
    assert "p3-qualification" in page.content()
    shot(page, "modeleur-essai-a-blanc")
    assert db.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id.desc())).id == 1
    page.fill("#commentaire", "Point hebdomadaire tous les cinq jours ; libellé de la qualification")
    page.click("button:has-text('Déployer')")
    page.wait_for_load_state()
    db.session.expire_all()
    deployed = deployment.active_definition()
    assert deployed.id == 2 and '"P5D"' in deployed.bpmn_xml
    assert deployed.forms["p3-qualification.schema.json"]["title"] == "Qualification de l'incident (revue)"
    # A new dossier starts on the new version and meets the renamed task.
    dossier, _ = scenarios.run("b1", clock, until="p3_qualifier")
    assert db.session.get(ProcessInstance, dossier.instance_id).definition_id == 2
    assert open_task(dossier.id, "p3_qualifier").title == "Qualifier l'incident signalé (tâche A)"
