"""Deploying is gated: another process id never replaces the current one, a broken file is refused with
nothing changed for declarants, lanes keep their role when renamed, and start data matches the validator."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from audit import replayer, verifier
from cli import scenarios
from engine import parsing, serialization
from engine.errors import EngineError
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, Structure, User, db
from tests.test_validation import PROCESS_ID, SHIPPED, broken
from tests.test_web_support import confirm_deployment, csrf, login
from validation.variables import START_DATA
from workflow import commands, context, deployment

OWNER = "processus@hfds.example.fr"
DECLARANT = "declarant.rennes@chu-rennes.example.fr"


def _upload(client, xml: str, name: str = "autre.bpmn"):
    return client.post("/admin/processus/deployer", data={"csrf_token": csrf(client),
                                                          "bpmn": (io.BytesIO(xml.encode()), name)},
                       content_type="multipart/form-data", follow_redirects=True)


def _definitions() -> int:
    return db.session.scalar(select(func.count()).select_from(ProcessDefinition))


def test_uploading_another_process_id_does_not_replace_the_current_one(app, client):
    login(client, OWNER)
    other = SHIPPED.replace(f'id="{PROCESS_ID}"', 'id="x"').replace(f'processRef="{PROCESS_ID}"', 'processRef="x"')
    page = _upload(client, other).get_data(as_text=True)
    assert "Le fichier BPMN est invalide (autre.bpmn) : rien n&#39;a été déployé" in page
    assert "autre.bpmn, élément « x »" in page and f"remplace « {PROCESS_ID} »" in page
    assert _definitions() == 1 and deployment.latest_definition().process_id == PROCESS_ID
    response = client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                           data={"csrf_token": csrf(client), "bpmn": (io.BytesIO(other.encode()), "autre.bpmn")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and response.json["problemes"][0]["element"] == "x"
    assert response.json["problemes"][0]["regle"] == "identifiant-processus"
    login(client, DECLARANT)
    assert client.get("/declarer").status_code == 200


def test_a_definition_of_another_process_never_becomes_the_latest(app, clock):
    first = deployment.latest_definition()
    db.session.add(ProcessDefinition(process_id="x", name="x", content_hash="0" * 64, bpmn_xml=first.bpmn_xml,
                                     forms=first.forms, spec_json=first.spec_json, deployed_at=clock.now(),
                                     deployed_by="test"))
    db.session.commit()
    assert deployment.latest_definition().id == first.id
    assert deployment.latest_definition("x").id != first.id
    dossier, _ = scenarios.run("b1", clock, until="p1_impact")
    assert db.session.get(ProcessInstance, dossier.instance_id).definition_id == first.id


def test_a_broken_file_is_refused_and_nothing_changes_for_declarants(app, runner, client, clock, tmp_path):
    path = tmp_path / "casse.bpmn"
    path.write_text(broken('>"P7D"<', ">P3D<").replace('serviceTaskOperator id="notifier"',
                                                       'serviceTaskOperator id="notifer"', 1), encoding="utf-8")
    result = runner.invoke(args=["deploy", str(path)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "Le fichier BPMN est invalide (casse.bpmn, 2 problèmes)" in result.output
    assert 'casse.bpmn, élément « p4_hebdo »' in result.output and 'écrivez "P3D" entre guillemets' in result.output
    assert "l'opérateur « notifer » n'est pas enregistré" in result.output
    assert _definitions() == 1
    login(client, DECLARANT)
    assert client.get("/declarer").status_code == 200
    dossier, _ = scenarios.run("b1", clock, until="p1_impact")
    assert scenarios.ready_task(dossier, "p1_impact").role == "declarant"


def test_renaming_lanes_changes_no_role(app, clock, tmp_path):
    xml = broken('<bpmn:lane id="lane_ars" name="ARS">', '<bpmn:lane id="lane_ars" name="Agence régionale">')
    xml = xml.replace('<bpmn:lane id="lane_acss" name="Cellule ACSS">', '<bpmn:lane id="lane_acss" name="Cellule">')
    renamed = deployment.deploy_xml(xml, filename="renomme.bpmn")
    assert renamed.id == deployment.latest_definition().id == 2
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    assert db.session.get(ProcessInstance, dossier.instance_id).definition_id == renamed.id
    assert scenarios.ready_task(dossier, "p4_choix").role == "ars"  # the label would have given nothing (acss)
    roles = {name: role for name, _, role in deployment.user_tasks(renamed)}
    assert roles["p4_choix"] == "ars" and roles["p3_qualifier"] == "acss" and roles["p1_impact"] == "declarant"
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    last = list(replayer.replay(instance))[-1]
    assert [(t["element"], t["role"]) for t in last.open_tasks] == [("p4_choix", "ars")]
    assert verifier.verify_dossier(dossier).ok


def test_the_start_data_is_what_the_validator_knows(app):
    declarant = db.session.scalar(select(User).where(User.email == DECLARANT))
    structure = db.session.get(Structure, declarant.structure_id)
    dossier = commands.start_dossier(structure, declarant, context.Actor.of(declarant),
                                     extra={"finess_site": structure.finess_et})
    instance_id = db.session.scalar(select(Dossier.instance_id).where(Dossier.id == dossier.id))
    start = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.seq == 1))
    assert set(start.payload["data"]) == START_DATA


def test_a_task_in_a_lane_of_unknown_role_is_refused_never_sent_to_acss(app, clock):
    """A version stored before lanes declared roles, whose declarant lane was renamed: no silent fallback."""
    legacy = re.sub(r'<bpmn:extensionElements>\s*<spiffworkflow:properties>\s*<spiffworkflow:property '
                    r'name="role"[^>]*/>\s*</spiffworkflow:properties>\s*</bpmn:extensionElements>', "", SHIPPED)
    legacy = legacy.replace('name="Déclarant (structure de santé)"', 'name="Établissement"')
    spec, subs = parsing.parse_bpmn(legacy)
    legacy_version = ProcessDefinition(process_id=PROCESS_ID, name="ancienne", content_hash="1" * 64, bpmn_xml=legacy,
                                       forms=deployment.latest_definition().forms, deployed_by="test",
                                       spec_json=serialization.spec_to_json(spec, subs), deployed_at=clock.now())
    db.session.add(legacy_version)
    db.session.flush()
    deployment.set_active(legacy_version)  # stored behind deploy's back: new dossiers start on the active version
    db.session.commit()
    dossiers = db.session.scalar(select(func.count()).select_from(Dossier))
    declarant = db.session.scalar(select(User).where(User.email == DECLARANT))
    with pytest.raises(EngineError) as excinfo:
        commands.start_dossier(db.session.get(Structure, declarant.structure_id), declarant,
                               context.Actor.of(declarant))
    assert excinfo.value.status == 409 and "« p1_perimetre » n'est dans aucune voie" in excinfo.value.message
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == dossiers


def test_a_save_that_only_moves_the_diagram_is_recognised_as_the_deployed_version(app, client):
    login(client, OWNER)
    moved = re.sub(r' x="(\d+)"', lambda m: f' x="{int(m.group(1)) + 40}"', SHIPPED)
    moved = moved.replace('exporter="signalement-ssi"', 'exporter="bpmn-js"').replace("\n", "\n  ")
    assert moved != SHIPPED
    page = _upload(client, moved).get_data(as_text=True)
    assert "a le même sens que la version 1" in page and _definitions() == 1
    page = _upload(client, moved.replace("Hôpital des armées ?", "Hôpital militaire ?"))
    assert _definitions() == 1  # nothing is deployed before the dry run is confirmed
    page = confirm_deployment(client, page).get_data(as_text=True)
    assert "Version 2 déployée" in page and _definitions() == 2
