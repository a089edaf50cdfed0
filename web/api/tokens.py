"""The bearer authentication of every API request (tokens are made in accounts/api_tokens.py). Cookies
never authenticate the API, so a page cannot be made to call it on a logged-in person's behalf (no CSRF
by cookie)."""
from __future__ import annotations

from datetime import timedelta

from flask import g, request
from sqlalchemy import bindparam, select

from accounts.api_tokens import digest
from models import ApiToken, Structure, User, db
from timekeeping.clock import app_now
from web.auth.security import french_abort

# last_used_at is written at most once a minute per token: reading the API must not be a write each time.
TOUCH_EVERY = timedelta(minutes=1)
UNAUTHENTICATED = ("Authentification requise : envoyez un jeton d'API dans l'en-tête "
                   "« Authorization: Bearer <jeton> » (les cookies de session ne valent pas pour l'API).")
INVALID = "Jeton d'API invalide, révoqué, ou dont le compte est désactivé."


# Built once (models/kept.py says why): every API request runs it. The account's structure comes in the same round
# trip (one row by key): a declaration takes it from g.api_structure instead of reading it again.
TOKEN_AND_USER = (select(ApiToken, User, Structure).join(User, User.id == ApiToken.user_id)
                  .outerjoin(Structure, Structure.id == User.structure_id)
                  .where(ApiToken.token_hash == bindparam("_hash")))


def authenticate() -> User:
    """The user the request's bearer token acts as (kept in g.api_user, g.api_token, with its structure in
    g.api_structure); 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        french_abort(401, UNAUTHENTICATED)
    found = db.session.execute(TOKEN_AND_USER, {"_hash": digest(secret.strip())}).first()
    if found is None or found[0].revoked_at is not None or not found[1].active:
        french_abort(401, INVALID)
    token, user, structure = found
    now = app_now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
        db.session.commit()
    g.api_user, g.api_token, g.api_structure = user, token, structure
    return user
