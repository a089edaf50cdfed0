"""User accounts: role and scope checked, created and changed with an audit entry; deactivation ends sessions."""
from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from accounts import journal
from accounts.structures import EMAIL, PHONE
from models import LoginSession, Structure, User, db
from referentiel import REGIONS, ROLES
from timekeeping.clock import app_now

MIN_PASSWORD = 12
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash (the same parameters as the login check)."""
    return _hasher.hash(password)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, in French, or None."""
    if len(password or "") < MIN_PASSWORD:
        return f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères."
    if len(password) > 256:
        return "Le mot de passe doit compter 256 caractères au plus."
    if len(set(password)) < 5:
        return "Le mot de passe est trop répétitif."
    return None


def check(data: dict, current: User | None = None) -> tuple[dict, dict]:
    """Clean an account's fields; returns (values, {field: French error}). The scope follows the role:
    a declarant belongs to a structure, an ARS agent to a region, the national roles to neither."""
    values = {field: str(data.get(field) or "").strip() for field in ("email", "name", "role", "region", "phone", "title")}
    values["email"] = values["email"].lower()
    structure_id = str(data.get("structure_id") or "").strip()
    errors = {}
    if not EMAIL.fullmatch(values["email"]):
        errors["email"] = "Adresse électronique invalide."
    elif db.session.scalar(select(User.id).where(func.lower(User.email) == values["email"],
                                                 User.id != (current.id if current else -1))):
        errors["email"] = "Un compte existe déjà avec cette adresse."
    if not values["name"] or len(values["name"]) > 255:
        errors["name"] = "Indiquez le nom (255 caractères au plus)."
    if values["role"] not in ROLES:
        errors["role"] = "Choisissez un rôle de la liste."
    values["structure_id"] = None
    if values["role"] == "declarant":
        structure = db.session.get(Structure, int(structure_id)) if structure_id.isdigit() and len(structure_id) < 10 else None
        if structure is None or not structure.active:
            errors["structure_id"] = "Un déclarant est rattaché à une structure existante et ouverte."
        else:
            values["structure_id"] = structure.id
    if values["role"] == "ars":
        if values["region"] not in REGIONS:
            errors["region"] = "Un agent d'ARS est rattaché à la région de son agence."
    else:
        values["region"] = None
    if values["phone"] and not PHONE.fullmatch(values["phone"]):
        errors["phone"] = "Numéro de téléphone invalide."
    if len(values["title"]) > 120:
        errors["title"] = "120 caractères au plus."
    return values, errors


def save(data: dict, actor: str, user: User | None = None) -> tuple[User | None, dict]:
    """Create (user None, with no usable password until a link is used) or change an account; journaled.
    A change of role or scope ends the account's sessions: what they could see changes."""
    values, errors = check(data, user)
    if errors:
        return None, errors
    if user is None:
        user = User(**values, password_hash="!", active=True)    # "!" is no argon2 hash: no password login
        db.session.add(user)
        db.session.flush()
        journal.record(actor, "compte_cree", "user", user.id, {"valeurs": values})
        return user, {}
    changes = {field: [getattr(user, field), value] for field, value in values.items() if getattr(user, field) != value}
    for field, (_, value) in changes.items():
        setattr(user, field, value)
    if changes:
        journal.record(actor, "compte_modifie", "user", user.id, {"changements": changes})
        if changes.keys() & {"role", "region", "structure_id", "email"}:
            end_sessions(user.id)
    return user, {}


def end_sessions(user_id: int) -> int:
    """Revoke every live login session of an account (in the caller's transaction)."""
    return db.session.execute(update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
                              .values(revoked_at=app_now())).rowcount


def set_active(user: User, active: bool, actor: str) -> None:
    """Deactivate (ending every session at once) or re-activate an account; journaled."""
    if bool(user.active) == active:
        return
    user.active = active
    ended = 0 if active else end_sessions(user.id)
    journal.record(actor, "compte_reactive" if active else "compte_desactive", "user", user.id,
                   {} if active else {"sessions_terminees": ended})


def set_password(user: User, password: str, actor: str, how: str) -> str | None:
    """Give an account a new password (all its sessions end); returns the French refusal or None."""
    problem = password_problem(password)
    if problem:
        return problem
    user.password_hash = hash_password(password)
    end_sessions(user.id)
    journal.record(actor, "mot_de_passe_defini", "user", user.id, {"par": how})
    return None
