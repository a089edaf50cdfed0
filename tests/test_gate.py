"""One gate on every deploy path: `flask deploy`, the start command (init-db), the web upload and the modeller's
path to deployment all run the validator, then the dry run, and refuse the same versions; a changed scenario
path is deployed only once accepted, scenario by scenario, and the acceptance is recorded with the version."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest
from sqlalchemy import func, select

from models import ModellerDraft, PendingDeployment, ProcessDefinition, ScenarioAcceptance, db
from tests.test_validation import SHIPPED
from tests.test_validation_loops import gateway_that_can_fail, looping_service_task
from tests.test_web_support import PROCESSUS, csrf, login
from workflow import deployment

# Passes the validator (the names exist, the syntax is allowed) but fails at run time in every scenario that
# reaches phase 4 with the Cellule ACSS: the engine cannot evaluate the condition.
FAILING_AT_RUN_TIME = SHIPPED.replace('similaires["nombre"] &gt; 0', 'similaires["total"] &gt; 0')
# The DGS's lane now declares the HFDS/FSSI: the alert analysis goes to another inbox (a path difference).
DGS_TO_HFDS = SHIPPED.replace('<spiffworkflow:property name="role" value="dgs" />',
                              '<spiffworkflow:property name="role" value="hfds" />')
REFUSED_BY_THE_VALIDATOR = {
    "passerelle.bpmn": (gateway_that_can_fail(), "« p4_gw_similaires » (Incidents similaires en cours ?) : la "
                        "passerelle n'a pas de flux par défaut"),
    "boucle.bpmn": (looping_service_task(), "« p1_heures » (Contrôler les heures ouvrées de la Cellule ACSS) : la "
                    "tâche se répète (boucle standard) sans nombre maximal d'itérations"),
}


def _definitions() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessDefinition))


def _upload(client, xml: str, name: str = "candidat.bpmn", **headers):
    return client.post("/admin/processus/deployer", headers=headers, follow_redirects=not headers,
                       data={"csrf_token": csrf(client), "bpmn": (io.BytesIO(xml.encode()), name)},
                       content_type="multipart/form-data")


def _from_the_modeller(client, xml: str):
    """What the modeller's « Essai à blanc puis déploiement… » does: save the draft, then post it for the dry run."""
    saved = client.post("/admin/processus/modeleur/brouillon", data=json.dumps({"xml": xml, "forms": {}}),
                        content_type="application/json", headers={"X-CSRFToken": csrf(client)})
    assert saved.status_code == 200
    return _upload(client, xml, "processus.bpmn")


def _confirm_url(text: str) -> str:
    token = db.session.scalar(select(PendingDeployment.token))
    return f"/admin/processus/essai/{token}/deployer"


def test_the_validator_refuses_dead_ends_and_unbounded_loops_on_every_path(app, runner, client, tmp_path, caplog):
    login(client, PROCESSUS)
    for name, (xml, reason) in REFUSED_BY_THE_VALIDATOR.items():
        path = tmp_path / name
        path.write_text(xml, encoding="utf-8")
        # flask deploy
        result = runner.invoke(args=["deploy", str(path), "--commentaire", "essai"])
        assert result.exit_code != 0 and f"{name}, élément {reason}" in result.output
        assert "Traceback" not in result.output and str(tmp_path) not in result.output
        # the start command: the configured file does not pass, the active version stays, the app still starts
        app.config["PROCESS_FILE"] = str(path)
        with caplog.at_level(logging.WARNING):
            result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert f"Le fichier de processus configuré ({name}) n'est pas déployé : la version 1 reste active" in result.output
        assert reason in result.output and "version active conservée" in result.output
        assert any("la version 1 reste active" in r.getMessage() for r in caplog.records)
        # the web upload (page and JSON) and the modeller's check and path to deployment
        page = _upload(client, xml, name).get_data(as_text=True)
        assert f"Le fichier BPMN est invalide ({name})" in page and reason.replace("'", "&#39;") in page
        response = _upload(client, xml, name, Accept="application/json")
        assert response.status_code == 422 and reason in " ".join(p["message"] for p in response.json["problemes"])
        checked = client.post("/admin/processus/modeleur/verifier", data=json.dumps({"xml": xml, "forms": {}}),
                              content_type="application/json", headers={"X-CSRFToken": csrf(client)})
        assert checked.json["ok"] is False and reason in " ".join(p["line"] for p in checked.json["problems"])
        page = _from_the_modeller(client, xml).get_data(as_text=True)
        assert "Le fichier BPMN est invalide (processus.bpmn)" in page
        assert _definitions() == 1 and deployment.active_definition().id == 1
    assert client.get("/admin/versions/").status_code == 200  # the application serves on version 1


def test_a_failing_scenario_forbids_the_deployment_on_every_path(app, runner, client, tmp_path, caplog):
    login(client, PROCESSUS)
    # The web upload: the report says why, and « Déployer » is not offered.
    page = _upload(client, FAILING_AT_RUN_TIME).get_data(as_text=True)
    assert "Aucun problème trouvé par le validateur" in page and "Déploiement impossible" in page
    assert 'id="form-deployer"' not in page and ">Déployer</button>" not in page
    assert ("L&#39;expression « similaires[&#34;total&#34;] &gt; 0 » n&#39;a pas pu être évaluée à « Incidents "
            "similaires en cours ? » (p4_gw_similaires)") in page
    assert "<strong>Échec</strong> (bloquant)" in page and "Error evaluating" not in page
    # Posting the confirmation anyway (every scenario ticked) deploys nothing.
    every = ["b1", "grave_acss", "grave_ars", "grave_4bis_similaire", "impact_sanitaire", "hors_heures"]
    response = client.post(_confirm_url(page), headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "commentaire": "Forcer", "accepter": every})
    assert response.status_code == 422
    assert any("le scénario « Incident grave, appui confié à la Cellule ACSS » (grave_acss) échoue" in line
               for line in response.json["raisons"])
    page = client.post(_confirm_url(page), data={"csrf_token": csrf(client), "commentaire": "Forcer", "accepter": every},
                       follow_redirects=True).get_data(as_text=True)
    assert "Rien n&#39;a été déployé" in page and _definitions() == 1
    # The modeller's path is the same upload: same refusal.
    page = _from_the_modeller(client, FAILING_AT_RUN_TIME).get_data(as_text=True)
    assert "Déploiement impossible" in page and 'id="form-deployer"' not in page
    assert db.session.scalar(select(ModellerDraft.id)) is not None and _definitions() == 1
    # flask deploy prints the same report and refuses, even with every scenario « accepted ».
    path = tmp_path / "echec.bpmn"
    path.write_text(FAILING_AT_RUN_TIME, encoding="utf-8")
    args = ["deploy", str(path), "--commentaire", "Forcer"] + [a for name in every for a in ("--accepter", name)]
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "ÉCHEC  grave_acss : L'expression « similaires[\"total\"] > 0 » n'a pas pu être évaluée" in result.output
    assert "OK     b1 : état final « clôturé »" in result.output
    assert "La version (echec.bpmn) n'est pas déployée" in result.output and _definitions() == 1
    # The start command keeps the active version and says why; the application still starts.
    app.config["PROCESS_FILE"] = str(path)
    with caplog.at_level(logging.WARNING):
        result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "la version 1 reste active" in result.output
    assert "le scénario « Incident grave, appui confié à la Cellule ACSS » (grave_acss) échoue" in result.output
    assert _definitions() == 1 and deployment.active_definition().id == 1
    assert client.get("/admin/versions/").status_code == 200


def test_a_changed_path_is_deployed_only_once_accepted_and_the_acceptance_is_recorded(app, client):
    login(client, PROCESSUS)
    page = _upload(client, DGS_TO_HFDS).get_data(as_text=True)
    row = re.search(r'<tr data-scenario="impact_sanitaire" class="ecart">(.*?)</tr>', page, re.S)
    assert row, "the changed scenario is not marked"
    cells = row.group(1)
    # Side by side: the same task, worked by the DGS on the active version and by the HFDS/FSSI on the new one.
    assert "(DGS)" in cells and "(HFDS/FSSI)" in cells and 'name="accepter" value="impact_sanitaire"' in cells
    assert page.count('name="accepter"') == 1 and 'id="form-deployer"' in page
    # Without the acceptance (or without a comment), nothing is deployed.
    page = client.post(_confirm_url(page), data={"csrf_token": csrf(client), "commentaire": "Alerte au FSSI"},
                       follow_redirects=True).get_data(as_text=True)
    assert "(impact_sanitaire) diffère de celui de la version active : acceptez explicitement cet écart" in page
    assert _definitions() == 1
    page = client.post(_confirm_url(page), data={"csrf_token": csrf(client), "commentaire": "Alerte au FSSI",
                                                 "accepter": "impact_sanitaire"}, follow_redirects=True)
    assert "Version 2 déployée" in page.get_data(as_text=True) and deployment.active_definition().id == 2
    accepted = db.session.scalars(select(ScenarioAcceptance)).all()
    assert [(a.definition_id, a.previous_id, a.scenario, a.actor, a.comment) for a in accepted] == [
        (2, 1, "impact_sanitaire", PROCESSUS, "Alerte au FSSI")]
    assert accepted[0].at == app.extensions["clock"].now()
    assert [s["role"] for s in accepted[0].details["etapes_apres"] if s["id"] == "p3_dgs_analyse"] == ["hfds"]
    shown = client.get("/admin/versions/2").get_data(as_text=True)
    table = shown[shown.index('id="acceptations"'):]
    assert "impact_sanitaire" in table and PROCESSUS in table and "Alerte au FSSI" in table
    assert "(HFDS/FSSI)" in table and "(DGS)" in table


def test_flask_deploy_deploys_a_changed_path_only_with_its_acceptance(app, runner, tmp_path):
    path = tmp_path / "fssi.bpmn"
    path.write_text(DGS_TO_HFDS, encoding="utf-8")
    app.config["PROCESS_FILE"] = str(path)  # at start, nobody is there to accept the change: it waits
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "la version 1 reste active" in result.output and "--accepter SCÉNARIO" in result.output
    assert _definitions() == 1
    result = runner.invoke(args=["deploy", str(path), "--commentaire", "Alerte au FSSI"])
    assert result.exit_code != 0 and _definitions() == 1
    assert "ÉCART  impact_sanitaire" in result.output and "à accepter avec --accepter impact_sanitaire" in result.output
    assert "(DGS)" in result.output and "(HFDS/FSSI)" in result.output
    assert "(impact_sanitaire) diffère de celui de la version active" in result.output
    result = runner.invoke(args=["deploy", str(path), "--accepter", "impact_sanitaire"])
    assert result.exit_code != 0 and "indiquez en commentaire" in result.output and _definitions() == 1
    result = runner.invoke(args=["deploy", str(path), "--accepter", "inconnu", "--commentaire", "x"])
    assert result.exit_code != 0 and "scénario inconnu : inconnu" in result.output
    result = runner.invoke(args=["deploy", str(path), "--accepter", "impact_sanitaire", "--commentaire", "Alerte au FSSI"])
    assert result.exit_code == 0, result.output
    assert deployment.active_definition().id == 2
    accepted = db.session.scalars(select(ScenarioAcceptance)).all()
    assert [(a.scenario, a.actor, a.comment) for a in accepted] == [("impact_sanitaire", "ligne de commande",
                                                                      "Alerte au FSSI")]


@pytest.fixture(scope="module")
def bare_app():
    """An application with no database of its own: the dry run makes throwaway ones."""
    from app import create_app
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "t"})
    with application.app_context():
        yield application


def test_validator_bypassed_the_dry_run_stops_a_loop_within_its_budget(bare_app):
    import time
    forms = deployment.current_forms()
    bare_app.config.update(DRY_RUN_STEPS=120, DRY_RUN_SCENARIO_SECONDS=30, DRY_RUN_SECONDS=120)
    started = time.monotonic()
    rows = bare_app.extensions["dry_run"](looping_service_task(), forms, None)
    assert time.monotonic() - started < 120
    assert all(r["bloquant"] for r in rows)
    assert rows[0]["erreur"] == ("Le scénario b1 dépasse son budget (120 étapes) : boucle sur « Contrôler les heures "
                                 "ouvrées de la Cellule ACSS » (p1_heures)")
    # Without a step budget that stops it, the scenario's process is killed at its wall-clock budget.
    bare_app.config.update(DRY_RUN_STEPS=10 ** 9, DRY_RUN_SCENARIO_SECONDS=3, DRY_RUN_SECONDS=12)
    started = time.monotonic()
    rows = bare_app.extensions["dry_run"](looping_service_task(), forms, None)
    spent = time.monotonic() - started
    assert spent < 12 + 10, spent  # DRY_RUN_SECONDS bounds the whole run (plus the kill and join)
    assert rows[0]["bloquant"] and rows[0]["erreur"] == ("Le scénario b1 dépasse son budget (3 s) : arrêté alors "
                                                         "qu'il tournait sur « Contrôler les heures ouvrées de la Cellule "
                                                         "ACSS » (p1_heures)")
    assert all(r["bloquant"] for r in rows)
    # The gateway whose conditions can all be false, told in French with its label.
    bare_app.config.update(DRY_RUN_STEPS=500, DRY_RUN_SCENARIO_SECONDS=20, DRY_RUN_SECONDS=120)
    rows = {r["nom"]: r for r in bare_app.extensions["dry_run"](gateway_that_can_fail(), forms, None)}
    assert rows["grave_acss"]["bloquant"] and rows["grave_acss"]["erreur"] == (
        "Aucune condition n'est remplie à la passerelle « Incidents similaires en cours ? » (p4_gw_similaires) et "
        "elle n'a pas de flux par défaut")
    assert not rows["b1"]["bloquant"] and rows["b1"]["erreur"] is None


def test_a_dry_run_made_against_another_active_version_is_made_again_before_deploying(app, client):
    login(client, PROCESSUS)
    page = _upload(client, DGS_TO_HFDS).get_data(as_text=True)
    assert 'value="impact_sanitaire"' in page
    # A colleague activates another version meanwhile: the acceptance read against version 1 no longer holds.
    other = deployment.deploy_xml(SHIPPED.replace("Hôpital des armées ?", "Hôpital militaire ?"), actor="collègue",
                                  filename="autre.bpmn")
    assert deployment.active_definition().id == other.id == 2
    page = client.post(_confirm_url(page), data={"csrf_token": csrf(client), "commentaire": "Alerte au FSSI",
                                                 "accepter": "impact_sanitaire"}, follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "La version active a changé depuis l&#39;essai (c&#39;est maintenant la version 2)" in text
    assert "Comparaison avec la version active (2)" in text and _definitions() == 2
    assert deployment.active_definition().id == 2 and not db.session.scalar(select(func.count()).select_from(
        ScenarioAcceptance))
    page = client.post(_confirm_url(text), data={"csrf_token": csrf(client), "commentaire": "Alerte au FSSI",
                                                 "accepter": "impact_sanitaire"}, follow_redirects=True)
    assert "Version 3 déployée" in page.get_data(as_text=True)
    assert db.session.scalar(select(ScenarioAcceptance.previous_id)) == 2


def test_a_dry_run_that_could_not_run_forbids_the_deployment(app, client):
    login(client, PROCESSUS)
    app.config["DRY_RUN_SECONDS"] = 0  # no time at all: no scenario runs, so nothing may be deployed
    page = _upload(client, SHIPPED.replace("Hôpital des armées ?", "Hôpital des armées (sans délai) ?"))
    text = page.get_data(as_text=True)
    assert "Déploiement impossible" in text and 'id="form-deployer"' not in text
    assert "non exécuté : durée de l&#39;essai dépassée" in text
    response = client.post(_confirm_url(text), headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "commentaire": "Sans essai"})
    assert response.status_code == 422 and _definitions() == 1
