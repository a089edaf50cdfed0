"""Structures that must declare (one site, FINESS ET): checked, created and changed with an audit entry."""
from __future__ import annotations

import re

from sqlalchemy import select

from accounts import journal
from accounts.territory import region_of
from models import Structure, db
from referentiel import STRUCTURE_KINDS, finess_valid

FIELDS = ("name", "finess_ej", "finess_et", "kind", "department", "city", "email", "phone", "oiv")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,24}")
PHONE = re.compile(r"\+?[0-9 .()-]{6,25}")


def check(data: dict, current: Structure | None = None) -> tuple[dict, dict]:
    """Clean a structure's fields; returns (values, {field: French error}); the region follows the département."""
    text = {field: str(data.get(field) or "").strip() for field in FIELDS if field != "oiv"}
    values = {**text, "finess_ej": text["finess_ej"].upper(), "finess_et": text["finess_et"].upper(),
              "department": text["department"].upper(), "oiv": str(data.get("oiv") or "").lower() in ("1", "on", "true", "oui")}
    errors = {}
    if not values["name"] or len(values["name"]) > 255:
        errors["name"] = "Indiquez la raison sociale (255 caractères au plus)."
    for field, label in (("finess_ej", "entité juridique"), ("finess_et", "établissement")):
        if not finess_valid(values[field]):
            errors[field] = (f"Le numéro FINESS {label} doit compter 9 caractères (département puis chiffres) "
                             "et se terminer par sa clé de contrôle.")
    if values["kind"] not in STRUCTURE_KINDS:
        errors["kind"] = "Choisissez un type de structure de la liste."
    region = region_of(values["department"])
    if region is None:
        errors["department"] = "Département inconnu (exemples : 35, 2B, 971)."
    elif "finess_et" not in errors and not values["finess_et"].startswith(values["department"][:2]):
        # Overseas numbers all start with 97 whatever the département's third digit.
        errors["department"] = "Le numéro FINESS de l'établissement ne commence pas par ce département."
    values["region"] = region or ""
    if len(values["city"]) > 120:
        errors["city"] = "120 caractères au plus."
    if values["email"] and not EMAIL.fullmatch(values["email"]):
        errors["email"] = "Adresse électronique invalide."
    if values["phone"] and not PHONE.fullmatch(values["phone"]):
        errors["phone"] = "Numéro de téléphone invalide."
    if "finess_et" not in errors:
        other = db.session.scalar(select(Structure).where(Structure.finess_et == values["finess_et"]))
        if other is not None and (current is None or other.id != current.id):
            errors["finess_et"] = f"Ce numéro FINESS établissement est déjà celui de « {other.name} »."
    return values, errors


def save(data: dict, actor: str, structure: Structure | None = None) -> tuple[Structure | None, dict]:
    """Create (structure None) or change a structure; on success the change is journaled, not committed."""
    values, errors = check(data, structure)
    if errors:
        return None, errors
    if structure is None:
        structure = Structure(**values)
        db.session.add(structure)
        db.session.flush()
        journal.record(actor, "structure_creee", "structure", structure.id, {"valeurs": values})
        return structure, {}
    changes = {field: [getattr(structure, field), value] for field, value in values.items()
               if getattr(structure, field) != value}
    for field, (_, value) in changes.items():
        setattr(structure, field, value)
    if changes:
        journal.record(actor, "structure_modifiee", "structure", structure.id, {"changements": changes})
    return structure, {}


def set_active(structure: Structure, active: bool, actor: str) -> None:
    """Close (or reopen) a structure: a closed one is no longer offered; its dossiers stay as they are."""
    if bool(structure.active) != active:
        structure.active = active
        journal.record(actor, "structure_reouverte" if active else "structure_fermee", "structure", structure.id)
