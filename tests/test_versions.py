"""Versions of the process: upload -> dry run -> « Déployer »; forms travel with the BPMN; rollback by
activating an earlier version; migration preview and bulk migration of running dossiers, audited."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import func, select

from audit import verifier
from cli import scenarios
from models import (ActiveVersion, AuditEvent, DeploymentEvent, Dossier, PendingDeployment, ProcessDefinition,
                    ProcessInstance, Timer, db)
from tests.test_validation import SHIPPED
from tests.test_web_support import ACSS, ADMIN, DECLARANT, confirm_deployment, csrf, login
from workflow import commands, deployment

OWNER = "processus@hfds.example.fr"
BILAN = "p5-bilan.schema.json"


def _definitions() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessDefinition))


def _post_files(client, files):
    return client.post("/admin/processus/deployer", data={"csrf_token": csrf(client), "fichiers": files},
                       content_type="multipart/form-data", follow_redirects=True)


def _zip(xml: str, forms: dict) -> tuple:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("signalement.bpmn", xml)
        for name, value in forms.items():
            archive.writestr(f"forms/{name}", json.dumps(value))
    return (io.BytesIO(buffer.getvalue()), "version.zip")


def _new_dossier(clock) -> Dossier:
    dossier, _ = scenarios.run("b1", clock, until="p1_impact")
    return dossier


def _definition_of(dossier: Dossier) -> int:
    return db.session.get(ProcessInstance, dossier.instance_id).definition_id


def test_upload_with_forms_dry_run_deploy_and_rollback(app, client, clock):
    login(client, OWNER)
    shipped = deployment.active_definition()
    bilan = dict(shipped.forms[BILAN], description="Bilan revu en 2026")
    candidate = SHIPPED.replace('"P7D"', '"P3D"')
    page = _post_files(client, [_zip(candidate, {BILAN: bilan})])
    text = page.get_data(as_text=True)
    # The dry run: validator, semantic difference (the timer and the form), the scenarios on both versions.
    assert "Essai avant déploiement" in text and "Aucun problème trouvé par le validateur" in text
    assert "<code>TimerDef_p4_hebdo</code> minuteur" in text and f"modifié : {BILAN}" in text
    assert text.count("<tr data-scenario=") == len(scenarios.SCENARIOS) and "Même parcours." in text
    assert _definitions() == 1  # nothing deployed yet: declarants still start on version 1
    login(client, DECLARANT)
    assert client.get("/declarer").status_code == 200
    assert _definition_of(_new_dossier(clock)) == shipped.id
    # A pending deployment is its uploader's alone.
    token = db.session.scalar(select(PendingDeployment.token))
    login(client, ADMIN)
    assert client.get(f"/admin/processus/essai/{token}").status_code == 404
    assert client.post(f"/admin/processus/essai/{token}/deployer",
                       data={"csrf_token": csrf(client), "commentaire": "x"}).status_code == 404
    login(client, OWNER)
    page = client.post(f"/admin/processus/essai/{token}/deployer", data={"csrf_token": csrf(client), "commentaire": " "},
                       follow_redirects=True)
    assert "Indiquez en commentaire" in page.get_data(as_text=True) and _definitions() == 1
    page = confirm_deployment(client, client.get(f"/admin/processus/essai/{token}"), "Point hebdomadaire tous les 3 jours")
    text = page.get_data(as_text=True)
    assert "Version 2 déployée" in text and "Point hebdomadaire tous les 3 jours" in text
    second = deployment.active_definition()
    assert second.id == 2 and second.forms[BILAN] == bilan and second.forms["p5-cloture.schema.json"]
    assert _definition_of(_new_dossier(clock)) == 2
    assert db.session.scalar(select(func.count()).select_from(PendingDeployment)) == 0
    # Rollback: activating version 1 is audited (who, when, why) and new dossiers start on it.
    page = client.post("/admin/versions/1/activer", data={"csrf_token": csrf(client), "commentaire": ""},
                       follow_redirects=True)
    assert "Indiquez pourquoi" in page.get_data(as_text=True) and deployment.active_definition().id == 2
    page = client.post("/admin/versions/1/activer", data={"csrf_token": csrf(client),
                                                          "commentaire": "Retour arrière : délai contesté"},
                       follow_redirects=True)
    assert "Version 1 activée" in page.get_data(as_text=True)
    assert deployment.active_definition().id == 1 and _definition_of(_new_dossier(clock)) == 1
    event = db.session.scalar(select(DeploymentEvent).where(DeploymentEvent.action == "activation"))
    assert (event.definition_id, event.previous_id, event.actor, event.comment) == (
        1, 2, OWNER, "Retour arrière : délai contesté")
    history = client.get("/admin/versions/").get_data(as_text=True)
    assert "Activation" in history and "Retour arrière : délai contesté" in history
    # The same content again is recognised as its version and deploys nothing (nor reactivates it).
    page = _post_files(client, [_zip(candidate, {BILAN: bilan})]).get_data(as_text=True)
    assert "déjà déployé (version 2)" in page and "version antérieure" in page
    assert _definitions() == 2 and deployment.active_definition().id == 1
    # A restart deploys the shipped file: it is version 1, the rollback stands.
    deployment.deploy(app.config["PROCESS_FILE"])
    assert deployment.active_definition().id == 1 and db.session.get(ActiveVersion, second.process_id)


def test_the_dry_run_shows_paths_that_change_and_a_broken_file_changes_nothing(app, client):
    login(client, OWNER)
    renamed = SHIPPED.replace("p4_analyse", "p4_causes")
    text = _post_files(client, [(io.BytesIO(renamed.encode()), "renomme.bpmn")]).get_data(as_text=True)
    assert "Éléments ajoutés" in text and "<code>p4_causes</code>" in text and "<code>p4_analyse</code>" in text
    assert "<strong>Échec</strong>" in text and "pas de tâche « p4_analyse » ouverte" in text
    assert "Analyser les causes" in text  # the paths are told with element names
    # The scenarios now wait on the renamed task: said with its label, not as the end of the path nor a list.
    assert "en attente de « Analyser les causes de l&#39;incident »" in text and "[&#39;" not in text
    assert _definitions() == 1
    broken = SHIPPED.replace('<spiffworkflow:property name="role" value="ars" />',
                             '<spiffworkflow:property name="role" value="inconnu" />')
    text = _post_files(client, [(io.BytesIO(broken.encode()), "casse.bpmn")]).get_data(as_text=True)
    assert "Le fichier BPMN est invalide (casse.bpmn)" in text and _definitions() == 1
    response = client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "fichiers": [(io.BytesIO(b"x"), "p.zip")]},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "archive zip lisible" in response.json["erreur"]
    assert _definitions() == 1 and deployment.active_definition().id == 1
    # A program gets the dry run as JSON (202), then confirms; the shipped file again is version 1 (200).
    response = client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "fichiers": [(io.BytesIO(renamed.encode()), "r.bpmn")]},
                           content_type="multipart/form-data")
    assert response.status_code == 202 and len(response.json["rapport"]["scenarios"]) == len(scenarios.SCENARIOS)
    assert {"id": "p4_causes", "type": "userTask", "nom": "Analyser les causes de l'incident"} in \
        response.json["rapport"]["diff"]["ajoutes"]
    # The renamed task changes the paths of the scenarios that reach it: each must be accepted explicitly.
    changed = [s["nom"] for s in response.json["rapport"]["scenarios"] if s["different"]]
    assert "grave_acss" in changed and not any(s["bloquant"] for s in response.json["rapport"]["scenarios"])
    refused = client.post(response.json["confirmer"], headers={"Accept": "application/json"},
                          data={"csrf_token": csrf(client), "commentaire": "Renommage", "accepter": changed[1:]})
    assert refused.status_code == 422 and f"({changed[0]}) diffère" in " ".join(refused.json["raisons"])
    assert deployment.active_definition().id == 1
    page = client.post(response.json["confirmer"], data={"csrf_token": csrf(client), "commentaire": "Renommage",
                                                         "accepter": changed}, follow_redirects=True)
    assert "Version 2 déployée" in page.get_data(as_text=True) and deployment.active_definition().id == 2
    response = client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "fichiers": [(io.BytesIO(SHIPPED.encode()), "s.bpmn")]},
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["version"] == 1 and _definitions() == 2


def _waiting_dossiers(clock) -> dict:
    found = {}
    for key, name, until in [("qualifier", "b1", "p3_qualifier"), ("choix", "grave_ars", "p4_choix"),
                             ("suivi", "grave_acss", "p4_accompagner"), ("suivi_bis", "impact_sanitaire", "p4_accompagner"),
                             ("militaire", "militaire_impact_soins", "mil_traiter")]:
        found[key], _ = scenarios.run(name, clock, until=until)
    return found


def _due(dossier: Dossier):
    return db.session.scalar(select(Timer.due_at).where(Timer.instance_id == dossier.instance_id,
                                                       Timer.status == "pending"))


def test_versions_page_migration_preview_and_bulk_migration(app, client, clock):
    dossiers = _waiting_dossiers(clock)
    v2_xml = SHIPPED.replace("p4_choix", "p4_modalite").replace('"P7D"', '"P3D"')
    second = deployment.deploy_xml(v2_xml, actor="test", comment="Modalité renommée, point tous les 3 jours")
    assert deployment.active_definition().id == second.id == 2
    login(client, ACSS)
    assert client.get("/admin/versions/").status_code == 403
    assert client.get("/admin/versions/1/migration?vers=2").status_code == 403
    login(client, OWNER)
    assert client.get("/dossiers").status_code == 403  # the versions page is how owners see running dossiers
    text = client.get("/admin/versions/").get_data(as_text=True)
    for key in ("qualifier", "choix", "suivi", "suivi_bis"):
        assert dossiers[key].number in text
    assert dossiers["militaire"].number not in text and "dont 1 dossier sans numéro affiché" in text
    text = client.get("/admin/versions/1").get_data(as_text=True)
    for element, count in [("p3_qualifier", 1), ("p4_choix", 1), ("p4_accompagner", 2), ("p4_hebdo", 2),
                           ("mil_traiter", 1)]:
        assert f'<tr data-element="{element}">' in text and f'data-label="Dossiers">{count}</td>' in text
    assert "Une semaine sans point" in text and "data-counts" in text
    # Preview: who can move, who cannot and why, by the element where each waits; the timer choice.
    text = client.get("/admin/versions/1/migration?vers=2").get_data(as_text=True)
    assert '<strong id="possibles">4</strong>' in text and '<strong id="impossibles">1</strong>' in text
    assert "« p4_choix » (où il attend) n&#39;existe plus dans la version 2" in text
    assert 'P7D → P3D' in text and "Conserver l'échéance" in text and "Recalculer avec la nouvelle durée" in text
    # One dossier moved alone keeps its timer's due date; the bulk move recalculates the others'.
    kept_due = _due(dossiers["suivi_bis"])
    assert client.post("/admin/processus/migrer", data={"csrf_token": csrf(client), "dossier": dossiers["suivi_bis"].number,
                                                        "version": "2"}).status_code == 403  # by number: admins only
    login(client, ADMIN)
    page = client.post("/admin/processus/migrer", data={"csrf_token": csrf(client), "dossier": dossiers["suivi_bis"].number,
                                                        "version": "2"}, follow_redirects=True)
    assert "migré vers la version 2" in page.get_data(as_text=True) and _due(dossiers["suivi_bis"]) == kept_due
    login(client, OWNER)
    page = client.post("/admin/versions/1/migration", data={"csrf_token": csrf(client), "vers": "2"},
                       follow_redirects=True)
    assert "Choisissez ce que deviennent les minuteurs" in page.get_data(as_text=True)
    assert _definition_of(dossiers["qualifier"]) == 1
    old_due = _due(dossiers["suivi"])
    text = client.post("/admin/versions/1/migration", data={"csrf_token": csrf(client), "vers": "2",
                                                             "minuteurs": "recalculer"}).get_data(as_text=True)
    assert "3 dossiers migrés, 1 dossier resté sur la version 1" in text
    assert f'data-dossier="{dossiers["choix"].number}"><td data-label="Dossier">{dossiers["choix"].number}</td>' in text
    assert "Non migré : l&#39;élément « p4_choix »" in text
    assert [_definition_of(dossiers[k]) for k in ("qualifier", "choix", "suivi", "militaire")] == [2, 1, 2, 2]
    assert _due(dossiers["suivi"]) == old_due - timedelta(days=4)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == dossiers["suivi"].instance_id)
                              .order_by(AuditEvent.seq.desc()).limit(1))
    assert event.command == "migration" and event.actor == OWNER
    assert (event.payload["from_definition"], event.payload["to_definition"], event.payload["timers"]) == (1, 2, "recalculer")
    history = db.session.scalar(select(DeploymentEvent).where(DeploymentEvent.action == "migration"))
    assert history.details["migres"] == 3 and history.details["refuses"] == 1
    # The migrated dossiers go on with the new version; replay loads each version in turn and verifies.
    clock.set(old_due - timedelta(days=4) + timedelta(minutes=1))
    assert scenarios.fire_due_timers(clock.now()) == 1  # the recalculated weekly point fired on the 3-day due
    row = scenarios.ready_task(db.session.get(Dossier, dossiers["qualifier"].id), "p3_qualifier")
    commands.complete_task(row.id, scenarios.qualification("grave"), scenarios.actor_for(row))
    assert scenarios.ready_task(db.session.get(Dossier, dossiers["qualifier"].id), "p4_modalite")
    for dossier in dossiers.values():
        result = verifier.verify_dossier(db.session.get(Dossier, dossier.id))
        assert result.ok, (dossier.number, result.reason)


def test_cli_deploys_with_a_comment_and_activates_an_earlier_version(app, runner, tmp_path):
    path = tmp_path / "v2.bpmn"
    path.write_text(SHIPPED.replace('"P7D"', '"P5D"'), encoding="utf-8")
    result = runner.invoke(args=["deploy", str(path), "--commentaire", "Point tous les 5 jours"])
    assert result.exit_code == 0 and "Version 2" in result.output and deployment.active_definition().id == 2
    result = runner.invoke(args=["activate-version", "1", "--commentaire", "Retour à la semaine"])
    assert result.exit_code == 0 and deployment.active_definition().id == 1
    result = runner.invoke(args=["activate-version", "1", "--commentaire", "encore"])
    assert result.exit_code != 0 and "déjà la version active" in result.output
    result = runner.invoke(args=["activate-version", "99", "--commentaire", "x"])
    assert result.exit_code != 0 and "inconnue" in result.output
    comments = db.session.scalars(select(DeploymentEvent.comment).order_by(DeploymentEvent.id)).all()
    assert comments[-2:] == ["Point tous les 5 jours", "Retour à la semaine"]
