"""Auditor views: read-only, for auditors only; history, stepper, verify, exports."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import bindparam, select, text

from audit import bpmn_paths, hash_chain, mining
from cli import scenarios
from models import AuditEvent, Dossier, UTCDateTime, db
from tampering import guard_lifted
from test_web_support import ACSS, ADMIN, ARS_BRETAGNE, AUDITEUR, DECLARANT, DGS, HFDS, PROCESSUS, login, post


@pytest.fixture
def dossier(app, clock):
    """A finished grave_acss dossier (17 process steps and the two journal events of its declared indicators:
    19 steps of its chain) and a B1 one."""
    scenarios.run("b1", clock)
    dossier, _ = scenarios.run("grave_acss", clock)
    return dossier.number


def _urls(number: str) -> list[str]:
    return ["/audit/", f"/audit/dossiers/{number}", f"/audit/dossiers/{number}/etapes/3",
            f"/audit/dossiers/{number}/diagramme.bpmn", "/audit/export.xes", "/audit/export.csv",
            f"/audit/export.csv?dossier={number}"]


def test_auditor_reads_everything(client, dossier):
    assert login(client, AUDITEUR).status_code == 302
    for url in _urls(dossier):
        assert client.get(url).status_code == 200, url
    page = client.get("/audit/")
    assert dossier in page.text and "SSI-2026-00001" in page.text


@pytest.mark.parametrize("email", [DECLARANT, ARS_BRETAGNE, ACSS, HFDS, DGS, ADMIN, PROCESSUS])
def test_other_roles_are_refused(client, dossier, email):
    login(client, email)
    for url in _urls(dossier):
        assert client.get(url).status_code == 403, url
    assert post(client, f"/audit/dossiers/{dossier}/verifier").status_code == 403


def test_anonymous_is_sent_to_login(client, dossier):
    response = client.get(f"/audit/dossiers/{dossier}")
    assert response.status_code == 302 and "/connexion" in response.location


def test_no_write_route_for_auditors(app, client, dossier):
    """The only POST of the blueprint is verify, and it changes nothing in the database."""
    methods = {rule.rule: rule.methods - {"HEAD", "OPTIONS"} for rule in app.url_map.iter_rules()
               if rule.endpoint.startswith("audit.")}
    assert {r for r, m in methods.items() if m != {"GET"}} == {"/audit/dossiers/<number>/verifier"}
    assert methods["/audit/dossiers/<number>/verifier"] == {"POST"}
    login(client, AUDITEUR)
    before = db.session.execute(text("SELECT COUNT(*), MAX(id) FROM audit_events")).one()
    states = db.session.execute(text("SELECT id, version, state_hash FROM process_instances ORDER BY id")).all()
    response = post(client, f"/audit/dossiers/{dossier}/verifier")
    assert response.status_code == 200
    assert db.session.execute(text("SELECT COUNT(*), MAX(id) FROM audit_events")).one() == before
    assert db.session.execute(text("SELECT id, version, state_hash FROM process_instances ORDER BY id")).all() == states
    # Without the CSRF token the POST is refused.
    assert client.post(f"/audit/dossiers/{dossier}/verifier").status_code == 400


def test_history_lists_every_step_with_who_and_when(client, dossier):
    login(client, AUDITEUR)
    page = client.get(f"/audit/dossiers/{dossier}").text
    rows = re.findall(r'<tr id="etape-(\d+)"', page)
    events = hash_chain.events_of(db.session.scalar(select(Dossier.instance_id).where(Dossier.number == dossier)))
    assert [int(r) for r in rows] == [e.seq for e in events] and len(rows) == 19
    assert "Karim Benali" in page and "analyste@acss.example.fr" in page and "Cellule ACSS" in page
    assert "Qualifier l&#39;incident (tâche A)" in page or "Qualifier l'incident (tâche A)" in page
    assert 'name="csrf_token"' in page


def test_verify_action_shows_ok_then_the_tampered_step(client, dossier):
    login(client, AUDITEUR)
    page = post(client, f"/audit/dossiers/{dossier}/verifier").text
    assert 'data-ok="oui"' in page and "Historique intègre" in page
    instance_id = db.session.scalar(select(Dossier.instance_id).where(Dossier.number == dossier))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == instance_id, AuditEvent.seq == 4))
    with guard_lifted():
        db.session.execute(text("UPDATE audit_events SET at = :at WHERE id = :id").bindparams(
            bindparam("at", type_=UTCDateTime())), {"at": event.at + timedelta(hours=1), "id": event.id})
    page = post(client, f"/audit/dossiers/{dossier}/verifier").text
    assert 'data-ok="non"' in page
    assert f"Dossier {dossier} : différence à l&#39;étape 4" in page
    # The stepper says so too, from that step on, and still shows the steps before.
    assert 'id="difference-rejeu"' in client.get(f"/audit/dossiers/{dossier}/etapes/6").text
    assert 'id="difference-rejeu"' not in client.get(f"/audit/dossiers/{dossier}/etapes/3").text


def _data_attr(page: str, name: str):
    raw = re.search(rf'data-{name}="([^"]*)"', page).group(1)
    return json.loads(raw.replace("&#34;", '"').replace("&quot;", '"').replace("&#39;", "'"))


def test_stepper_shows_diagram_marks_data_and_diff(client, dossier):
    login(client, AUDITEUR)
    events = hash_chain.events_of(db.session.scalar(select(Dossier.instance_id).where(Dossier.number == dossier)))
    form_step = next(e.seq for e in events if e.visited and e.visited[0] == "p1_formulaire")
    page = client.get(f"/audit/dossiers/{dossier}/etapes/{form_step}").text
    assert "bpmn-navigated-viewer.production.min.js" in page and "js/audit-stepper.js" in page
    visited, flows = _data_attr(page, "visited"), _data_attr(page, "flows")
    active, current = _data_attr(page, "active"), _data_attr(page, "current")
    assert {"p1_start", "p1_perimetre", "p1_formulaire"} <= set(visited)
    assert "p2_ouvrir" in active and current[0] == "p1_formulaire"
    bpmn = client.get(f"/audit/dossiers/{dossier}/diagramme.bpmn")
    root = etree.fromstring(bpmn.data)
    flow_ids = {f.get("id") for f in root.iter("{%s}sequenceFlow" % bpmn_paths.BPMN_NS)}
    assert flows and set(flows) <= flow_ids
    # Data at N and the difference from N-1: the declaration form's fields appear as added.
    assert 'id="differences"' in page and 'class="diff-ajout"><td class="numero">titre</td>' in page
    assert scenarios.formulaire()["titre"] in page
    # The slider and the neighbours.
    assert f'value="{form_step}"' in page and 'max="19"' in page
    assert f"/audit/dossiers/{dossier}/etapes/{form_step - 1}" in page
    # The weekly-point timer shows as an active token while support is under way.
    support = next(e.seq for e in events if e.visited and e.visited[0] == "p4_analyse")
    page = client.get(f"/audit/dossiers/{dossier}/etapes/{support}").text
    assert "p4_hebdo" in _data_attr(page, "active") and 'id="minuteries"' in page
    # Step choice without JavaScript, and steps out of range.
    response = client.get(f"/audit/dossiers/{dossier}/etapes?etape=5")
    assert response.status_code == 302 and response.location.endswith(f"/audit/dossiers/{dossier}/etapes/5")
    assert client.get(f"/audit/dossiers/{dossier}/etapes/99").status_code == 404
    assert client.get("/audit/dossiers/SSI-1999-00001").status_code == 404


def test_export_downloads(client, dossier):
    login(client, AUDITEUR)
    response = client.get("/audit/export.xes?du=2026-03-01&au=2026-03-02")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    root = etree.fromstring(response.data)
    assert len(root.findall("{%s}trace" % mining.XES_NS)) == 2
    assert b"@" not in b"".join(e.get("value", "").encode() for e in root.iter("{%s}string" % mining.XES_NS)
                                if e.get("key") == "org:resource")
    assert len(etree.fromstring(client.get("/audit/export.xes?du=2026-04-01").data)
               .findall("{%s}trace" % mining.XES_NS)) == 0
    csv_text = client.get(f"/audit/export.csv?dossier={dossier}&donnees_personnelles=1").text
    assert csv_text.splitlines()[0].startswith("case:concept:name,concept:name,time:timestamp")
    assert "analyste@acss.example.fr" in csv_text
    bad = client.get("/audit/export.xes?du=hier")
    assert bad.status_code == 400 and "Date invalide" in bad.text
    assert client.get("/audit/export.pdf").status_code == 404


FORMS_DIR = __import__("pathlib").Path(__file__).resolve().parent.parent / "forms"


def _shipped_properties() -> list[tuple[str, str, dict]]:
    """(form, property name, schema) of every field of the shipped forms."""
    found = []
    for path in sorted(FORMS_DIR.glob("*.schema.json")):
        for name, prop in json.loads(path.read_text(encoding="utf-8")).get("properties", {}).items():
            found.append((path.name, name, prop))
    return found


def _sample(prop: dict):
    """A value of a field's type, as the form would record it."""
    options = prop.get("oneOf") or (prop.get("items") or {}).get("oneOf") or []
    consts = [o["const"] for o in options if "const" in o]
    kind = prop.get("type")
    if kind == "array":
        item = prop.get("items") or {}
        if item.get("type") == "object":
            return [{sub: _sample(p) for sub, p in (item.get("properties") or {}).items()}]
        return consts[:1] or ["valeur saisie"]
    if consts:
        return consts[-1]
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return 3
    if prop.get("format") == "date-time":
        return "2026-03-02T07:45:00+01:00"
    if prop.get("format") == "date":
        return "2026-03-02"
    return "valeur saisie"


def _readable_part(page: str) -> str:
    """The page without its « Données brutes » (the raw keys live there, one click away)."""
    page = re.sub(r'<details id="donnees-brutes">.*?</details>', "", page, flags=re.S)
    return re.sub(r'\sdata-[a-z-]+="[^"]*"', "", page)  # the diagram's data attributes are for its script


def test_replay_rows_label_every_field_of_the_shipped_forms(app):
    """Generated from forms/*.json: each field under its form label, enumerations by their French label, booleans
    Oui/Non, instants in Paris time; no raw key, code, JSON array or ISO instant."""
    from web import forms
    from web.audit import replay_text
    from workflow import deployment
    labels = forms.labels(deployment.active_definition())
    for form, name, prop in _shipped_properties():
        value = _sample(prop)
        rows = replay_text.readable_rows({name: value}, labels, {})
        text = " | ".join(f"{r['label']} = {r['value']}" for r in rows)
        assert rows and rows[0]["label"].startswith(prop.get("title", "?")), (form, name, text)
        assert name not in text or name.lower() in prop.get("title", "").lower(), (form, name, text)
        assert not re.search(r"\btrue\b|\bfalse\b|\[|\{|\d{4}-\d{2}-\d{2}T", text), (form, name, text)
        options = {o["const"]: o["title"] for o in (prop.get("oneOf") or (prop.get("items") or {}).get("oneOf") or [])
                   if "const" in o}
        for code in value if isinstance(value, list) else [value]:
            if isinstance(code, str) and code in options and options[code] != code:
                assert options[code] in text and not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])",
                                                               text.replace(options[code], "")), (form, name, text)
        if value is True and not options:
            assert "Oui" in text, (form, name, text)
        if prop.get("format") == "date-time":
            assert "02/03/2026 à 07:45" in text, (form, name, text)


def test_replay_page_reads_as_french_and_keeps_the_raw_view(client, dossier):
    login(client, AUDITEUR)
    events = hash_chain.events_of(db.session.scalar(select(Dossier.instance_id).where(Dossier.number == dossier)))
    keys = {name for _, name, _ in _shipped_properties() if "_" in name}
    codes = {o["const"] for _, _, prop in _shipped_properties()
             for o in (prop.get("oneOf") or (prop.get("items") or {}).get("oneOf") or [])
             if isinstance(o.get("const"), str) and "_" in o["const"]}
    from mail.notifications import SUBJECTS
    internal = keys | codes | {k for k in SUBJECTS if "_" in k} | {"structure.id", "heures_ouvrees.motif"}
    for event in events:
        page = client.get(f"/audit/dossiers/{dossier}/etapes/{event.seq}").text
        assert '<details id="donnees-brutes">' in page, event.seq
        readable = _readable_part(page)
        found = [k for k in internal if re.search(rf"(?<![\w.-]){re.escape(k)}(?![\w-])", readable)]
        assert not found, (event.seq, found)
        assert not re.search(r">\s*(true|false)\s*<|\[&#34;|\[\"|\d{4}-\d{2}-\d{2}T\d{2}", readable), event.seq
    form_step = next(e.seq for e in events if e.visited and e.visited[0] == "p1_formulaire")
    page = client.get(f"/audit/dossiers/{dossier}/etapes/{form_step}").text
    readable = _readable_part(page)
    assert "Intitulé de l&#39;incident" in readable and "Rançongiciel" in readable
    assert "02/03/2026 à 07:45" in readable
    raw = page.split('<details id="donnees-brutes">')[1]
    assert "structure.id" in raw and '<td class="numero">titre</td>' in raw
    last = client.get(f"/audit/dossiers/{dossier}/etapes/{events[-1].seq}").text
    assert "Claire Le Gall" in _readable_part(last)  # people by name
    history = client.get(f"/audit/dossiers/{dossier}").text
    assert "Indicateur technique (Famille de rançongiciel" in history and "(famille_rancongiciel)" not in history
