"""The process owner in Chromium: opens the modeller (bpmn-js with bpmn-js-properties-panel and our provider),
renames a task and changes the weekly update's timer through the properties panel, edits a form with its live
preview, checks, sends the draft to the dry run, deploys it; a new dossier then runs on the new version.
Then: the palette and context pad in French, a default flow set from the panel, a new form created and used by a
new user task, a deadline set, the « Phase » menu showing each phase at a readable zoom at 1366x768, and a
stale draft (another version activated since it was started) warned about with its three versions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from browser_support import login, shot
from modeller_bundle import ensure_bundle
from cli import scenarios
from models import ModellerDraft, ProcessDefinition, ProcessInstance, db
from test_web_support import PROCESSUS, open_task, user
from timekeeping.clock import app_now
from workflow import deployment

pytestmark = pytest.mark.browser


def select_element(page, element_id: str) -> None:
    """Select a diagram element the way a click would (through bpmn-js' own selection service)."""
    page.evaluate("""id => { const m = window.SignalementModeler.modeler();
                             const el = m.get('elementRegistry').get(id);
                             m.get('canvas').scrollToElement(el); m.get('selection').select(el); }""", element_id)


def panel(field: str) -> str:
    """The properties panel's input of an entry (bpmn-js-properties-panel prefixes its ids)."""
    return f"#bio-properties-panel-{field}"


def open_modeller(page) -> None:
    ensure_bundle()
    login(page, PROCESSUS)
    page.goto(page.base + "/admin/processus/modeleur")
    page.wait_for_selector("#modeleur[data-ready='1']")


def draft_xml() -> str:
    db.session.expire_all()
    return db.session.scalar(select(ModellerDraft)).bpmn_xml


def test_the_process_owner_edits_checks_and_saves_in_the_modeller(page, clock):
    open_modeller(page)
    select_element(page, "p3_qualifier")
    page.fill(panel("name"), "Qualifier l'incident signalé (tâche A)")
    page.press(panel("name"), "Tab")
    select_element(page, "p4_hebdo")
    assert page.input_value(panel("timerEventDefinitionValue")) == '"P7D"'
    page.fill(panel("timerEventDefinitionValue"), '"P5D"')
    page.press(panel("timerEventDefinitionValue"), "Tab")
    page.wait_for_function("() => window.SignalementModeler.modeler().get('elementRegistry').get('p4_hebdo')"
                           ".businessObject.eventDefinitions[0].timeDuration.body === '\"P5D\"'")
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


def canvas_scale(page) -> float:
    return page.evaluate("() => window.SignalementModeler.modeler().get('canvas').viewbox().scale")


VISIBLE_TASKS = """group => {
    const m = window.SignalementModeler.modeler();
    const g = m.get('elementRegistry').get(group);
    const v = m.get('canvas').viewbox();
    return m.get('elementRegistry').filter(e => /Task$/.test(e.type)
        && e.x >= g.x && e.x + e.width <= g.x + g.width && e.y >= g.y && e.y + e.height <= g.y + g.height
        && e.x >= v.x && e.x + e.width <= v.x + v.width && e.y >= v.y && e.y + e.height <= v.y + v.height)
      .map(e => e.id);
}"""


FREE_SPOT = """() => {  // a point of the canvas (in its pixels) with no flow element nearby, inside a lane
    const m = window.SignalementModeler.modeler();
    const v = m.get('canvas').viewbox();
    const busy = m.get('elementRegistry').filter(e => !e.waypoints && e.type !== 'label'
        && !['bpmn:Lane', 'bpmn:Participant', 'bpmn:Group', 'bpmn:Process', 'bpmn:Collaboration'].includes(e.type));
    const lines = m.get('elementRegistry').filter(e => e.waypoints);
    for (let sy = 60; sy < v.outer.height - 140; sy += 20) {
      for (let sx = 200; sx < v.outer.width - 120; sx += 20) {
        const x = v.x + sx / v.scale, y = v.y + sy / v.scale;
        const clear = !busy.some(e => x > e.x - 90 && x < e.x + e.width + 90 && y > e.y - 70 && y < e.y + e.height + 70)
          && !lines.some(l => l.waypoints.some((p, i) => i && Math.min(p.x, l.waypoints[i-1].x) - 80 < x
               && x < Math.max(p.x, l.waypoints[i-1].x) + 80 && Math.min(p.y, l.waypoints[i-1].y) - 60 < y
               && y < Math.max(p.y, l.waypoints[i-1].y) + 60));
        if (clear) { return {x: sx, y: sy}; }
      }
    }
    throw new Error('aucune place libre');
}"""


def test_french_palette_default_flow_new_form_deadline_and_phases(page):
    page.set_viewport_size({"width": 1366, "height": 768})
    open_modeller(page)
    # French palette, context pad and panel.
    palette = page.eval_on_selector_all(".djs-palette .entry", "els => els.map(e => e.getAttribute('aria-label'))")
    assert {"Créer une tâche", "Créer une passerelle", "Créer un événement de début"} <= set(palette), palette
    assert not [title for title in palette if "Create" in title or "Activate" in title]
    select_element(page, "p3_qualifier")
    pad = page.eval_on_selector_all(".djs-context-pad .entry", "els => els.map(e => e.title)")
    assert {"Ajouter une tâche", "Supprimer", "Changer le type"} <= set(pad), pad
    assert page.locator(".bio-properties-panel-group-header-title:has-text('Général')").count() == 1
    assert page.inner_text(".bio-properties-panel-header-type").strip().lower() == "tâche utilisateur"
    assert page.locator(".bio-properties-panel-group-header-title:has-text('Formulaire et délai')").count() == 1

    # The « Phase » menu: every phase at a readable zoom with tasks on screen; « Ajuster » stays readable.
    options = page.eval_on_selector_all("#menu-phase option", "els => els.map(e => [e.value, e.textContent])")[1:]
    assert len(options) >= 7 and any(label.startswith("Phase 4 :") for _, label in options)
    for value, label in options:
        page.select_option("#menu-phase", value)
        assert canvas_scale(page) >= 0.6, label
        assert page.evaluate(VISIBLE_TASKS, value), f"aucune tâche visible pour {label}"
        canvas = page.locator("#toile-modeleur").bounding_box()       # the canvas itself is in the window
        assert canvas["y"] >= 0 and canvas["y"] + canvas["height"] <= 768, canvas
    phase4 = next(value for value, label in options if label.startswith("Phase 4 :"))
    page.select_option("#menu-phase", phase4)
    assert canvas_scale(page) >= 0.6
    shot(page, "modeleur-phase-4")
    page.click("#zoom-moins")
    page.click("#zoom-moins")
    page.click("#zoom-moins")
    assert canvas_scale(page) < 0.6
    page.click("#zoom-ajuster")
    assert canvas_scale(page) >= 0.6

    # The default flow of a gateway, from the gateway's panel, then from a flow's panel.
    select_element(page, "p1_gw_militaire")
    page.select_option(panel("passerelle-defaut"), "flow_p1_gw_militaire__mil_chaine")
    page.wait_for_selector("#modeleur[data-draft='saved']")
    xml = draft_xml()
    assert 'default="flow_p1_gw_militaire__mil_chaine"' in xml
    chaine = xml.split('id="flow_p1_gw_militaire__mil_chaine"')[1].split("</bpmn:sequenceFlow>")[0]
    assert "conditionExpression" not in chaine.split("<bpmn:sequenceFlow")[0]
    # bpmnlint sees at once that the former default flow has no condition, in French, naming it.
    page.wait_for_selector("#problemes li[data-element='flow_p1_gw_militaire__p2_notification']")
    assert "le flux n'a pas de condition" in page.inner_text(
        "#problemes li[data-element='flow_p1_gw_militaire__p2_notification']")
    select_element(page, "flow_p1_gw_militaire__p2_notification")
    page.check(panel("flux-par-defaut"))
    page.wait_for_function("() => window.SignalementModeler.modeler().get('elementRegistry').get('p1_gw_militaire')"
                           ".businessObject.default.id === 'flow_p1_gw_militaire__p2_notification'")

    # A new form, checked by the server, then used by a new user task with a deadline.
    page.fill("#nouveau-formulaire-nom", "p4-point-etape")
    page.fill("#nouveau-formulaire-titre", "Point d'étape")
    page.click("#bouton-nouveau-formulaire")
    page.wait_for_selector("#message-nouveau-formulaire:has-text('créé')")
    page.wait_for_selector("#apercu-formulaire:has-text(\"Point d'étape\")")
    page.select_option("#menu-phase", phase4)
    page.click(".djs-palette .entry[aria-label='Créer une tâche']")
    box = page.locator("#toile-modeleur").bounding_box()
    spot = page.evaluate(FREE_SPOT)
    page.mouse.move(box["x"] + spot["x"] - 20, box["y"] + spot["y"] - 10)
    page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
    page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
    created = page.evaluate("() => window.SignalementModeler.modeler().get('selection').get()[0].id")
    # bpmn-js opens the new task's label for typing; Enter ends it (a click elsewhere would, redrawing the pad).
    page.wait_for_selector(".djs-direct-editing-parent")
    page.keyboard.type("Faire un point d'étape")
    page.keyboard.press("Enter")
    page.wait_for_selector(".djs-direct-editing-parent", state="hidden")
    page.click(".djs-context-pad .entry[title='Changer le type']")
    page.click(".djs-popup .entry:has-text('Tâche utilisateur')")
    task = page.evaluate("() => window.SignalementModeler.modeler().get('selection').get()[0]?.id")
    task = task or created
    select_element(page, task)
    assert page.evaluate("id => window.SignalementModeler.modeler().get('elementRegistry').get(id).type", task) == \
        "bpmn:UserTask"
    page.fill(panel("name"), "Faire un point d'étape")
    page.press(panel("name"), "Tab")
    page.select_option(panel("formulaire"), "p4-point-etape.schema.json")
    page.fill(panel("delai-cible"), "4 heures")
    page.press(panel("delai-cible"), "Tab")
    assert "Durée ISO 8601 attendue" in page.inner_text("[data-entry-id='delai-cible']")
    page.fill(panel("delai-cible"), "PT4H")
    page.press(panel("delai-cible"), "Tab")
    page.select_option(panel("delai-calendrier"), "working")
    page.click("#bouton-brouillon")
    page.wait_for_selector("#modeleur[data-draft='saved']")
    db.session.expire_all()
    draft = db.session.scalar(select(ModellerDraft))
    new_task = draft.bpmn_xml.split(f'id="{task}"')[1].split("</bpmn:userTask>")[0]
    assert 'name="formJsonSchemaFilename" value="p4-point-etape.schema.json"' in new_task
    assert 'name="formUiSchemaFilename" value="p4-point-etape.uischema.json"' in new_task
    assert 'name="targetDuration" value="PT4H"' in new_task and 'name="targetCalendar" value="working"' in new_task
    assert draft.forms["p4-point-etape.schema.json"]["title"] == "Point d'étape"
    assert "p4-point-etape.uischema.json" in draft.forms
    # What the former panel edited: a lane's role, a service task's operator and parameters, the « Exécutable » box.
    select_element(page, "lane_dgs")
    assert page.input_value(panel("role")) == "dgs"
    page.select_option(panel("role"), "hfds")
    select_element(page, "mil_chaine")
    assert page.input_value(panel("operateur")) == "notifier"
    assert page.input_value(panel("parametre-0")) == "'chaine_cyber_armees'"
    page.fill(panel("parametre-0"), "'chaine_cyber_armees_v2'")
    page.press(panel("parametre-0"), "Tab")
    select_element(page, "Participant_signalement")
    assert page.is_checked(panel("isExecutable"))
    assert page.inner_text("[data-entry-id='isExecutable']").strip() == "Exécutable"
    page.click("#bouton-brouillon")
    page.wait_for_selector("#modeleur[data-draft='saved']")
    xml = draft_xml()
    assert '<spiffworkflow:property name="role" value="hfds" />' in xml.split('id="lane_dgs"')[1].split("</bpmn:lane>")[0]
    assert "chaine_cyber_armees_v2" in xml.split('id="mil_chaine"')[1].split("</bpmn:serviceTask>")[0]
    # The validator knows the new form: no problem names it as missing.
    page.click("#bouton-verifier")
    page.wait_for_selector("#modeleur[data-checked]", timeout=60_000)
    assert "p4-point-etape" not in page.inner_text("#problemes")
    shot(page, "modeleur-nouvelle-tache")
    assert page.js_errors == []


def test_a_stale_draft_warns_and_shows_the_three_versions(page):
    base = deployment.active_definition()
    db.session.add(ModellerDraft(user_id=user(PROCESSUS).id, process_id=base.process_id, base_definition_id=base.id,
                                 bpmn_xml=base.bpmn_xml.replace("Identifier le périmètre de l'incident (tâche A)",
                                                                "Identifier le périmètre (brouillon)"),
                                 forms={}, updated_at=app_now()))
    db.session.commit()
    colleague = deployment.deploy_xml(base.bpmn_xml.replace("Remplir et valider le formulaire de déclaration (tâche D)",
                                                            "Remplir et valider la déclaration (tâche D)"),
                                      actor="collegue@sante.gouv.fr", forms=base.forms, comment="Libellé")
    assert colleague.id == 2 and deployment.active_definition().id == 2
    db.session.remove()
    open_modeller(page)
    page.wait_for_selector("#modeleur[data-stale='1']")
    warning = page.inner_text("#alerte-perime")
    assert "Ce brouillon part de la version 1 ; la version 2 est active depuis le" in warning
    rows = page.eval_on_selector_all("#trois-versions tbody tr", "rows => rows.map(r => r.innerText)")
    assert len(rows) == 3 and "version 1" in rows[0] and "version 2" in rows[1] and "collegue@sante.gouv.fr" in rows[1]
    assert "à partir de la version 1" in rows[2]
    assert "p1_formulaire" in page.inner_text("#differences-perime")      # the colleague's change
    assert "p1_perimetre" in page.inner_text("#differences-perime")       # the draft's own
    # The dry run waits until the owner says they have seen it.
    assert page.is_disabled("#bouton-essai")
    page.check("#vu-perime")
    assert page.is_enabled("#bouton-essai")
    shot(page, "modeleur-brouillon-perime")
    assert page.js_errors == []


def test_a_local_file_is_opened_and_the_draft_downloaded(page, tmp_path):
    open_modeller(page)
    page.on("dialog", lambda dialog: dialog.accept())
    broken = tmp_path / "casse.bpmn"
    broken.write_text("<pas du bpmn", encoding="utf-8")
    page.set_input_files("#ouvrir-fichier", str(broken))
    page.wait_for_selector("#etat-modeleur:has-text(\"n'a pas pu être ouvert comme BPMN\")")
    assert page.evaluate("() => !!window.SignalementModeler.modeler().get('elementRegistry').get('p3_qualifier')")
    local = tmp_path / "local.bpmn"
    local.write_text(deployment.active_definition().bpmn_xml.replace("Qualifier l'incident (tâche A)",
                                                                     "Qualifier l'incident (fichier local)"),
                     encoding="utf-8")
    page.set_input_files("#ouvrir-fichier", str(local))
    page.wait_for_selector("#etat-modeleur:has-text('local.bpmn')")
    page.wait_for_selector("#modeleur[data-draft='saved']")
    assert "Qualifier l'incident (fichier local)" in draft_xml().replace("&#39;", "'")
    with page.expect_download() as waiting:
        page.click("#bouton-telecharger")
    download = waiting.value
    assert download.suggested_filename == "processus-brouillon.bpmn"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert "Qualifier l'incident (fichier local)" in text.replace("&#39;", "'") and "spiffworkflow:serviceTaskOperator" in text
    assert page.js_errors == []
