"""The API blueprint and its operations: one decorator declares a route together with what the
OpenAPI document says of it (roles, body, query parameters, responses), so the two cannot drift apart.

It also applies, in order, what every operation shares: bearer authentication (401), role (403),
read-only tokens (403 on writes), a JSON body (415, 400) and the `Idempotency-Key` of every POST.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import wraps

from flask import Blueprint, Response, g, jsonify, request

from web.api import idempotency, tokens
from web.auth.security import french_abort, problem
from workflow import form_schemas

bp = Blueprint("api", __name__, url_prefix="/api/v1")
OPERATIONS: list["Operation"] = []
MAX_DEPTH = 32  # nesting of a JSON body: forms are two levels deep; deeper only costs recursion
FORBIDDEN_ROLE = "Votre rôle ne donne pas accès à cette opération."
READ_ONLY = "Ce jeton d'API est en lecture seule : il ne peut rien modifier."
NOT_JSON = "Le corps de la requête doit être du JSON (Content-Type: application/json)."
BAD_JSON = "Le corps de la requête n'est pas un objet JSON valide."
NUL = "La requête contient un caractère nul (\\0), qui n'est admis dans aucun champ."
INVALID_BODY = "La requête contient des erreurs : rien n'a été enregistré."


@dataclass
class Operation:
    """One route of the API as the OpenAPI document describes it."""

    rule: str
    method: str
    endpoint: str
    summary: str
    response: dict
    status: int = 200
    roles: tuple | None = None
    body: dict | None = None
    query: list = field(default_factory=list)
    public: bool = False
    errors: tuple = ()
    location: bool = False


def _hostile(value) -> str | None:
    """Why a parsed JSON body is refused (too deep, or a NUL character that no text column can hold on
    PostgreSQL, as _refuse_nul refuses it in forms), walked iteratively: no recursion on hostile input."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            return BAD_JSON
        if isinstance(item, str) and "\x00" in item:
            return NUL
        if isinstance(item, dict):
            if any("\x00" in key for key in item):
                return NUL
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)
    return None


def _reject_constant(name):
    raise ValueError(name)


def json_body() -> dict:
    """The request's JSON object; 415 when it is not JSON, 400 when it does not parse or is not an object."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        french_abort(415, NOT_JSON)
    try:
        # NaN and Infinity are not JSON: refused rather than stored and echoed back as invalid JSON.
        data = json.loads(request.get_data(cache=True) or b"", parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        french_abort(400, BAD_JSON)
    if not isinstance(data, dict):
        french_abort(400, BAD_JSON)
    refused = _hostile(data)
    if refused == NUL:  # well-formed JSON holding a value no field accepts: the document's patterns refuse it too
        french_abort(422, refused)
    if refused:
        french_abort(400, refused)
    return data


def _respond(result):
    """A view's (body, status, headers) as a JSON response; a ready Response passes through."""
    if isinstance(result, Response):
        return result
    body, status, headers = result, 200, {}
    if isinstance(result, tuple):
        body, status, *rest = result
        headers = rest[0] if rest else {}
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def operation(rule: str, method: str = "GET", *, summary: str, response: dict, status: int = 200,
              roles=None, body: dict | None = None, query=(), public: bool = False, errors=(), location=False):
    """Register an API route and its description; the view gets the acting user (and for a POST the
    JSON body and the idempotency key) before the address's arguments."""
    def decorator(view):
        spec = Operation(rule, method, view.__name__, summary, response, status, tuple(roles) if roles else None,
                         body, list(query), public, tuple(errors), location)
        OPERATIONS.append(spec)

        @wraps(view)
        def wrapped(**kwargs):
            if public:
                return _respond(view(**kwargs))
            user = tokens.authenticate()
            if spec.roles and user.role not in spec.roles:
                french_abort(403, FORBIDDEN_ROLE)
            if method != "POST":
                return _respond(view(user, **kwargs))
            if g.api_token.read_only:
                french_abort(403, READ_ONLY)
            data = json_body()
            key = idempotency.request_key()
            if isinstance(spec.body, dict):  # a fixed body schema is enforced as documented (unknown members too)
                errors = form_schemas.validate(spec.body, data)
                if errors:
                    return problem(422, INVALID_BODY, errors=errors)
            print_ = idempotency.fingerprint(data)
            user_id = user.id  # the view's commit expires `user`: not read back just for its id
            answer = idempotency.begin(user_id, key, print_)
            if answer is not None:
                return answer
            result = None
            try:
                result = _respond(view(user, data, key, **kwargs))
            finally:  # also when the view raised: the key is freed for a corrected retry
                idempotency.finish(user_id, key, result)
            return result

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        return wrapped
    return decorator
