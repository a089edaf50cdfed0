"""API tokens of a user account: creation (the secret is returned once, only its hash is kept) and
revocation, shared by the token page and `flask api token`; web/api/tokens.py authenticates with them."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from models import ApiToken, User, db
from timekeeping.clock import app_now

SECRET_PREFIX = "ssi_"
NAME_MAX = 120


def digest(secret: str) -> str:
    """The stored form of a token's secret (SHA-256: the secret has 256 random bits, so no slow hash is needed)."""
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
