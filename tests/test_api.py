"""The JSON API (/api/v1): tokens, idempotent declarations and completions, problem details for every
4xx, the OpenAPI document against the routes, and visibility equal to the pages for every role."""
from __future__ import annotations

import copy
import json
import re
import uuid

import pytest
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import func, select

from audit import verifier
from cli import scenarios
from models import ApiToken, AuditEvent, Dossier, OutboxMessage, TaskRow, db
from test_web_support import (ACSS, ADMIN, ARMEES, ARS_BRETAGNE, ARS_GRANDEST, AUDITEUR, DECLARANT, DECLARANT_BEGIN,
                              DECLARANT_METZ, DGS, HFDS, PROCESSUS, csrf, login, post, structure_of, user)
from web.api import openapi, tokens
from workflow import commands, context, form_schemas

PROBLEM = "application/problem+json"
EVERYONE = [DECLARANT, DECLARANT_BEGIN, DECLARANT_METZ, ARS_BRETAGNE, ARS_GRANDEST, ACSS, HFDS, DGS, ARMEES, AUDITEUR,
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
    return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)


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
    from test_web_support import dossier_by_number, form_data, open_task
    login(client, DECLARANT)
    clock.advance(minutes=1)
    page = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(DECLARANT).finess_et,
                                               idempotency_key=key()))
    assert page.status_code == 302, page.get_data(as_text=True)
    number = db.session.scalars(select(Dossier.number).order_by(Dossier.id.desc())).first()
    dossier = dossier_by_number(number)
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE),
                       ("p1_formulaire", scenarios.formulaire())]:
        row = open_task(dossier.id, spec)
        assert post(client, f"/taches/{row.id}", form_data(data)).status_code == 302
    return dossier_by_number(number)


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
    is_problem(call(client, "GET", "/dossiers?page=0", declarant), 400)
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
