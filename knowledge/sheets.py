"""Reflex sheets (fiches réflexes): versioned edits by the Cellule ACSS, and the sheets a dossier needs.

A sheet matches a dossier when it names one of the dossier's incident types and either lists no
structure kind or lists the dossier's. Sheets naming no incident type are general guidance (the
instruction's first steps: preserve traces, isolate, do not pay) and are proposed for every dossier.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select

from mail import links
from models import KnowledgeEvent, ReflexSheet, SheetDispatch, db
from referentiel import INCIDENT_TYPES, STRUCTURE_KINDS, slugify

AUDIENCES = {"direction": "Direction", "equipe_si": "Équipe informatique", "utilisateurs": "Utilisateurs"}
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,78}")
MAX_BODY = 50_000
MAX_TITLE = 200


class SheetError(ValueError):
    """A sheet refused, with French messages per field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def check_sheet(fields: dict) -> dict:
    """The cleaned fields of a sheet, or SheetError naming each bad field in French."""
    errors, clean = {}, {}
    clean["title"] = (fields.get("title") or "").strip()
    if not clean["title"] or len(clean["title"]) > MAX_TITLE:
        errors["title"] = f"Le titre est obligatoire ({MAX_TITLE} caractères au plus)."
    clean["body"] = (fields.get("body") or "").replace("\r\n", "\n").strip()
    if not clean["body"] or len(clean["body"]) > MAX_BODY:
        errors["body"] = f"Le contenu est obligatoire ({MAX_BODY} caractères au plus)."
    for name, allowed, label in (("incident_types", INCIDENT_TYPES, "type d'incident"),
                                 ("structure_kinds", STRUCTURE_KINDS, "type de structure"),
                                 ("audiences", AUDIENCES, "public")):
        values = list(dict.fromkeys(fields.get(name) or []))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            errors[name] = f"Valeur inconnue pour « {label} » : {', '.join(map(str, unknown))[:80]}."
        clean[name] = [v for v in values if v in allowed]
    if not clean["audiences"] and "audiences" not in errors:
        errors["audiences"] = "Choisissez au moins un public visé."
    if errors:
        raise SheetError(errors)
    return clean


def save_sheet(key: str | None, fields: dict, actor, now: datetime, new_key: str | None = None) -> ReflexSheet:
    """Add a sheet (its address from `new_key` or the title), or the next version of the sheet `key`; logged;
    the caller commits."""
    clean = check_sheet(fields)
    if key is None:
        key = _new_key(new_key if new_key and KEY_PATTERN.fullmatch(new_key) else clean["title"])
        version = 1
    else:
        previous = current_sheet(key)
        if previous is None:
            raise SheetError({"key": "Fiche réflexe introuvable."})
        previous.current = False
        version = previous.version + 1
        db.session.flush()
    sheet = ReflexSheet(key=key, version=version, current=True, created_at=now,
                        created_by=getattr(actor, "id", None), **clean)
    db.session.add(sheet)
    db.session.flush()
    db.session.add(KnowledgeEvent(at=now, actor=getattr(actor, "email", str(actor)), action="fiche_version",
                                  object_type="fiche", object_id=sheet.id, details={"cle": key, "version": version}))
    return sheet


def _new_key(title: str) -> str:
    base = (slugify(title) or "fiche")[:60]
    key, n = base, 1
    while db.session.scalar(select(ReflexSheet.id).where(ReflexSheet.key == key).limit(1)) is not None:
        n += 1
        key = f"{base}-{n}"
    return key


def current_sheet(key: str) -> ReflexSheet | None:
    """The current version of a sheet."""
    return db.session.scalar(select(ReflexSheet).where(ReflexSheet.key == key, ReflexSheet.current.is_(True)))


def sheet_version(key: str, version: int) -> ReflexSheet | None:
    """One version of a sheet (what a mail linked to)."""
    return db.session.scalar(select(ReflexSheet).where(ReflexSheet.key == key, ReflexSheet.version == version))


def current_sheets() -> list[ReflexSheet]:
    """Every current sheet, by title."""
    return list(db.session.scalars(select(ReflexSheet).where(ReflexSheet.current.is_(True))
                                   .order_by(func.lower(ReflexSheet.title), ReflexSheet.id)))


def suggest_sheets(incident_types: list, structure_kind: str | None) -> list[ReflexSheet]:
    """The current sheets matching a dossier's incident types and kind of structure: those written for its kind
    first, general guidance last."""
    types = set(incident_types or [])
    specific, general = [], []
    for sheet in current_sheets():
        if sheet.structure_kinds and structure_kind not in sheet.structure_kinds:
            continue
        if types & set(sheet.incident_types or []):
            specific.append(sheet)
        elif not sheet.incident_types:
            general.append(sheet)
    specific.sort(key=lambda sheet: not sheet.structure_kinds)  # sheets written for this kind first
    return specific + general


def sheet_link(sheet: ReflexSheet) -> str:
    """The absolute address of one sheet version (for mails: `PUBLIC_URL` setting)."""
    return links.absolute(f"/connaissances/fiches/{sheet.key}/v{sheet.version}")


def record_dispatch(dossier_id: int, sheets: list[ReflexSheet], now: datetime) -> None:
    """Remember which sheet versions were sent to a dossier's structure (its declarants may read them)."""
    for sheet in sheets:
        db.session.add(SheetDispatch(dossier_id=dossier_id, sheet_id=sheet.id, sent_at=now))
