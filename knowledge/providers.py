"""The directory of incident-response providers kept by the Cellule ACSS, and who suits a dossier.

A provider serves the dossier's region when it lists it or lists none (national coverage). Among those,
providers whose specialities cover one of the dossier's incident types come first, ANSSI-qualified
(PRIS) ones before the others.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from models import KnowledgeEvent, Provider, db
from referentiel import INCIDENT_TYPES, REGIONS

QUALIFICATIONS = {"pris": "Qualifié PRIS (ANSSI)", "expertcyber": "Labellisé ExpertCyber", "aucune": "Non qualifié"}
MAX_TEXT = 2000


class ProviderError(ValueError):
    """A provider refused, with French messages per field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def check_provider(fields: dict) -> dict:
    """The cleaned fields of a provider, or ProviderError naming each bad field in French."""
    errors, clean = {}, {}
    clean["name"] = (fields.get("name") or "").strip()
    if not clean["name"] or len(clean["name"]) > 200:
        errors["name"] = "Le nom est obligatoire (200 caractères au plus)."
    clean["qualification"] = fields.get("qualification") or "aucune"
    if clean["qualification"] not in QUALIFICATIONS:
        errors["qualification"] = "Qualification inconnue."
    clean["contact"] = (fields.get("contact") or "").strip()
    if len(clean["contact"]) > MAX_TEXT:
        errors["contact"] = f"Le contact tient en {MAX_TEXT} caractères au plus."
    for name, allowed, label in (("specialities", INCIDENT_TYPES, "spécialité"), ("regions", REGIONS, "région")):
        values = list(dict.fromkeys(fields.get(name) or []))
        if any(v not in allowed for v in values):
            errors[name] = f"Valeur inconnue pour « {label} »."
        clean[name] = [v for v in values if v in allowed]
    clean["active"] = bool(fields.get("active", True))
    if errors:
        raise ProviderError(errors)
    return clean


def save_provider(provider_id: int | None, fields: dict, actor, now: datetime) -> Provider:
    """Add or update a provider; logged; the caller commits."""
    clean = check_provider(fields)
    if provider_id is None:
        provider = Provider(updated_at=now, **clean)
        db.session.add(provider)
    else:
        provider = db.session.get(Provider, provider_id)
        if provider is None:
            raise ProviderError({"id": "Prestataire introuvable."})
        for name, value in clean.items():
            setattr(provider, name, value)
        provider.updated_at = now
    db.session.flush()
    db.session.add(KnowledgeEvent(at=now, actor=getattr(actor, "email", str(actor)), action="prestataire",
                                  object_type="prestataire", object_id=provider.id, details={"nom": provider.name}))
    return provider


def all_providers(active_only: bool = False) -> list[Provider]:
    """The directory, by name."""
    query = select(Provider).order_by(func.lower(Provider.name), Provider.id)
    if active_only:
        query = query.where(Provider.active.is_(True))
    return list(db.session.scalars(query))


def providers_for(region: str | None, incident_types: list | None = None) -> list[Provider]:
    """Active providers serving a region, specialists of the incident types first, PRIS before others."""
    types = set(incident_types or [])
    serving = [p for p in all_providers(active_only=True) if not p.regions or region in p.regions]
    if types:
        matching = [p for p in serving if types & set(p.specialities or [])]
        serving = matching or serving  # no specialist: every provider of the region is still worth knowing
    return sorted(serving, key=lambda p: (p.qualification != "pris", p.qualification != "expertcyber"))
