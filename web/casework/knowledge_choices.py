"""The cell's knowledge in the analysts' forms: phase 4 task C's choices, the knowledge base at qualification.

Phase 4 task C: the reflex sheets and providers proposed for the dossier, as choices.

A UI schema marks a field `"ui:options": {"knowledgeChoices": "fiches"}` (or `"prestataires"`); when the
form is shown its choices are the current sheets and active providers matching the dossier
(handlers.support.propositions), all checked at first; the service task then sends only what stayed
checked (a field left empty is sent as an empty choice, never as « everything »).
"""
from __future__ import annotations

import copy

from sqlalchemy import and_

from handlers.support import propositions
from knowledge import retex as retex_base
from models import Dossier
from referentiel import INCIDENT_TYPES
from web import access

KINDS = ("fiches", "prestataires")


def choice_fields(ui: dict) -> dict[str, str]:
    """{field: "fiches" | "prestataires"} for the UI schema's knowledge choice fields."""
    found = {}
    for name, options in ui.items():
        if isinstance(options, dict) and isinstance(options.get("ui:options"), dict):
            kind = options["ui:options"].get("knowledgeChoices")
            if kind in KINDS:
                found[name] = kind
    return found


def options_for(dossier: Dossier) -> dict[str, list[dict]]:
    """The proposals for a dossier as oneOf options (sheet key or provider id, French title)."""
    sheets, providers = propositions(dossier, {})
    return {"fiches": [{"const": s.key, "title": f"{s.title} (version {s.version})"} for s in sheets],
            "prestataires": [{"const": str(p.id), "title": f"{p.name} - {p.contact}"[:200]} for p in providers]}


def with_choices(schema: dict, ui: dict, dossier: Dossier) -> dict:
    """A copy of the schema whose knowledge choice fields offer the dossier's proposals."""
    fields = choice_fields(ui)
    if not fields:
        return schema
    options = options_for(dossier)
    schema = copy.deepcopy(schema)
    for name, kind in fields.items():
        prop = schema.get("properties", {}).get(name)
        if isinstance(prop, dict) and isinstance(prop.get("items"), dict):
            prop["items"]["oneOf"] = options[kind] or [{"const": "", "title": "Aucune proposition"}]
    return schema


def defaults(schema: dict, ui: dict, values: dict) -> dict:
    """Form values with every proposal checked, for a form opened for the first time."""
    values = dict(values)
    for name in choice_fields(ui):
        items = schema.get("properties", {}).get(name, {}).get("items", {})
        values.setdefault(name, [o["const"] for o in items.get("oneOf", []) if o["const"]])
    return values


def posted(ui: dict, data: dict) -> dict:
    """Typed data with an empty list for a knowledge choice left with nothing checked."""
    return {**{name: [] for name in choice_fields(ui)}, **data}


def errors(schema: dict, ui: dict, data: dict) -> dict[str, str]:
    """{field: French message} for a chosen value that is not one of the dossier's proposals."""
    found = {}
    for name in choice_fields(ui):
        allowed = {o["const"] for o in schema.get("properties", {}).get(name, {}).get("items", {}).get("oneOf", [])}
        if any(value not in allowed for value in data.get(name) or []):
            found[name] = "Choisissez parmi les propositions affichées (la liste a pu changer : rechargez la page)."
    return found


def lessons(ui: dict, dossier: Dossier, user) -> dict:
    """{type label: [(number, date, summary)]}: what past dossiers of the same incident types taught, for a
    form whose UI schema asks for it (`"ui:knowledgeBase": true`, the qualification); only dossiers the user
    reads, never this one."""
    if not ui.get("ui:knowledgeBase") or not access.sees_internal_work(user):
        return {}
    condition = and_(access.dossier_filter(user), Dossier.id != dossier.id)
    found = retex_base.lessons_by_type(condition, list(dossier.incident_types or []), per_type=3)
    return {INCIDENT_TYPES.get(kind, kind): rows for kind, rows in found.items()}
