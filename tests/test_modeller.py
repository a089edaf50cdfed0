"""The in-browser modeller's server side: drafts per user that never touch running dossiers, the validator's
problems named by element, a live form preview rendered by the task pages' code, hostile input refused, and a
lossless round trip of the process file through bpmn-moddle with the modeller's spiffworkflow extension."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import ModellerDraft, ProcessDefinition, db
from test_web_support import ACSS, ADMIN, DECLARANT, PROCESSUS, csrf, login
from validation import validator

ROOT = Path(__file__).resolve().parent.parent
PROCESS = ROOT / "processes" / "signalement_incident_ssi.bpmn"


def send(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json",
                       headers={"X-CSRFToken": csrf(client)})


def roundtrip(tmp_path, *edits) -> str:
    """The process file written back by bpmn-moddle with the modeller's extension (and the panel's edits)."""
    if not shutil.which("node") or not (ROOT / "node_modules" / "bpmn-moddle").exists():
        message = "bpmn-moddle absent (lancez `npm ci`) : l'aller-retour du modeleur n'est pas vérifié"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path / "sortie.bpmn"
    done = subprocess.run(["node", str(ROOT / "tests" / "modeller_roundtrip.mjs"), str(PROCESS), str(out), *edits],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["warnings"] == []
    return out.read_text(encoding="utf-8")


def test_only_process_owners_and_administrators_open_the_modeller(app, client):
    for email, status in ((PROCESSUS, 200), (ADMIN, 200), (ACSS, 403), (DECLARANT, 403)):
        login(client, email)
        assert client.get("/admin/processus/modeleur").status_code == status
        # Well-formed XML is kept as a draft for those who may edit (the validator judges it later), refused to others.
        assert send(client, "/admin/processus/modeleur/brouillon", {"xml": "<x/>"}).status_code == status
    login(client, PROCESSUS)
    page = client.get("/admin/processus/modeleur").get_data(as_text=True)
    config = json.loads(page.split('id="config-modeleur">')[1].split("</script>")[0])
    assert {"notifier", "changer_etat", "heures_ouvrees"} <= {o["name"] for o in config["operators"]}
    assert {"declarant", "ars", "acss", "hfds", "dgs", "armees"} == {r["code"] for r in config["roles"]}
    assert "p3-qualification.schema.json" in config["forms"] and config["moddle"]["prefix"] == "spiffworkflow"


def test_a_draft_is_per_user_and_changes_nothing_for_dossiers(app, client):
    login(client, PROCESSUS)
    original = client.get("/admin/processus/modeleur/fichier").get_json()
    edited = original["xml"].replace("Qualifier l'incident (tâche A)", "Qualifier l'incident signalé (tâche A)")
    assert edited != original["xml"]
    form = dict(original["forms"]["p3-qualification.schema.json"], title="Qualification (essai)")
    saved = send(client, "/admin/processus/modeleur/brouillon",
                 {"xml": edited, "forms": {"p3-qualification.schema.json": form,
                                           "p2-ouverture.schema.json": original["forms"]["p2-ouverture.schema.json"]}})
    assert saved.status_code == 200 and saved.get_json()["forms_changed"] == ["p3-qualification.schema.json"]
    again = client.get("/admin/processus/modeleur/fichier").get_json()
    assert again["xml"] == edited and again["forms"]["p3-qualification.schema.json"]["title"] == "Qualification (essai)"
    assert db.session.scalar(select(func.count(ProcessDefinition.id))) == 1          # nothing deployed
    other = app.test_client()
    login(other, ADMIN)
    assert other.get("/admin/processus/modeleur/fichier").get_json()["xml"] == original["xml"]
    assert send(client, "/admin/processus/modeleur/brouillon/abandonner", {}).status_code == 200
    assert client.get("/admin/processus/modeleur/fichier").get_json()["xml"] == original["xml"]


def test_hostile_or_malformed_drafts_are_refused(app, client):
    login(client, PROCESSUS)
    url = "/admin/processus/modeleur/brouillon"
    xxe = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</definitions>')
    bomb = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><d>&c;&c;&c;&c;</d>')
    for xml in (xxe, bomb, "<pas du xml", ""):
        refused = send(client, url, {"xml": xml})
        assert refused.status_code == 422 and "root:" not in refused.get_data(as_text=True)
    assert send(client, url, {"forms": {}}).status_code == 400
    assert client.post(url, data="xml=<x/>", headers={"X-CSRFToken": csrf(client)}).status_code == 400
    for name in ("../secret.schema.json", "/etc/x.schema.json", "x.py", ".cache.schema.json"):
        assert send(client, url, {"xml": PROCESS.read_text(), "forms": {name: {}}}).status_code == 400
    assert send(client, url, {"xml": PROCESS.read_text(), "forms": {"x.schema.json": "pas un objet"}}).status_code == 400
    assert client.post(url, data=json.dumps({"xml": "<x/>"}), content_type="application/json").status_code == 400  # no CSRF
    huge = send(client, url, {"xml": "<d>" + "x" * (2 * 1024 * 1024) + "</d>"})
    assert huge.status_code == 413
    assert db.session.scalar(select(func.count(ModellerDraft.id))) == 0


def test_the_check_names_the_element_of_each_problem(app, client):
    login(client, PROCESSUS)
    xml = PROCESS.read_text(encoding="utf-8")
    clean = send(client, "/admin/processus/modeleur/verifier", {"xml": xml, "forms": {}}).get_json()
    assert clean["ok"] and clean["problems"] == []
    broken = xml.replace('<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P7D"</bpmn:timeDuration>',
                         '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P7D</bpmn:timeDuration>')
    found = send(client, "/admin/processus/modeleur/verifier", {"xml": broken, "forms": {}}).get_json()
    assert not found["ok"]
    assert "p4_hebdo" in {p["element_id"] for p in found["problems"]}
    assert any("Une semaine sans point d'avancement" in p["line"] for p in found["problems"])


def test_the_form_preview_is_rendered_by_the_task_pages_code(app, client):
    login(client, PROCESSUS)
    forms = client.get("/admin/processus/modeleur/fichier").get_json()["forms"]
    shown = send(client, "/admin/processus/modeleur/apercu", {"schema": forms["p3-qualification.schema.json"],
                                                             "uischema": forms["p3-qualification.uischema.json"]})
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "<fieldset disabled>" in html and 'name="qualification"' in html
    planted = send(client, "/admin/processus/modeleur/apercu", {"schema": {
        "type": "object", "title": "<script>alert(1)</script>",
        "properties": {"x": {"type": "string", "title": "<img src=x onerror=alert(1)>"}}}})
    assert "<script>alert" not in planted.get_data(as_text=True) and "<img src=x" not in planted.get_data(as_text=True)
    invalid = send(client, "/admin/processus/modeleur/apercu", {"schema": {"type": "pas-un-type"}})
    assert invalid.status_code == 422 and "Schéma JSON invalide" in invalid.get_json()["detail"]


def test_the_process_survives_the_modellers_round_trip(app, tmp_path):
    written = roundtrip(tmp_path)
    report = validator.validate(written, app_forms(app), "aller-retour.bpmn", app.config["PROCESS_ID"], lint=False)
    assert report.ok, report.lines()
    original = validator.validate(PROCESS.read_text(encoding="utf-8"), app_forms(app), "x.bpmn", app.config["PROCESS_ID"],
                                  lint=False)
    assert sorted(original.spec.task_specs) == sorted(report.spec.task_specs)
    for extension in ("serviceTaskOperator", "parameter ", "property ", "postScript", "conditionExpression", "timeDuration"):
        assert PROCESS.read_text(encoding="utf-8").count(extension) == written.count(extension), extension
    edited = roundtrip(tmp_path, "p3_qualifier=Qualifier l'incident (révisé)", 'timer:p4_hebdo="P5D"')
    spec = validator.validate(edited, app_forms(app), "x.bpmn", app.config["PROCESS_ID"], lint=False).spec
    assert spec.task_specs["p3_qualifier"].bpmn_name == "Qualifier l'incident (révisé)"
    assert '"P5D"' in edited and '"P7D"' not in edited


def app_forms(app) -> dict:
    return db.session.scalar(select(ProcessDefinition).order_by(ProcessDefinition.id.desc()).limit(1)).forms


def test_a_new_form_is_checked_by_the_server_before_it_joins_the_draft(app, client):
    login(client, PROCESSUS)
    url = "/admin/processus/modeleur/formulaire"
    created = send(client, url, {"nom": "p4-point-etape", "titre": "Point d'étape"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["schema_name"] == "p4-point-etape.schema.json" and body["uischema_name"] == "p4-point-etape.uischema.json"
    assert body["schema"]["title"] == "Point d'étape" and body["schema"]["type"] == "object"
    given = {"type": "object", "title": "Choix", "properties": {"choix": {"type": "string", "enum": ["a", "b"]}}}
    assert send(client, url, {"nom": "choix-simple", "schema": given, "uischema": {}}).get_json()["schema"] == given
    for name in ("../secret", "P4-Majuscules", "a", "x.schema.json", "-tiret", "é-accent", "a" * 70):
        refused = send(client, url, {"nom": name})
        assert refused.status_code == 422 and "Nom de formulaire refusé" in refused.get_json()["detail"], name
    taken = send(client, url, {"nom": "p3-qualification"})
    assert taken.status_code == 409 and "existe déjà" in taken.get_json()["detail"]
    invalid = send(client, url, {"nom": "casse", "schema": {"type": "object", "properties": {"x": {"type": "pas-un-type"}}}})
    assert invalid.status_code == 422 and "Schéma JSON invalide" in invalid.get_json()["detail"]
    assert send(client, url, {"nom": "liste", "schema": {"type": "array"}}).status_code == 422
    assert send(client, url, {"nom": "gros", "schema": {"type": "object", "title": "x" * 200_000}}).status_code == 400
    assert send(client, url, {"nom": "pas-objet", "schema": "texte"}).status_code == 400
    assert send(client, url, {"titre": "sans nom"}).status_code == 400
    assert client.post(url, data=json.dumps({"nom": "sans-jeton"}), content_type="application/json").status_code == 400
    login(client, ACSS)
    assert send(client, url, {"nom": "p4-point-etape"}).status_code == 403
    # The form travels with the draft: saved with it, it is among the forms of the modeller's next opening.
    login(client, PROCESSUS)
    original = client.get("/admin/processus/modeleur/fichier").get_json()
    send(client, "/admin/processus/modeleur/brouillon", {"xml": original["xml"], "forms": {
        body["schema_name"]: body["schema"], body["uischema_name"]: body["uischema"]}})
    page = client.get("/admin/processus/modeleur").get_data(as_text=True)
    config = json.loads(page.split('id="config-modeleur">')[1].split("</script>")[0])
    assert "p4-point-etape.schema.json" in config["forms"]
    assert send(client, url, {"nom": "p4-point-etape"}).status_code == 409


def test_a_draft_keeps_its_base_version_and_says_when_it_is_stale(app, client):
    from workflow import deployment
    login(client, PROCESSUS)
    url = "/admin/processus/modeleur/trois-versions"
    alone = client.get(url).get_json()
    assert alone["stale"] is False and alone["draft"] is None and alone["base"]["id"] == alone["active"]["id"] == 1
    original = client.get("/admin/processus/modeleur/fichier").get_json()
    mine = original["xml"].replace("Identifier le périmètre de l'incident (tâche A)", "Identifier le périmètre (brouillon)")
    assert send(client, "/admin/processus/modeleur/brouillon", {"xml": mine}).status_code == 200
    assert client.get(url).get_json()["stale"] is False
    theirs = original["xml"].replace("Remplir et valider le formulaire de déclaration (tâche D)",
                                     "Remplir et valider la déclaration (tâche D)")
    assert deployment.deploy_xml(theirs, actor="collegue@sante.gouv.fr", forms=original["forms"], comment="Libellé").id == 2
    # Saving the draft again keeps the version it came from: it does not silently move onto the active one.
    assert send(client, "/admin/processus/modeleur/brouillon", {"xml": mine + " "}).status_code == 200
    assert client.get("/admin/processus/modeleur/fichier").get_json()["base_version"] == 1
    three = client.get(url).get_json()
    assert three["stale"] is True and three["base"]["id"] == 1 and three["active"]["id"] == 2
    assert three["active"]["active_since"] and three["active"]["deployed_by"] == "collegue@sante.gouv.fr"
    assert three["base"]["active_since"] is None and three["draft"]["base_id"] == 1
    differences = three["differences"]
    assert [e["id"] for e in differences["base_active"]["modifies"]] == ["p1_formulaire"]
    assert [e["id"] for e in differences["base_draft"]["modifies"]] == ["p1_perimetre"]
    assert {e["id"] for e in differences["active_draft"]["modifies"]} == {"p1_formulaire", "p1_perimetre"}
    assert differences["conflits"] == []
    # A draft that is no process at all still gets an answer (never a 500).
    assert send(client, "/admin/processus/modeleur/brouillon", {"xml": "<x/>"}).status_code == 200
    odd = client.get(url)
    assert odd.status_code == 200 and odd.get_json()["stale"] is True
    other = app.test_client()
    login(other, ADMIN)
    assert other.get(url).get_json()["stale"] is False                    # drafts are per user
    login(other, ACSS)
    assert other.get(url).status_code == 403
    # Starting again from the active version clears the warning.
    assert send(client, "/admin/processus/modeleur/brouillon/abandonner", {}).status_code == 200
    assert client.get(url).get_json()["stale"] is False
