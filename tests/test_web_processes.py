"""Process owners: download a version, deploy an uploaded BPMN, migrate a running dossier."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import func, select

from cli import scenarios
from models import ProcessDefinition, ProcessInstance, db
from tests.test_web_support import ADMIN, confirm_deployment, csrf, login

OWNER = "processus@hfds.example.fr"


def _upload(client, content: bytes, name="v2.bpmn"):
    return client.post("/admin/processus/deployer", data={"csrf_token": csrf(client), "bpmn": (io.BytesIO(content), name)},
                       content_type="multipart/form-data", follow_redirects=True)


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessDefinition))


def test_owner_deploys_a_new_version_and_migrates_a_dossier(app, client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    login(client, OWNER)
    original = client.get("/admin/processus/1.bpmn")
    assert original.status_code == 200 and b"signalement_incident_ssi" in original.data
    changed = original.data.replace("Choisir la modalité d'appui au traitement".encode(),
                                    "Choisir la modalité d'appui".encode())
    page = _upload(client, changed)
    assert "Essai avant déploiement" in page.get_data(as_text=True) and _count() == 1
    page = confirm_deployment(client, page)
    assert "Version 2 déployée" in page.get_data(as_text=True)
    page = _upload(client, changed)
    assert "déjà déployé (version 2)" in page.get_data(as_text=True)
    assert client.post("/admin/processus/migrer", data={"csrf_token": csrf(client), "dossier": dossier.number,
                                                        "version": "2"}).status_code == 403  # by number: admins only
    login(client, ADMIN)
    page = client.post("/admin/processus/migrer", data={"csrf_token": csrf(client), "dossier": dossier.number,
                                                        "version": "2"}, follow_redirects=True)
    assert f"Dossier {dossier.number} migré vers la version 2" in page.get_data(as_text=True)
    assert db.session.get(ProcessInstance, dossier.instance_id).definition_id == 2


def test_bad_uploads_are_refused_in_french(app, client):
    login(client, OWNER)
    page = _upload(client, b"<bpmn:definitions")
    assert page.status_code == 200 and "Le fichier BPMN est invalide" in page.get_data(as_text=True)
    page = _upload(client, "é".encode("latin-1"))
    assert "UTF-8" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ProcessDefinition)) == 1
    login(client, ADMIN)
    page = client.post("/admin/processus/migrer", data={"csrf_token": csrf(client), "dossier": "SSI-0", "version": "9"},
                       follow_redirects=True)
    assert "Dossier ou version inconnu" in page.get_data(as_text=True)


def test_other_roles_cannot_deploy(app, client):
    login(client, "analyste@acss.example.fr")
    xml = Path(app.config["PROCESS_FILE"]).read_bytes()
    response = client.post("/admin/processus/deployer", data={"csrf_token": csrf(client), "bpmn": (io.BytesIO(xml), "x.bpmn")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    assert client.get("/admin/processus/1.bpmn").status_code == 403
    login(client, "auditeur@igas.example.fr")
    assert client.post("/admin/processus/migrer", data={"csrf_token": csrf(client)}).status_code == 403
