"""Password links: an invitation for a new account or a reset, single-use, expiring, sent through the outbox.

Only the SHA-256 of the token is stored; the link is the only copy of the token. The outbox row carrying
it is of kind LINK_KIND, whose body the outbox pages never show (an administrator reading it could
take the account over).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from accounts import journal, users
from mail import links
from models import OutboxMessage, PasswordLink, User, db
from timekeeping.clock import app_now

LINK_KIND = "lien_mot_de_passe"
DEFAULT_VALIDITY = {"invitation": timedelta(days=7), "reinitialisation": timedelta(hours=2)}
PURPOSE_WORDS = {"invitation": "créer votre mot de passe", "reinitialisation": "choisir un nouveau mot de passe"}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: User, purpose: str, actor: str, mail_domain: str,
          validity: timedelta | None = None) -> str:
    """Create a link (earlier unused links of the account stop working), queue its mail; returns the token."""
    now = app_now()
    db.session.execute(update(PasswordLink).where(PasswordLink.user_id == user.id, PasswordLink.used_at.is_(None))
                       .values(used_at=now))
    token = secrets.token_urlsafe(32)
    expires = now + (validity or DEFAULT_VALIDITY[purpose])
    db.session.add(PasswordLink(user_id=user.id, token_hash=_digest(token), purpose=purpose, created_at=now,
                                expires_at=expires))
    link = links.absolute(f"/mot-de-passe/{token}")
    local = expires.astimezone().strftime("%d/%m/%Y à %H:%M")
    subject = ("Votre compte sur la plateforme de signalement des incidents SSI" if purpose == "invitation"
               else "Réinitialisation de votre mot de passe")
    body = (f"Bonjour {user.name},\n\nPour {PURPOSE_WORDS[purpose]}, ouvrez ce lien (valable jusqu'au {local}, "
            f"utilisable une seule fois) :\n\n{link}\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce "
            "message : votre mot de passe actuel reste valable.\n")
    db.session.add(OutboxMessage(kind=LINK_KIND, recipients=[user.email], recipient_roles=[], subject=subject,
                                 body_text=body, body_html="", status="pending", attempts=0, next_attempt_at=now,
                                 created_at=now, message_id=f"<{_digest(token)[:24]}.{LINK_KIND}@{mail_domain}>"))
    journal.record(actor, "lien_envoye", "user", user.id, {"objet": purpose, "expire": expires.isoformat()})
    return token


def pending(token: str) -> PasswordLink | None:
    """The unused, unexpired link of a token, or None (unknown, used, replaced or expired look the same)."""
    if not token or len(token) > 100:
        return None
    link = db.session.scalar(select(PasswordLink).where(PasswordLink.token_hash == _digest(token)))
    if link is None or link.used_at is not None or link.expires_at <= app_now():
        return None
    return link


def use(token: str, password: str) -> tuple[User | None, str | None]:
    """Set the password through a link; returns (user, None) or (None, French refusal). Single use even when
    two requests race: the link is marked used by a conditional update that only one can win."""
    link = pending(token)
    if link is None:
        return None, "Ce lien n'est plus valable (déjà utilisé, remplacé ou expiré). Demandez-en un nouveau."
    user = db.session.get(User, link.user_id)
    if user is None or not user.active:
        return None, "Ce compte est désactivé. Adressez-vous à l'administrateur de la plateforme."
    problem = users.password_problem(password)
    if problem:
        return None, problem
    won = db.session.execute(update(PasswordLink).where(PasswordLink.id == link.id, PasswordLink.used_at.is_(None))
                             .values(used_at=app_now())).rowcount
    if not won:
        db.session.rollback()
        return None, "Ce lien n'est plus valable (déjà utilisé, remplacé ou expiré). Demandez-en un nouveau."
    users.set_password(user, password, user.email, f"lien ({link.purpose})")
    return user, None
