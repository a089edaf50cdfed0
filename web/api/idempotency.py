"""`Idempotency-Key` on every POST (IETF draft-ietf-httpapi-idempotency-key-header).

The first successful (2xx) response to a key is stored with a fingerprint of the request (method,
path, canonical JSON body); a retry with the same key gets that response again, marked
`Idempotent-Replayed: true`; the same key with another request is refused (422). Failed attempts
are not stored, so a client may correct its request and retry with its key. Declarations also pass
the key to workflow/start_command.py, whose own key row is written in the dossier's commit: a retry
after a crash between that commit and this store still leads to the same dossier.
"""
from __future__ import annotations

import hashlib
import json

from flask import jsonify, request
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from models import ApiIdempotency, db
from timekeeping.clock import app_now
from web.security import french_abort, problem
from workflow import start_command

HEADER = "Idempotency-Key"
MISSING = ("En-tête « Idempotency-Key » obligatoire sur toute requête POST : une clé aléatoire de 16 à 64 "
           "lettres, chiffres, tirets ou soulignés, réutilisée telle quelle si la requête est renvoyée.")
INVALID = "En-tête « Idempotency-Key » invalide : 16 à 64 lettres, chiffres, tirets ou soulignés."
REUSED = ("Cette clé d'idempotence a déjà servi pour une autre requête : utilisez une nouvelle clé pour une "
          "nouvelle requête.")


def request_key() -> str:
    """The request's key (a bare token or a structured-field string in quotes); 400 when missing or invalid."""
    raw = request.headers.get(HEADER)
    if raw is None or not raw.strip():
        french_abort(400, MISSING)
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not start_command.valid_key(key):
        french_abort(400, INVALID)
    return key


def fingerprint(body) -> str:
    """SHA-256 of the method, the path and the canonical JSON body."""
    canonical = json.dumps([request.method, request.path, body], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(record: ApiIdempotency, print_: str):
    if record.fingerprint != print_:
        return problem(422, REUSED)
    response = jsonify(record.body)
    response.status_code = record.status
    response.headers["Idempotent-Replayed"] = "true"
    if record.location:
        response.headers["Location"] = record.location
    return response


def stored_response(user_id: int, key: str, print_: str):
    """The stored response for this key (or the 422 of a reused key), or None for a new key."""
    record = db.session.scalar(select(ApiIdempotency).where(ApiIdempotency.user_id == user_id,
                                                            ApiIdempotency.key == key))
    return _replay(record, print_) if record is not None else None


def remember(user_id: int, key: str, print_: str, status: int, body: dict, location: str | None):
    """Store a successful response; when a concurrent retry stored first, answer with its response."""
    try:
        db.session.execute(insert(ApiIdempotency), [dict(user_id=user_id, key=key, fingerprint=print_, status=status,
                                                          body=body, location=location, created_at=app_now())])
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return stored_response(user_id, key, print_)
    return None
