"""Single sign-on identities: an OpenID Connect identity is mapped to an existing account, never creates one.

The first login through a provider binds (provider, subject) to the active account whose address equals the
identity's verified e-mail, if that account's role may use this provider; later logins follow the binding
(a change of address at either end does not matter). Unknown people are refused and told whom to ask.
"""
from __future__ import annotations

from sqlalchemy import func, select

from accounts import journal
from models import User, UserIdentity, db
from timekeeping.clock import app_now

REFUSED_UNKNOWN = ("Aucun compte de la plateforme ne correspond à cette identité. Demandez à l'administrateur de "
                   "la plateforme de créer votre compte avec cette adresse électronique.")
REFUSED_INACTIVE = "Ce compte est désactivé. Adressez-vous à l'administrateur de la plateforme."
REFUSED_ROLE = "Votre rôle sur la plateforme ne se connecte pas par ce fournisseur d'identité."
REFUSED_UNVERIFIED = "Le fournisseur d'identité n'a pas confirmé votre adresse électronique."


def match(provider: str, claims: dict, allowed_roles: set | None) -> tuple[User | None, str | None]:
    """The account of an identity (binding it on first use), or (None, French refusal). Not committed."""
    subject = str(claims.get("sub") or "")
    if not subject or len(subject) > 255:
        return None, REFUSED_UNKNOWN
    bound = db.session.scalar(select(UserIdentity).where(UserIdentity.provider == provider,
                                                         UserIdentity.subject == subject))
    if bound is not None:
        user = db.session.get(User, bound.user_id)
    else:
        email = str(claims.get("email") or "").strip().lower()
        if not email:
            return None, REFUSED_UNKNOWN
        if claims.get("email_verified") is False:
            return None, REFUSED_UNVERIFIED
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        return None, REFUSED_UNKNOWN
    if not user.active:
        return None, REFUSED_INACTIVE
    if allowed_roles and user.role not in allowed_roles:
        return None, REFUSED_ROLE
    now = app_now()
    if bound is None:
        bound = UserIdentity(provider=provider, subject=subject, user_id=user.id, created_at=now)
        db.session.add(bound)
        db.session.flush()
        journal.record(user.email, "identite_liee", "user", user.id, {"fournisseur": provider, "sujet": subject})
    bound.last_login_at = now
    return user, None
