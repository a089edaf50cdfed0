"""The JSON API (/api/v1): tokens, idempotent declarations and completions, problem details for every
4xx, the OpenAPI document against the routes, and visibility equal to the pages for every role."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from accounts import api_tokens as tokens
from audit import verifier
from cli import scenarios
from live_server import served
from models import ApiToken, AuditEvent, Dossier, OutboxMessage, TaskRow, User, db
from test_visibility_matrix import _drive  # the same dossiers as the pages' matrix
from test_web_support import (ACSS, ADMIN, ARMEES, ARS_BRETAGNE, ARS_GRANDEST, AUDITEUR, DECLARANT, DECLARANT_BEGIN,
                              DECLARANT_METZ, DGS, HFDS, PROCESSUS, dossier_by_number, form_data, login, open_task,
                              post, sent_statements, structure_of, user)
from web.api import idempotency, openapi
from web.api.spec import OPERATIONS
from web.auth.login import hash_password
from workflow import commands, context, form_schemas

PROBLEM = "application/problem+json"
ARS_IDF = "ars.idf@ars.example.fr"
EVERYONE = [DECLARANT, DECLARANT_BEGIN, DECLARANT_METZ, ARS_BRETAGNE, ARS_GRANDEST, ARS_IDF, ACSS, HFDS, DGS, ARMEES, AUDITEUR,
            ADMIN, PROCESSUS]


def token(email: str, read_only: bool = False) -> str:
    """A fresh token's secret for a demo user."""
    return tokens.create(user(email), f"test {uuid.uuid4().hex[:6]}", read_only)[1]


def key() -> str:
    """A fresh idempotency key."""
    return uuid.uuid4().hex


def call(client, method: str, path: str, secret: str | None, body=None, idem: str | None = None, **headers):
    """An API request with a bearer token, a JSON body and an Idempotency-Key (POST)."""
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    if idem:
        headers["Idempotency-Key"] = idem
    kwargs = {"json": body} if body is not None else {}
    response = client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)
    conforms(client.application, response, method, f"/api/v1{path}")
    return response


_DOCUMENTS: dict = {}


def conforms(app, response, method: str, path: str) -> None:
    """Assert that a response is documented for its operation and matches the document's schema (every
    call of these tests is checked, for every role, beside the fuzzing run)."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(path.split("?")[0], method=method)
    except HTTPException:
        return  # no operation there: nothing is documented for it
    op = next(o for o in OPERATIONS if f"api.{o.endpoint}" == endpoint)
    template = openapi.openapi_path(op.rule)
    if _DOCUMENTS.get("app") != id(app):  # one document per application (the deployed forms do not change)
        _DOCUMENTS.clear()
        _DOCUMENTS.update(app=id(app), document=openapi.document())
    document = _DOCUMENTS["document"]
    entry = document["paths"][template][method.lower()]["responses"].get(str(response.status_code))
    assert entry is not None, f"{response.status_code} non documenté pour {method} {template}"
    if "$ref" in entry:
        pointer, media = entry["$ref"] + "/content/application~1problem+json/schema", PROBLEM
    else:
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"#/paths/{escaped}/{method.lower()}/responses/{response.status_code}/content/application~1json/schema"
        media = "application/json"
    assert response.mimetype == media, (method, path, response.mimetype)
    if pointer not in _DOCUMENTS:
        _DOCUMENTS[pointer] = Draft202012Validator(dict(document, **{"$ref": pointer}))
    _DOCUMENTS[pointer].validate(response.get_json())


def declaration(finess: str, title: str = "Chiffrement de serveurs par un rançongiciel") -> dict:
    """The four blocks of phase 1, as the national portal would forward them."""
    return {"finess_site": finess, "perimetre": scenarios.PERIMETRE, "impact": scenarios.IMPACT,
            "origine": scenarios.ORIGINE, "formulaire": scenarios.formulaire(titre=title)}


def is_problem(response, status: int) -> dict:
    """Assert an RFC 9457 problem with this status and return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"] == "about:blank"
    return body


def test_openapi_document_validates_and_matches_the_routes(app, client):
    """The served document is valid OpenAPI 3.1 and lists exactly the routes under /api/v1."""
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate_spec(copy.deepcopy(document))
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = {(openapi.openapi_path(rule.rule[len("/api/v1"):]), method) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    # The declaration's blocks are the deployed forms' schemas, not a copy that could drift.
    perimetre = document["components"]["schemas"]["form_perimetre"]
    assert perimetre["properties"]["perimetre"]["title"] == "Périmètre touché"
    for item in document["paths"].values():
        for op in item.values():
            assert op["summary"] and all(str(code) in op["responses"] for code in (400,))


def test_tokens_authenticate_and_cookies_do_not(app, client):
    """401 with WWW-Authenticate: Bearer without, with a wrong, a revoked or a deactivated user's token,
    and for a logged-in browser session: the API's POST is CSRF-exempt because cookies do not count."""
    body = is_problem(call(client, "GET", "/me", None), 401)
    assert "Bearer" in body["detail"]
    assert call(client, "GET", "/me", None).headers["WWW-Authenticate"].startswith("Bearer")
    is_problem(call(client, "GET", "/me", "ssi_faux-jeton"), 401)
    is_problem(client.get("/api/v1/me", headers={"Authorization": "Basic YTpi"}), 401)
    secret = token(ACSS, read_only=True)
    me = call(client, "GET", "/me", secret).get_json()
    assert me["email"] == ACSS and me["role"] == "acss" and me["token"]["read_only"] is True
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == me["id"]))
    assert stored.token_hash == tokens.digest(secret) and secret not in (stored.token_hash, stored.prefix)
    assert stored.last_used_at is not None
    assert tokens.revoke(user(ACSS), stored.id)
    is_problem(call(client, "GET", "/me", secret), 401)
    other = token(DGS)
    user(DGS).active = False
    db.session.commit()
    is_problem(call(client, "GET", "/me", other), 401)
    login(client, DECLARANT)
    assert client.get("/dossiers").status_code == 200  # the session works for the pages
    is_problem(client.get("/api/v1/me"), 401)
    is_problem(client.post("/api/v1/declarations", json=declaration("x"), headers={"Idempotency-Key": key()}), 401)


def test_declaration_is_idempotent_and_makes_the_web_dossier(app, client, clock):
    """A declaration opens one dossier whatever the retries, with the web wizard's audit events."""
    clock.set(scenarios.MONDAY_MORNING)
    secret, idem = token(DECLARANT), key()
    body = declaration(structure_of(DECLARANT).finess_et)
    # The same request still in progress elsewhere (its key claimed, no answer yet): 409, then, once its
    # lease has run out (it crashed), the retry takes the key over.
    with app.test_request_context("/api/v1/declarations", method="POST"):
        assert idempotency.begin(user(DECLARANT).id, idem, idempotency.fingerprint(body)) is None
    assert "en cours" in is_problem(call(client, "POST", "/declarations", secret, body, idem), 409)["detail"]
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 0
    clock.advance(seconds=61)
    first = call(client, "POST", "/declarations", secret, body, idem)
    assert first.status_code == 201, first.get_data(as_text=True)
    created = first.get_json()
    assert first.headers["Location"] == created["href"] == f"/api/v1/dossiers/{created['id']}"
    assert created["number"].startswith("SSI-") and created["entites_alertees"]
    again = call(client, "POST", "/declarations", secret, body, idem)
    assert again.status_code == 201 and again.get_json() == created
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["Location"] == created["href"]
    # A second token of the same person retries with the same key: still one dossier.
    assert call(client, "POST", "/declarations", token(DECLARANT), body, idem).get_json() == created
    changed = dict(body, formulaire=scenarios.formulaire(titre="Autre chose"))
    assert "déjà servi" in is_problem(call(client, "POST", "/declarations", secret, changed, idem), 422)["detail"]
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1
    dossier = db.session.get(Dossier, created["id"])
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                                .order_by(AuditEvent.seq)).all()
    assert [(e.command, (e.payload or {}).get("spec")) for e in events] == [
        ("start", None), ("complete", "p1_perimetre"), ("complete", "p1_impact"), ("complete", "p1_origine"),
        ("complete", "p1_formulaire")]
    assert all(e.actor == DECLARANT and e.actor_role == "declarant" for e in events)
    assert verifier.verify_dossier(dossier).ok
    # The web wizard's dossier for the same answers: the same steps with the same data.
    web = _web_declaration(client, clock)
    web_events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == web.instance_id)
                                    .order_by(AuditEvent.seq)).all()
    assert [_step(e) for e in web_events] == [_step(e) for e in events]
    assert (web.state, web.title, web.care_impact) == (dossier.state, dossier.title, dossier.care_impact)
    shown = call(client, "GET", created["href"][len("/api/v1"):], secret).get_json()
    assert len(shown["timeline"]) == 5 and shown["timeline"][0]["title"] == "Démarrage du signalement"
    assert {"label": "Périmètre touché", "value": ["Serveurs", "Postes de travail"]} in shown["timeline"][1]["entered"]
    assert shown["number"] == created["number"] and shown["summary"] is False


def _step(event) -> tuple:
    """An audit event's command, step and data, without the dossier number (each dossier has its own)."""
    data = {k: v for k, v in (event.payload.get("data") or {}).items() if k != "dossier"}
    return event.command, event.payload.get("spec"), data


def _web_declaration(client, clock):
    """The same declaration through the web wizard's four forms."""
    login(client, DECLARANT)
    clock.advance(minutes=1)
    page = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(DECLARANT).finess_et,
                                               idempotency_key=key()))
    assert page.status_code == 302, page.get_data(as_text=True)
    dossier = db.session.get(Dossier, db.session.scalars(select(Dossier.id).order_by(Dossier.id.desc())).first())
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE),
                       ("p1_formulaire", scenarios.formulaire())]:
        row = open_task(dossier.id, spec)
        assert post(client, f"/taches/{row.id}", form_data(data)).status_code == 302
    db.session.expire_all()
    return db.session.get(Dossier, dossier.id)  # numbered at validation: its provisional reference is gone


def test_declaration_field_errors_are_the_forms_messages(app, client):
    """422 lists each field's error with the web form's French message; nothing is kept."""
    secret = token(DECLARANT)
    body = declaration("123456789")
    body["perimetre"] = {"perimetre": ["serveurs"]}
    body["impact"] = dict(scenarios.IMPACT, impact_soins="inconnu")
    del body["origine"]
    body["formulaire"] = dict(body["formulaire"], titre="x" * 30_000)
    problem = is_problem(call(client, "POST", "/declarations", secret, body, key()), 422)
    errors = {e["field"]: e["detail"] for e in problem["errors"]}
    assert errors["finess_site"].startswith("Numéro FINESS invalide")
    assert errors["perimetre.elements_concernes"] == "Ce champ est obligatoire."
    assert errors["impact.impact_soins"] == "Valeur non autorisée."
    assert errors["origine"].startswith("Ce bloc est obligatoire")
    assert "caractères" in errors["formulaire.titre"]
    schema = json.load(open(app.root_path + "/forms/p1-perimetre.schema.json", encoding="utf-8"))
    assert form_schemas.validate(schema, body["perimetre"])["elements_concernes"] == errors["perimetre.elements_concernes"]
    foreign = is_problem(call(client, "POST", "/declarations", secret,
                              declaration(structure_of(DECLARANT_METZ).finess_et), key()), 422)
    assert "ne correspond pas à votre structure" in foreign["errors"][0]["detail"]
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 0
    # A refused attempt frees its key: the corrected request goes through with it.
    idem = key()
    is_problem(call(client, "POST", "/declarations", secret, declaration("123456789"), idem), 422)
    fixed = call(client, "POST", "/declarations", secret, declaration(structure_of(DECLARANT).finess_et), idem)
    assert fixed.status_code == 201


def test_problem_details_for_every_refusal(app, client):
    """400, 401, 403, 404, 405, 413, 415 and 422 are all problem details with a French detail."""
    declarant, reader = token(DECLARANT), token(DECLARANT, read_only=True)
    finess = structure_of(DECLARANT).finess_et
    is_problem(call(client, "POST", "/declarations", declarant, declaration(finess)), 400)  # no Idempotency-Key
    is_problem(call(client, "POST", "/declarations", declarant, declaration(finess), "court"), 400)
    bad_json = client.post("/api/v1/declarations", data="{pas du json", content_type="application/json",
                           headers={"Authorization": f"Bearer {declarant}", "Idempotency-Key": key()})
    is_problem(bad_json, 400)
    nan = client.post("/api/v1/declarations", data='{"finess_site": NaN}', content_type="application/json",
                      headers={"Authorization": f"Bearer {declarant}", "Idempotency-Key": key()})
    is_problem(nan, 400)
    deep = client.post("/api/v1/declarations", data="[" * 100_000 + "]" * 100_000, content_type="application/json",
                       headers={"Authorization": f"Bearer {declarant}", "Idempotency-Key": key()})
    is_problem(deep, 400)
    is_problem(call(client, "POST", "/declarations", declarant, [1, 2], key()), 400)
    nul = dict(declaration(finess), formulaire=scenarios.formulaire(titre="nul\x00ici"))
    assert "caractère nul" in is_problem(call(client, "POST", "/declarations", declarant, nul, key()), 422)["detail"]
    is_problem(call(client, "GET", "/dossiers?page=0", declarant), 400)
    is_problem(call(client, "GET", "/tasks?per_page=%C2%B2", declarant), 400)  # « ² » is a digit to str.isdigit
    is_problem(call(client, "GET", "/dossiers?etat=nimporte", declarant), 400)
    is_problem(call(client, "GET", "/dossiers?q=%00", declarant), 400)
    is_problem(call(client, "GET", "/me", None), 401)
    is_problem(call(client, "GET", "/outbox", declarant), 403)
    assert "lecture seule" in is_problem(call(client, "POST", "/declarations", reader, declaration(finess), key()),
                                         403)["detail"]
    is_problem(call(client, "POST", "/declarations", token(ACSS), declaration(finess), key()), 403)
    is_problem(call(client, "GET", "/dossiers/999999", declarant), 404)
    is_problem(call(client, "GET", "/dossiers/99999999999", declarant), 404)
    is_problem(call(client, "GET", "/tasks/inconnue", declarant), 404)
    is_problem(call(client, "GET", "/nulle-part", declarant), 404)
    not_allowed = is_problem(call(client, "PUT", "/dossiers", declarant, {}), 405)
    assert call(client, "DELETE", "/dossiers", declarant).headers["Allow"]
    assert not_allowed["instance"] == "/api/v1/dossiers"
    is_problem(client.post("/api/v1/declarations", data="x" * (2 * 1024 * 1024), content_type="application/json",
                           headers={"Authorization": f"Bearer {declarant}", "Idempotency-Key": key()}), 413)
    is_problem(client.post("/api/v1/declarations", data={"finess_site": finess},
                           headers={"Authorization": f"Bearer {declarant}", "Idempotency-Key": key()}), 415)
    is_problem(call(client, "POST", "/declarations", declarant, {"finess_site": finess}, key()), 422)


# --------------------------------------------------------------------------------------------
# Visibility: the API lists and opens exactly what the pages do, role by role

TASK_LINK = re.compile(r"/taches/([0-9a-f-]{36})")
NUMBER = re.compile(r"SSI-\d{4}-\d{5}")


def _declared(title: str) -> list:
    return [("p1_perimetre", scenarios.PERIMETRE), ("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE),
            ("p1_formulaire", scenarios.formulaire(titre=title))]


def _world(clock) -> list[Dossier]:
    """A dossier of each kind: civil in progress, civil draft, another region's, military addressed or not."""
    clock.set(scenarios.MONDAY_MORNING)
    armees = [("mil_traiter", {"information_armees": "acss", "synthese_armees": "Synthèse des armées",
                               "niveau_confidentialite": "non_protege"})]
    return [_drive(clock, DECLARANT, _declared("Rennes en cours") + scenarios.OPENING),
            _drive(clock, DECLARANT, _declared("Rennes brouillon"), until="p1_impact"),
            _drive(clock, DECLARANT_METZ, _declared("Metz déclaré")),
            _drive(clock, DECLARANT_BEGIN, _declared("Bégin adressé") + armees),
            _drive(clock, DECLARANT_BEGIN, _declared("Bégin en cours"))]


def test_visibility_is_the_pages_for_every_role(app, clock):
    """For each role: the same dossier list, the same dossiers and tasks opened or refused, the same inbox."""
    dossiers = _world(clock)
    tasks = db.session.scalars(select(TaskRow.id).where(TaskRow.status == "ready")).all()
    pages, api = app.test_client(), app.test_client()
    for email in EVERYONE:
        login(pages, email)
        secret = token(email)
        listed = pages.get("/dossiers")
        answer = call(api, "GET", "/dossiers?per_page=100", secret)
        assert answer.status_code == listed.status_code, email
        if listed.status_code == 200:
            assert {d["number"] for d in answer.get_json()["items"]} == \
                set(NUMBER.findall(listed.get_data(as_text=True))), email
        for dossier in dossiers:
            page = pages.get(f"/dossiers/{dossier.id}")
            got = call(api, "GET", f"/dossiers/{dossier.id}", secret)
            assert got.status_code == page.status_code, (email, dossier.title)
            if got.status_code == 200:
                summary = got.get_json()["summary"]
                assert summary == ("Contenu" not in page.get_data(as_text=True) and dossier.title not in
                                   page.get_data(as_text=True)), (email, dossier.title)
        inbox = pages.get("/boite")
        mine = call(api, "GET", "/tasks?per_page=100", secret)
        assert mine.status_code == inbox.status_code, email
        if inbox.status_code == 200:
            assert {t["id"] for t in mine.get_json()["items"]} == set(TASK_LINK.findall(inbox.get_data(as_text=True)))
        for task_id in tasks:
            assert call(api, "GET", f"/tasks/{task_id}", secret).status_code == \
                pages.get(f"/taches/{task_id}").status_code, (email, task_id)
    # The matrix is not empty: the ARS sees its region's military dossier as a summary, the ACSS the addressed one.
    ars = call(api, "GET", f"/dossiers/{dossiers[3].id}", token(ARS_IDF)).get_json()
    assert ars["summary"] is True and "title" not in ars and ars["message"]
    begin = structure_of(DECLARANT_BEGIN)
    named = {"name": begin.name, "finess_et": begin.finess_et, "department": begin.department}
    assert ars["structure"] == named  # the three facts the standard message names, nothing more
    listed = call(api, "GET", "/dossiers?per_page=100", token(ARS_IDF)).get_json()["items"]
    assert [d["structure"] for d in listed if d["number"] == dossiers[3].number] == [named]
    assert call(api, "GET", f"/dossiers/{dossiers[3].id}", token(ACSS)).get_json()["title"] == "Bégin adressé"
    assert call(api, "GET", f"/dossiers/{dossiers[4].id}", token(ACSS)).status_code == 404


def test_task_completion_through_the_command(app, client, clock):
    """Completion is idempotent, 409 when done or held by someone else, 422 with the form's errors."""
    dossier = _world(clock)[2]  # Metz, declared: the ACSS opens it
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    acss, idem = token(ACSS), key()
    shown = call(client, "GET", f"/tasks/{row.id}", acss).get_json()
    assert shown["task"]["spec_name"] == "p2_ouvrir" and "properties" in shown["form_schema"]
    invalid = is_problem(call(client, "POST", f"/tasks/{row.id}/completion", acss, {"inconnu": 1}, key()), 422)
    assert invalid["errors"] and all(e["detail"] for e in invalid["errors"])
    is_problem(call(client, "POST", f"/tasks/{row.id}/completion", token(DECLARANT_METZ),
                    dict(scenarios.OPENING[0][1]), key()), 404)
    data = dict(scenarios.OPENING[0][1])
    done = call(client, "POST", f"/tasks/{row.id}/completion", acss, data, idem)
    assert done.status_code == 200, done.get_data(as_text=True)
    body = done.get_json()
    assert body["task"]["status"] == "completed" and body["dossier"]["number"] == dossier.number
    replay = call(client, "POST", f"/tasks/{row.id}/completion", acss, data, idem)
    assert replay.get_json() == body and replay.headers["Idempotent-Replayed"] == "true"
    assert "déjà été traitée" in is_problem(call(client, "POST", f"/tasks/{row.id}/completion", acss, data, key()),
                                            409)["detail"]
    following = scenarios.ready_task(dossier, "p3_qualifier")
    assert following.id in {t["id"] for t in body["next_tasks"]}
    colleague = db.session.scalar(select(TaskRow).where(TaskRow.id == following.id))
    colleague.claimed_by = user(ACSS).id
    db.session.commit()
    other = tokens.create(_second_acss(), "collègue")[1]
    assert "prise en charge" in is_problem(call(client, "POST", f"/tasks/{following.id}/completion", other,
                                                scenarios.qualification("grave"), key()), 409)["detail"]
    assert verifier.verify_dossier(db.session.get(Dossier, dossier.id)).ok


def test_the_document_refuses_what_the_server_refuses(app, client, clock):
    """Unknown members, empty or blank texts, an empty FINESS and NUL characters: the server answers 422 and
    the OpenAPI document's request schema refuses the same body; a well-formed body passes both."""
    dossier = _world(clock)[2]
    document = openapi.document()

    def body_validator(path: str) -> Draft202012Validator:
        template = re.sub(r"/dossiers/\d+/", "/dossiers/{dossier_id}/", f"/api/v1{path}")
        schema = document["paths"][template]["post"]["requestBody"]["content"]["application/json"]["schema"]
        return Draft202012Validator(dict(document, **schema))

    finess = structure_of(DECLARANT_METZ).finess_et
    notes, indicators = f"/dossiers/{dossier.id}/notes", f"/dossiers/{dossier.id}/indicators"
    cases = [(ACSS, notes, {"kind": "note", "text": "x", "unexpected": {"a": 1}}),
             (ACSS, notes, {"kind": "note", "text": ""}), (ACSS, notes, {"kind": "note", "text": " \n\t "}),
             (ACSS, notes, {"kind": "note", "text": "avant\x00après"}),
             (ACSS, indicators, {"kind": "ip", "value": "", "comment": "x"}),
             (ACSS, indicators, {"kind": "ip", "value": "192.0.2.1", "comment": "nul\x00"}),
             (ACSS, indicators, {"kind": "ip", "value": "192.0.2.1", "autre": 1}),
             (DECLARANT_METZ, "/declarations", dict(declaration(finess), finess_site="")),
             (DECLARANT_METZ, "/declarations", dict(declaration(finess), finess_site="   ")),
             (DECLARANT_METZ, "/declarations", dict(declaration(finess), intrus=True)),
             (DECLARANT_METZ, "/declarations", dict(declaration(finess),
                                                    formulaire=scenarios.formulaire(titre="nul\x00ici")))]
    for email, path, body in cases:
        answer = is_problem(call(client, "POST", path, token(email), body, key()), 422)
        assert answer["detail"], (path, body)
        assert not body_validator(path).is_valid(body), (path, body)
    assert "unexpected" in str(is_problem(call(client, "POST", notes, token(ACSS), cases[0][2], key()), 422)["errors"])
    good = {"kind": "note", "text": "Appel du RSSI à 10 h"}
    assert body_validator(notes).is_valid(good)
    assert call(client, "POST", notes, token(ACSS), good, key()).status_code == 201
    assert body_validator("/declarations").is_valid(declaration(finess))


def _second_acss():
    """A second analyst of the Cellule ACSS (the demo has one)."""
    colleague = User(email="second@acss.example.fr", name="Second Analyste", password_hash=hash_password("x" * 12),
                     role="acss", active=True)
    db.session.add(colleague)
    db.session.commit()
    return colleague


def test_outbox_state_for_administrators(app, client, clock):
    """Administrators read the outbox's counts and messages; military bodies stay hidden; others get 403."""
    dossiers = _world(clock)
    admin = token(ADMIN)
    state = call(client, "GET", "/outbox?per_page=100", admin).get_json()
    total = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert state["total"] == total == sum(state["counts"].values()) and total > 0
    assert call(client, "GET", "/outbox?etat=sent", admin).get_json()["total"] == state["counts"].get("sent", 0)
    military = db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.dossier_id == dossiers[3].id)).first()
    civil = db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.dossier_id == dossiers[0].id)).first()
    hidden = call(client, "GET", f"/outbox/{military}", admin).get_json()
    assert hidden["hidden"] is True and hidden["body_text"] is None
    assert call(client, "GET", f"/outbox/{civil}", admin).get_json()["body_text"]
    is_problem(call(client, "GET", "/outbox/999999", admin), 404)
    for email in (ACSS, DECLARANT, AUDITEUR):
        is_problem(call(client, "GET", "/outbox", token(email)), 403)


def test_token_page_and_cli(app, client, runner):
    """The token page shows a new secret once and revokes; `flask api token create` prints a working one."""
    login(client, ARS_BRETAGNE)
    assert 'href="/compte/jetons-api"' in client.get("/dossiers").get_data(as_text=True)  # in the navigation
    created = post(client, "/compte/jetons-api", {"nom": "Outil régional", "lecture_seule": "1"})
    html = created.get_data(as_text=True)
    secret = re.search(r'<code id="secret">([^<]+)</code>', html).group(1)
    assert call(client, "GET", "/me", secret).get_json()["token"] == {"name": "Outil régional", "read_only": True}
    listing = client.get("/compte/jetons-api").get_data(as_text=True)
    assert secret not in listing and "Outil régional" in listing and "Lecture seule" in listing
    assert post(client, "/compte/jetons-api", {"nom": ""}).status_code == 422
    assert client.post("/compte/jetons-api", data={"nom": "sans jeton CSRF"}).status_code == 400
    stored = db.session.scalar(select(ApiToken).where(ApiToken.name == "Outil régional"))
    login(client, ACSS)  # someone else's token cannot be revoked by id
    post(client, f"/compte/jetons-api/{stored.id}/revoquer")
    assert call(client, "GET", "/me", secret).status_code == 200
    login(client, ARS_BRETAGNE)
    assert post(client, f"/compte/jetons-api/{stored.id}/revoquer").status_code == 302
    is_problem(call(client, "GET", "/me", secret), 401)
    result = runner.invoke(args=["api", "token", "create", "--email", DECLARANT, "--name", "Portail national"])
    assert result.exit_code == 0, result.output
    printed = result.output.strip().splitlines()[-1]
    assert call(client, "GET", "/me", printed).get_json()["email"] == DECLARANT
    unknown = runner.invoke(args=["api", "token", "create", "--email", "personne@example.fr", "--name", "x"])
    assert unknown.exit_code != 0 and "Aucun compte" in unknown.output
    revoked = runner.invoke(args=["api", "token", "revoke", "--email", DECLARANT, "--name", "Portail national"])
    assert revoked.exit_code == 0 and "1 jeton révoqué" in revoked.output
    is_problem(call(client, "GET", "/me", printed), 401)


# --------------------------------------------------------------------------------------------
# Schemathesis against the live server: no 5xx, nothing outside the document

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
HOOKS = Path(__file__).resolve().parent / "schemathesis_hooks.py"  # a fresh Idempotency-Key per case
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance")


@pytest.fixture
def api_server(backend, request):
    """The test app served over HTTP from a thread (SQLite half: the fuzzing adds no backend coverage)."""
    if backend != "sqlite":
        pytest.skip("schemathesis exécuté sur la moitié SQLite seulement")
    app = request.getfixturevalue("app")  # only once the PostgreSQL half is skipped: no database to fill for it
    with served(app):
        yield app.config["PUBLIC_URL"]


def test_schemathesis_finds_no_server_error_nor_undocumented_response(api_server, clock, tmp_path):
    """Positive and negative cases (the coverage phase: boundaries and wrong types of every field and
    parameter, ~700 requests; then fuzzing) on every operation against the live server, as a declarant,
    whose token reaches every operation's logic but the outbox's (refused: its 403 is checked too; the
    administrator's answers are checked against the document by `conforms` in the tests above)."""
    _world(clock)
    command = [str(SCHEMATHESIS), "run", f"{api_server}/api/v1/openapi.json", "--checks", CHECKS,
               "--header", f"Authorization: Bearer {token(DECLARANT)}", "--max-examples", "6", "--seed", "2017281",
               "--workers", "1", "--generation-database", "none", "--no-color", "--request-timeout", "20",
               "--max-failures", "5", "--phases", "coverage,fuzzing"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=150, cwd=tmp_path,
                            env=dict(os.environ, SCHEMATHESIS_HOOKS=str(HOOKS)))
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert re.search(r"Tested: [1-9]", result.stdout) and " 0 passed" not in result.stdout, result.stdout[-3000:]


NEGATIVE_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,negative_data_rejection,"
                   "response_schema_conformance")


def test_schemathesis_negative_data_is_refused_on_every_operation(api_server, clock, tmp_path):
    """Negative data only (what the document refuses: wrong types, missing or extra members, empty texts,
    NUL characters, out-of-range numbers, bad headers) on every operation, the path pointing at a dossier and
    a task the token's holder may write (not a 404 that would hide the body's checks): the server refuses
    each with a documented 4xx, never a 2xx nor a 5xx. As an analyst of the Cellule ACSS (notes, indicators,
    the ready opening task) and as a declarant (declarations, notes on their own dossier)."""
    dossiers = _world(clock)
    opening = scenarios.ready_task(dossiers[2], "p2_ouvrir")
    for email, dossier in ((ACSS, dossiers[2]), (DECLARANT, dossiers[0])):
        (tmp_path / "schemathesis.toml").write_text(
            f'[parameters]\n"path.dossier_id" = {dossier.id}\n"path.task_id" = "{opening.id}"\n')
        command = [str(SCHEMATHESIS), "run", f"{api_server}/api/v1/openapi.json", "--checks", NEGATIVE_CHECKS,
                   "--header", f"Authorization: Bearer {token(email)}", "--mode", "negative", "--max-examples", "25",
                   "--seed", "2017281", "--workers", "1", "--generation-database", "none", "--no-color",
                   "--request-timeout", "20", "--max-failures", "30", "--phases", "coverage,fuzzing"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                                env=dict(os.environ, SCHEMATHESIS_HOOKS=str(HOOKS)))
        assert result.returncode == 0, email + "\n" + result.stdout[-12000:] + result.stderr[-2000:]
        assert re.search(r"Tested: [1-9]", result.stdout) and " 0 passed" not in result.stdout, result.stdout[-3000:]
    assert scenarios.ready_task(dossiers[2], "p2_ouvrir").status == "ready"  # no negative body completed it


def test_a_declaration_judges_each_block_once(app, client, monkeypatch):
    """The four blocks are validated up front (all their errors in one answer) and again by each step's command,
    the gate of every path: the second time is the first one's result within the request (workflow/form_schemas.py),
    not a second pass of jsonschema; the same declaration sent again is judged again."""
    judged = []
    real = form_schemas._validate
    monkeypatch.setattr(form_schemas, "_validate", lambda validator, data: judged.append(data) or real(validator, data))
    created = call(client, "POST", "/declarations", token(DECLARANT), declaration(structure_of(DECLARANT).finess_et),
                   key())
    assert created.status_code == 201, created.get_data(as_text=True)
    assert len(judged) == 4, judged
    again = call(client, "POST", "/declarations", token(DECLARANT), declaration(structure_of(DECLARANT).finess_et),
                 key())
    assert again.status_code == 201 and len(judged) == 8


def test_a_declaration_reads_its_structure_with_the_token(app, client):
    """The token, its account and the account's structure come in one round trip: the declaration's view takes the
    structure from the session instead of asking for it again (a token used within the minute writes nothing)."""
    secret, finess = token(DECLARANT), structure_of(DECLARANT).finess_et
    assert call(client, "POST", "/declarations", secret, declaration(finess), key()).status_code == 201
    with sent_statements() as statements:
        created = call(client, "POST", "/declarations", secret, declaration(finess, "Second incident"), key())
    assert created.status_code == 201, created.get_data(as_text=True)
    sent = [" ".join(statement.split()) for statement in statements]
    assert not [s for s in sent if s.startswith("SELECT structures")], sent
    assert any(s.startswith("SELECT api_tokens") and "JOIN structures" in s for s in sent), sent
    dossier = db.session.get(Dossier, created.get_json()["id"])
    assert dossier.structure_id == structure_of(DECLARANT).id


def test_a_declarant_without_a_structure_is_refused(app, client):
    """The structure read with the token is missing: 403 in French, and no dossier is made."""
    account = user(DECLARANT)
    account.structure_id = None
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Dossier))
    finess = structure_of(DECLARANT_METZ).finess_et
    refused = call(client, "POST", "/declarations", token(DECLARANT), declaration(finess), key())
    assert is_problem(refused, 403)["detail"] == "Votre compte n'est rattaché à aucune structure."
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == before
