"""API tokens: creation (the secret is shown once, only its hash is kept), revocation, and the bearer
authentication of every API request. Cookies never authenticate the API, so a page cannot be made to
call it on a logged-in person's behalf (no CSRF by cookie)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import g, request
from sqlalchemy import select

from models import ApiToken, User, db
from timekeeping.clock import app_now
from web.security import french_abort

SECRET_PREFIX = "ssi_"
NAME_MAX = 120
# last_used_at is written at most once a minute per token: reading the API must not be a write each time.
TOUCH_EVERY = timedelta(minutes=1)
UNAUTHENTICATED = ("Authentification requise : envoyez un jeton d'API dans l'en-tête "
                   "« Authorization: Bearer <jeton> » (les cookies de session ne valent pas pour l'API).")
INVALID = "Jeton d'API invalide, révoqué, ou dont le compte est désactivé."


def digest(secret: str) -> str:
    """The stored form of a token's secret (SHA-256: the secret has 256 random bits)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(user: User, name: str, read_only: bool = False) -> tuple[ApiToken, str]:
    """A new token for a user, committed; returns it with its secret, which is never stored."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"Le nom du jeton est obligatoire ({NAME_MAX} caractères au plus).")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=digest(secret), prefix=secret[:10],
                     read_only=bool(read_only), created_at=app_now())
    db.session.add(token)
    db.session.commit()
    return token, secret


def revoke(user: User, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False when it is not theirs or already revoked."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id,
                                                     ApiToken.revoked_at.is_(None)))
    if token is None:
        return False
    token.revoked_at = app_now()
    db.session.commit()
    return True


def tokens_of(user: User) -> list[ApiToken]:
    """A user's tokens, newest first."""
    return db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                              .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())).all()


def authenticate() -> User:
    """The user the request's bearer token acts as (kept in g.api_user, g.api_token); 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        french_abort(401, UNAUTHENTICATED)
    found = db.session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                               .where(ApiToken.token_hash == digest(secret.strip()))).first()
    if found is None or found[0].revoked_at is not None or not found[1].active:
        french_abort(401, INVALID)
    token, user = found
    now = app_now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
        db.session.commit()
    g.api_user, g.api_token = user, token
    return user
