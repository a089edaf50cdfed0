"""The OpenAPI 3.1 document, generated from the operations' declarations (web/api/spec.py), the
response schemas (web/api/schemas.py) and the forms of the deployed process, and served at
/api/v1/openapi.json."""
from __future__ import annotations

import re

from engine.errors import EngineError
from web.api import declarations
from web.api.schemas import COMPONENTS, without_nul
from web.api.spec import OPERATIONS, bp, operation
from workflow import start_command

TITLE = "Signalement SSI santé — API"
VERSION = "1.0.0"
_PARAM = re.compile(r"<(?:(int):)?([a-z_]+)>")
# What each refused status means here (RFC 9457 problem details, French title and detail).
PROBLEMS = {
    400: "Requête invalide (paramètre, en-tête Idempotency-Key, JSON illisible)",
    401: "Jeton absent, invalide ou révoqué",
    403: "Rôle sans accès à cette opération, ou jeton en lecture seule",
    404: "Introuvable ou hors de votre périmètre (les deux cas répondent de même)",
    409: "Conflit : déjà traité, pris en charge par un collègue, modifié entre-temps, ou requête de même "
         "Idempotency-Key encore en cours",
    413: "Corps de requête trop volumineux",
    415: "Corps de requête qui n'est pas du JSON",
    422: "Données invalides (`errors`: erreurs par champ, mêmes messages que les formulaires web ; un caractère "
         "nul dans un texte, un membre inconnu, un texte vide)",
    503: "Base de données injoignable ou trop lente : rien n'a été fait, réessayer après `Retry-After` secondes",
}


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: `<int:dossier_id>` becomes `{dossier_id}`."""
    return bp.url_prefix + _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def _path_parameters(rule: str) -> list[dict]:
    params = []
    for kind, name in _PARAM.findall(rule):
        schema = ({"type": "integer", "minimum": 0, "maximum": 2**31 - 1} if kind == "int"
                  else {"type": "string", "minLength": 1, "maxLength": 36})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _statuses(op) -> list[int]:
    codes = {400, 503, *op.errors}
    if not op.public:
        codes.add(401)
    if op.roles or op.method == "POST":
        codes.add(403)
    if op.method == "POST":
        codes |= {409, 413, 415, 422}
    return sorted(codes)


def _operation(op) -> dict:
    params = _path_parameters(op.rule) + [{"name": name, "in": "query", "required": False, "schema": schema,
                                            "description": text} for name, schema, text in op.query]
    success = {"description": op.summary, "content": {"application/json": {"schema": op.response}}}
    if op.location:
        success["headers"] = {"Location": {"description": "Adresse du dossier créé", "schema": {"type": "string"}}}
    doc = {"operationId": op.endpoint, "summary": op.summary, "parameters": params,
           "responses": {str(op.status): success, **{str(code): {"$ref": f"#/components/responses/P{code}"}
                                                     for code in _statuses(op)}}}
    if op.method == "POST":
        params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                       "description": "Clé aléatoire propre à la requête, renvoyée telle quelle en cas de nouvel essai",
                       "schema": {"type": "string", "pattern": start_command.KEY_PATTERN.pattern + "$",
                                  "minLength": 16, "maxLength": 64}})
        body = op.body() if callable(op.body) else op.body
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if op.public:
        doc["security"] = []
    return doc


def _form_components() -> dict:
    """The declaration's blocks: the JSON Schemas of the deployed forms (without their own $id/$schema)."""
    try:
        schemas = declarations.block_schemas()
    except EngineError:  # no process deployed yet: the document still serves, with open blocks
        schemas = {}
    return {f"form_{member}": without_nul({k: v for k, v in (schemas.get(member) or {"type": "object"}).items()
                                           if k not in ("$id", "$schema")})
            for member, _ in declarations.BLOCKS}


def document() -> dict:
    """The whole OpenAPI 3.1 document."""
    paths: dict = {}
    for op in OPERATIONS:
        paths.setdefault(openapi_path(op.rule), {})[op.method.lower()] = _operation(op)
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    responses = {f"P{code}": {"description": text, **problem} for code, text in PROBLEMS.items()}
    responses["P401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                         "description": "Bearer realm=\"api\""}}
    responses["P503"]["headers"] = {"Retry-After": {"schema": {"type": "string"},
                                                    "description": "Secondes à attendre avant un nouvel essai"}}
    return {"openapi": "3.1.0",
            "info": {"title": TITLE, "version": VERSION,
                     "description": "Déclaration et suivi des incidents graves de sécurité des SI de santé "
                                    "(instruction 2017-281). Authentification par jeton (Bearer) ; "
                                    "Idempotency-Key sur tout POST ; erreurs en RFC 9457."},
            "paths": paths,
            "components": {"schemas": {**COMPONENTS, **_form_components()}, "responses": responses,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}]}


@operation("/openapi.json", public=True, summary="Ce document OpenAPI 3.1",
           response={"type": "object", "required": ["openapi", "paths"]})
def openapi_document():
    """The document, built on each request (the forms follow the deployed process)."""
    return document()
