"""Differences between versions, value by value: each kind of change (timer, condition, lane role, form field,
operator parameter, deadline) shows its value before and after, in the dry run's report (JSON and page);
comparison is canonical, so the active version passed through bpmn-moddle, or written with other namespace
prefixes, explicit defaults and another layout, is recognised as that version; and a modeller draft knows its
base version, so a colleague's activation since is told with the three versions."""
from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import render_template

from models import ModellerDraft, db
from tests.test_validation import SHIPPED
from tests.test_web_support import ACSS, ADMIN, PROCESSUS, confirm_deployment, csrf, login
from workflow import canonical, deployment, differences

ROOT = Path(__file__).resolve().parent.parent
QUALIF = "p3-qualification.schema.json"
CONDITION = 'heures_ouvrees["hors_heures"] and besoin_aide_urgente'
PARAMETER = """<spiffworkflow:parameter id="destinataires" type="any" value="['declarant']" />"""


def _edited(old: str, new: str, text: str = SHIPPED) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _in_element(element: str, old: str, new: str, text: str = SHIPPED) -> str:
    """The text with one edit inside the element of that id."""
    found = re.search(rf'<bpmn:(\w+) id="{element}".*?</bpmn:\1>', text, re.S)
    assert found and old in found.group(0), (element, old)
    return text.replace(found.group(0), found.group(0).replace(old, new, 1))


def _with_deadline(text: str, duration: str) -> tuple[str, str | None]:
    """The text with p3_qualifier's targetDuration set to `duration`, and the value it had (None if none)."""
    task = re.search(r'<bpmn:userTask id="p3_qualifier".*?</bpmn:userTask>', text, re.S)
    body = task.group(0)
    found = re.search(r'<spiffworkflow:property name="targetDuration" value="([^"]*)" />', body)
    if found:
        changed = body.replace(found.group(0), f'<spiffworkflow:property name="targetDuration" value="{duration}" />')
    else:
        changed = body.replace("<spiffworkflow:properties>", "<spiffworkflow:properties>\n          "
                               f'<spiffworkflow:property name="targetDuration" value="{duration}" />', 1)
    return text.replace(body, changed), found.group(1) if found else None


def _qualification_form(forms: dict) -> dict:
    form = json.loads(json.dumps(forms[QUALIF]))
    form["properties"]["criticite"]["title"] = "Niveau de criticité"
    form["properties"]["analyse_qualification"]["maxLength"] = 5000
    form["properties"]["precision_essai"] = {"type": "string", "title": "Précision (essai)", "maxLength": 200}
    return form


def _change(diff: dict, element: str, key: str) -> dict:
    for entry in diff["modifies"]:
        if entry["id"] == element:
            for change in entry["changements"]:
                if change["cle"] == key:
                    return change
    raise AssertionError(f"no change {key} of {element} in {json.dumps(diff['modifies'], ensure_ascii=False)[:2000]}")


def _upload(client, xml: str, forms: dict | None = None):
    files = [(io.BytesIO(xml.encode()), "candidat.bpmn")]
    files += [(io.BytesIO(json.dumps(v).encode()), name) for name, v in (forms or {}).items()]
    return client.post("/admin/processus/deployer", headers={"Accept": "application/json"},
                       data={"csrf_token": csrf(client), "fichiers": files}, content_type="multipart/form-data")


def _shown(page: str, selector: str) -> str:
    """The text of the page's element that opens with `selector` (up to its closing tag), unescaped."""
    start = page.index(selector)
    tag = selector[1:].split()[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", page[start:page.index(f"</{tag}>", start)]))


# Each kind of change: (candidate text and forms from the active version's, element, key, before, after, label).
def _timer(active):
    return _edited('"P7D"', '"P3D"'), {}, "TimerDef_p4_hebdo", "timeDuration", "P7D (7 jours)", "P3D (3 jours)", \
        "Expression du minuteur"


def _condition(active):
    new = 'heures_ouvrees["hors_heures"] or besoin_aide_urgente'
    return _edited(CONDITION, new), {}, "flow_p1_gw_hno__p1_fssi_split", "conditionExpression", CONDITION, new, \
        "Condition"


def _lane_role(active):
    return _edited('<spiffworkflow:property name="role" value="dgs" />',
                   '<spiffworkflow:property name="role" value="hfds" />'), {}, "lane_dgs", "property:role", \
        "DGS", "HFDS/FSSI", "Rôle du couloir"


def _parameter(active):
    return _in_element("p3_demande", PARAMETER, PARAMETER.replace("['declarant']", "['declarant', 'ars']")), {}, \
        "p3_demande", \
        "parameter:destinataires", "['declarant']", "['declarant', 'ars']", "Paramètre « destinataires »"


def _deadline(active):
    text, before = _with_deadline(SHIPPED, "PT6H")
    return text, {}, "p3_qualifier", "property:targetDuration", \
        None if before is None else differences.shown("property:targetDuration", before), "PT6H (6 heures)", \
        "Délai cible"


def _form_field(active):
    return SHIPPED, {QUALIF: _qualification_form(active.forms)}, None, "title", "Criticité", \
        "Niveau de criticité", "Champ « criticite » du formulaire : Titre"


KINDS = {"minuteur": _timer, "condition": _condition, "role": _lane_role, "parametre": _parameter,
         "delai": _deadline, "formulaire": _form_field}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_change_shows_its_value_before_and_after(app, client, kind):
    login(client, PROCESSUS)
    active = deployment.active_definition()
    xml, forms, element, key, before, after, label = KINDS[kind](active)
    response = _upload(client, xml, forms)
    assert response.status_code == 202, response.get_data(as_text=True)[:2000]
    diff = response.json["rapport"]["diff"]
    if element is None:  # a form: field by field
        changes = {(c["champ"], c["cle"]): c for c in diff["formulaires"]["details"][QUALIF]}
        assert diff["formulaires"]["modifies"] == [QUALIF] and diff["modifies"] == []
        assert (changes[("criticite", "title")]["avant"], changes[("criticite", "title")]["apres"]) == (before, after)
        assert (changes[("analyse_qualification", "maxLength")]["avant"],
                changes[("analyse_qualification", "maxLength")]["apres"]) == ("20000", "5000")
        added = changes[("precision_essai", "champ")]
        assert added["avant"] is None and "Précision (essai)" in added["apres"]
        section = f'<li data-formulaire="{QUALIF}">'
    else:
        change = _change(diff, element, key)
        assert (change["avant"], change["apres"]) == (before, after)
        assert [e["id"] for e in diff["modifies"]] == [element]  # nothing else reads as changed
        section = f'<li data-element="{element}">'
    page = client.get(response.json["confirmer"].rsplit("/", 1)[0]).get_data(as_text=True)
    shown = " ".join(_shown(page, section).split())
    assert label in shown and after in shown and (before is None or before in shown), shown
    if kind == "role":  # the tasks of the lane change hands, and the page says so
        moved = {e["id"]: (e["avant"], e["apres"]) for e in diff["roles"]}
        assert moved["p3_dgs_analyse"] == ("DGS", "HFDS/FSSI") and set(moved) <= set(deployment.roles_of(active))
        table = " ".join(_shown(page, '<table class="roles-changes">').split())
        assert "p3_dgs_analyse" in table and "HFDS/FSSI" in table
    else:
        assert diff["roles"] == [] and 'class="roles-changes"' not in page
    lines = differences.lines(diff)  # the same differences as text, for the command line
    assert any(after in line for line in lines) and not differences.diff_is_empty(diff)


def _moddle_roundtrip(tmp_path, xml: str) -> str:
    """A text written back by bpmn-moddle with the modeller's spiffworkflow extension, as the modeller saves."""
    if not shutil.which("node") or not (ROOT / "node_modules" / "bpmn-moddle").exists():
        pytest.skip("bpmn-moddle absent (lancez `npm ci`)")
    source, out = tmp_path / "active.bpmn", tmp_path / "sortie.bpmn"
    source.write_text(xml, encoding="utf-8")
    done = subprocess.run(["node", str(ROOT / "tests" / "modeller_roundtrip.mjs"), str(source), str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out.read_text(encoding="utf-8")


def _other_spelling(xml: str) -> str:
    """The same process with the `semantic:` prefix, defaults written out, attributes reordered, the diagram
    moved and the indentation changed."""
    text = xml.replace("xmlns:bpmn=", "xmlns:semantic=").replace("<bpmn:", "<semantic:")
    text = text.replace("</bpmn:", "</semantic:")
    text = text.replace('xsi:type="bpmn:', 'xsi:type="semantic:')
    text = re.sub(r'<semantic:userTask id="([^"]+)" name="([^"]*)"', r'<semantic:userTask startQuantity="1" '
                  r'name="\2" isForCompensation="false" id="\1" completionQuantity="1"', text)
    text = re.sub(r'<semantic:startEvent id="([^"]+)"', r'<semantic:startEvent isInterrupting="true" id="\1"', text)
    gateway = "<semantic:exclusiveGateway "
    text = text.replace(gateway + "id=", gateway + 'gatewayDirection="Unspecified" id=')
    text = re.sub(r'(<dc:Bounds x=")(\d+)', lambda m: m.group(1) + str(int(m.group(2)) + 40), text)
    return re.sub(r"\n\s+", "\n\t", text)


def test_a_save_with_no_edit_is_recognised_as_its_version(app, client, tmp_path):
    active = deployment.active_definition()
    through_moddle = _moddle_roundtrip(tmp_path, active.bpmn_xml)
    assert 'cancelActivity="true"' in active.bpmn_xml and 'cancelActivity="true"' not in through_moddle
    respelled = _other_spelling(active.bpmn_xml)
    assert "<semantic:userTask startQuantity" in respelled and "<bpmn:" not in respelled
    for xml in (through_moddle, respelled, _moddle_roundtrip(tmp_path, respelled)):
        assert xml != active.bpmn_xml
        assert differences.diff_is_empty(differences.semantic_diff(active.bpmn_xml, active.forms, xml, active.forms))
        assert canonical.canonical_text(xml) == canonical.canonical_text(active.bpmn_xml)
        assert deployment.same_meaning(xml, active.forms).id == active.id
    # The web recognises it too: nothing to deploy.
    login(client, PROCESSUS)
    response = _upload(client, through_moddle)
    assert response.status_code == 200 and response.json["version"] == active.id
    assert "même sens que la version" in response.json["message"]
    # What does change what runs still counts: a non-default value, or one attribute changed under a new prefix.
    interrupting = active.bpmn_xml.replace('cancelActivity="true"', 'cancelActivity="false"')
    diff = differences.semantic_diff(active.bpmn_xml, active.forms, interrupting, active.forms)
    change = _change(diff, "p4_hebdo", "@cancelActivity")
    assert (change["attribut"], change["avant"], change["apres"]) == ("Interrompt la tâche", "oui", "non")
    assert deployment.same_meaning(interrupting, active.forms) is None
    renamed = respelled.replace("Qualifier l'incident (tâche A)", "Qualifier (tâche A)")
    diff = differences.semantic_diff(active.bpmn_xml, active.forms, renamed, active.forms)
    assert [(e["id"], c["avant"], c["apres"]) for e in diff["modifies"] for c in e["changements"]] == [
        ("p3_qualifier", "Qualifier l'incident (tâche A)", "Qualifier (tâche A)")]
    assert deployment.same_meaning(renamed, active.forms) is None


def _save(client, xml: str, forms: dict | None = None, **extra):
    return client.post("/admin/processus/modeleur/brouillon",
                       data=json.dumps({"xml": xml, "forms": forms or {}, **extra}), content_type="application/json",
                       headers={"X-CSRFToken": csrf(client)})


def test_a_stale_draft_gets_the_three_versions(app, client):
    login(client, PROCESSUS)
    opened = client.get("/admin/processus/modeleur/fichier").get_json()
    assert opened["stale"] is False and opened["base_version"] == opened["active_version"] == 1
    draft_xml = opened["xml"].replace("Qualifier l'incident (tâche A)", "Qualifier l'incident signalé (tâche A)")
    assert _save(client, draft_xml, base_version=opened["base_version"]).status_code == 200
    fresh = client.get("/admin/processus/modeleur/trois-versions").get_json()
    assert (fresh["base"]["id"], fresh["active"]["id"], fresh["stale"]) == (1, 1, False)
    assert fresh["differences"]["base_active"]["modifies"] == []
    # A colleague deploys a version with a shorter weekly point: it becomes the active version.
    colleague = app.test_client()
    login(colleague, ADMIN)
    page = confirm_deployment(colleague, colleague.post(
        "/admin/processus/deployer", data={"csrf_token": csrf(colleague),
                                           "fichiers": [(io.BytesIO(_edited('"P7D"', '"P3D"').encode()), "c.bpmn")]},
        content_type="multipart/form-data", follow_redirects=True), "Point tous les 3 jours")
    assert "Version 2 déployée" in page.get_data(as_text=True) and deployment.active_definition().id == 2
    # The draft still knows it started from version 1, across saves.
    assert _save(client, draft_xml).status_code == 200
    assert db.session.get(ModellerDraft, db.session.query(ModellerDraft.id).scalar()).base_definition_id == 1
    opened = client.get("/admin/processus/modeleur/fichier").get_json()
    assert (opened["base_version"], opened["active_version"], opened["stale"]) == (1, 2, True)
    three = client.get("/admin/processus/modeleur/trois-versions")
    assert three.status_code == 200
    three = three.get_json()
    assert (three["base"]["id"], three["active"]["id"], three["stale"]) == (1, 2, True)
    assert three["active"]["made_active"]["by"] == ADMIN
    assert three["active"]["made_active"]["comment"] == "Point tous les 3 jours"
    assert three["draft"]["base_id"] == 1 and three["base"]["bpmn_url"] == "/admin/processus/1.bpmn"
    found = three["differences"]
    timer = _change(found["base_active"], "TimerDef_p4_hebdo", "timeDuration")
    assert (timer["avant"], timer["apres"]) == ("P7D (7 jours)", "P3D (3 jours)")
    assert [e["id"] for e in found["base_active"]["modifies"]] == ["TimerDef_p4_hebdo"]
    name = _change(found["base_draft"], "p3_qualifier", "nom")
    assert name["apres"] == "Qualifier l'incident signalé (tâche A)"
    assert [e["id"] for e in found["base_draft"]["modifies"]] == ["p3_qualifier"]
    # Deploying the draft as it stands would undo the colleague's change: its dry run compares with version 2.
    undone = _change(found["active_draft"], "TimerDef_p4_hebdo", "timeDuration")
    assert (undone["avant"], undone["apres"]) == ("P3D (3 jours)", "P7D (7 jours)")
    # Another owner without a draft: base and active are the same; others may not ask.
    login(colleague, ADMIN)
    theirs = colleague.get("/admin/processus/modeleur/trois-versions").get_json()
    assert (theirs["base"]["id"], theirs["active"]["id"], theirs["stale"], theirs["draft"]) == (2, 2, False, None)
    login(colleague, ACSS)
    assert colleague.get("/admin/processus/modeleur/trois-versions").status_code == 403
    # Version 1's page shows, value by value, what activating it would change from the active version 2.
    page = client.get("/admin/versions/1").get_data(as_text=True)
    shown = " ".join(_shown(page, '<li data-element="TimerDef_p4_hebdo">').split())
    assert "Expression du minuteur" in shown and shown.index("P3D") < shown.index("P7D")


def test_an_added_reminder_shows_its_timer_and_that_it_does_not_interrupt(app):
    reminder = ('<bpmn:boundaryEvent id="p3_relance" name="Relance" cancelActivity="false" '
                'attachedToRef="p3_qualifier"><bpmn:timerEventDefinition id="TimerDef_p3_relance">'
                '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT2H"</bpmn:timeDuration>'
                '</bpmn:timerEventDefinition></bpmn:boundaryEvent>')
    xml = _edited('<bpmn:userTask id="p3_qualifier"', reminder + '<bpmn:userTask id="p3_qualifier"')
    diff = differences.semantic_diff(SHIPPED, {}, xml, {})
    assert [e["id"] for e in diff["ajoutes"]] == ["TimerDef_p3_relance", "p3_relance"] and diff["modifies"] == []
    carried = {i: {v["cle"]: v["valeur"] for v in values} for i, values in diff["valeurs"]["ajoutes"].items()}
    assert carried["TimerDef_p3_relance"] == {"timeDuration": "PT2H (2 heures)"}
    assert carried["p3_relance"] == {"@cancelActivity": "non", "@attachedToRef": "p3_qualifier"}
    with app.test_request_context():
        page = render_template("owners/admin/_differences.html", d=diff, types=differences.ELEMENT_TYPES)
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "TimerDef_p3_relance minuteur de p3_relance « Relance » Expression du minuteur (durée) : PT2H (2 heures)" \
        in shown and "Interrompt la tâche : non" in shown
    assert "Élément ajouté : p3_relance (événement de bordure « Relance »)" in differences.lines(diff)


def test_a_hostile_draft_base_or_text_never_breaks_the_three_versions(app, client):
    login(client, PROCESSUS)
    for base in ("1; drop table", True, -5, 99_999, [1], 2**40):
        db.session.query(ModellerDraft).delete()
        db.session.commit()
        assert _save(client, SHIPPED, base_version=base).status_code == 200
        assert db.session.query(ModellerDraft.base_definition_id).scalar() == deployment.active_definition().id
    assert _save(client, "<x/>").status_code == 200  # well-formed, not BPMN: kept as a draft, compared as nothing
    three = client.get("/admin/processus/modeleur/trois-versions")
    assert three.status_code == 200 and three.json["stale"] is False
    removed = {e["id"] for e in three.json["differences"]["base_draft"]["supprimes"]}
    assert {"p3_qualifier", "lane_dgs"} <= removed
