"""`Idempotency-Key` on every POST (IETF draft-ietf-httpapi-idempotency-key-header).

Before the work, a pending row (user, key, fingerprint of method, path and canonical JSON body) is
committed: a concurrent retry of a request still being processed gets 409. The first successful (2xx)
response is then stored in that row; a retry with the same key gets it again, marked
`Idempotent-Replayed: true`; the same key with another request is refused (422). Failed attempts are
not kept, so a client may correct its request and retry with its key; a pending row older than
LEASE (its request crashed) is taken over by the next retry. Declarations also pass the key to
workflow/start_command.py, whose own key row is written in the dossier's commit: a retry after a crash
between that commit and the stored response still leads to the same dossier. Task completions and
declarations write their answer with `record` in the command's own transaction: a worker killed right after that
commit leaves the key answered, and the retry gets the original answer, not 409.
"""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from flask import g, jsonify, request
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from models import ApiIdempotency, db
from timekeeping.clock import app_now
from web.auth.security import french_abort, problem
from workflow import start_command

HEADER = "Idempotency-Key"
LEASE = timedelta(seconds=60)
MISSING = ("En-tête « Idempotency-Key » obligatoire sur toute requête POST : une clé aléatoire de 16 à 64 "
           "lettres, chiffres, tirets ou soulignés, réutilisée telle quelle si la requête est renvoyée.")
INVALID = "En-tête « Idempotency-Key » invalide : 16 à 64 lettres, chiffres, tirets ou soulignés."
REUSED = ("Cette clé d'idempotence a déjà servi pour une autre requête : utilisez une nouvelle clé pour une "
          "nouvelle requête.")
IN_FLIGHT = ("Une requête avec cette clé d'idempotence est en cours de traitement : renvoyez-la dans quelques "
             "instants pour obtenir sa réponse.")


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


def _replay(record: ApiIdempotency):
    response = jsonify(record.body)
    response.status_code = record.status
    response.headers["Idempotent-Replayed"] = "true"
    if record.location:
        response.headers["Location"] = record.location
    return response


FIND = select(ApiIdempotency).where(ApiIdempotency.user_id == bindparam("_user"),  # built once (models/kept.py)
                                    ApiIdempotency.key == bindparam("_key"))


def _find(user_id: int, key: str) -> ApiIdempotency | None:
    return db.session.scalar(FIND, {"_user": user_id, "_key": key})


# The claim of a new key in one round trip: the row when the key is free, nothing when a row holds it already (read
# it then). Each dialect spells « on conflict do nothing » its own way; both are built once.
CLAIM = {name: dialect.insert(ApiIdempotency).on_conflict_do_nothing(index_elements=["user_id", "key"])
         .returning(ApiIdempotency.id) for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


def begin(user_id: int, key: str, print_: str):
    """Claim the key for this request: None when the caller may do the work, else the response to give
    (the stored one, 422 for another request under this key, 409 while the first is in progress)."""
    for _ in range(2):  # a row removed between the claim and its reading is claimed again once
        now = app_now()
        claim = CLAIM[db.session.get_bind().dialect.name]
        if db.session.execute(claim, dict(user_id=user_id, key=key, fingerprint=print_, status=None, body=None,
                                          location=None, created_at=now)).first() is not None:
            _commit_keeping_loaded()
            g.idempotency_claim = (user_id, key, print_)
            return None
        record = _find(user_id, key)
        if record is None:
            continue
        if record.fingerprint != print_:
            return problem(422, REUSED)
        if record.status is not None:
            return _replay(record)
        if now - record.created_at < LEASE:
            return problem(409, IN_FLIGHT)
        # The request that claimed it stopped without an answer: take it over (one taker wins).
        taken = db.session.execute(update(ApiIdempotency).where(ApiIdempotency.id == record.id,
                                                                ApiIdempotency.created_at == record.created_at,
                                                                ApiIdempotency.status.is_(None))
                                   .values(created_at=now)).rowcount
        db.session.commit()
        if taken:
            g.idempotency_claim = (user_id, key, print_)
            return None
        db.session.expire_all()
    return problem(409, IN_FLIGHT)


def _commit_keeping_loaded() -> None:
    """Commit the pending key alone, leaving what the request loaded before (the token's user) as it was read
    instead of reading it again for the view: this transaction changed nothing of it."""
    session = db.session()
    kept, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = kept


def record(status: int, body: dict, location: str | None = None) -> None:
    """Write the answer a command is about to give into the command's own transaction (the caller
    commits): the key this request claimed (`begin`), its fingerprint and the answer are kept together with the
    command's rows, or not at all. The pending row is filled in, or made when there is none."""
    user_id, key, print_ = g.idempotency_claim
    values = dict(status=status, body=body, location=location)
    filled = db.session.execute(update(ApiIdempotency).where(
        ApiIdempotency.user_id == user_id, ApiIdempotency.key == key, ApiIdempotency.fingerprint == print_,
        ApiIdempotency.status.is_(None)).values(**values)).rowcount
    if not filled:
        db.session.execute(insert(ApiIdempotency), [dict(user_id=user_id, key=key, fingerprint=print_,
                                                         created_at=app_now(), **values)])


def recorded() -> None:
    """Said by a view once the commit holding its `record` succeeded: `finish` has nothing left to write."""
    g.idempotency_recorded = True


def finish(user_id: int, key: str, response) -> None:
    """Store a successful response in the claimed row, or free the key after a failure (a row the
    view already answered with `record` is left as it is)."""
    db.session.rollback()  # whatever the view left uncommitted is not the answer's to keep
    if g.pop("idempotency_recorded", False) and response is not None and 200 <= response.status_code < 300:
        return  # answered in the view's own commit
    where = (ApiIdempotency.user_id == user_id, ApiIdempotency.key == key, ApiIdempotency.status.is_(None))
    if response is not None and 200 <= response.status_code < 300:
        db.session.execute(update(ApiIdempotency).where(*where).values(
            status=response.status_code, body=response.get_json(), location=response.headers.get("Location")))
    else:
        db.session.execute(delete(ApiIdempotency).where(*where))
    db.session.commit()
