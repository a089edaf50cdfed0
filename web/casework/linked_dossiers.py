"""Dossiers linked to a task's dossier by the similarity of phase 4 task A, as the user may see them.

The task data holds only the numbers, points and reasons recorded by the handler; the structures are
read here, through the visibility model (web/access.py), so that a page never shows a dossier or a
structure outside the reader's scope.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import Dossier, Structure, User, db
from web import access


@dataclass
class Linked:
    """One linked dossier as shown on a task page."""

    dossier: Dossier
    structure: Structure
    score: float | None
    reasons: list


def _matches(found) -> list[dict]:
    """The recorded matches ({numero, score, raisons}), also from a bare list of numbers (older results)."""
    if not isinstance(found, dict):
        return []
    matches = [m for m in found.get("correspondances") or [] if isinstance(m, dict) and isinstance(m.get("numero"), str)]
    if matches:
        return matches
    return [{"numero": n} for n in found.get("dossiers") or [] if isinstance(n, str)]


def linked_dossiers(user: User, data: dict, key: str | None) -> tuple[list[Linked], int, float | None] | None:
    """(linked dossiers the user may read, how many others are out of their scope, the threshold applied);
    None when the page shows none."""
    if not key or not isinstance(key, str):
        return None
    found = data.get(key)
    threshold = found.get("seuil") if isinstance(found, dict) else None
    matches = _matches(found)
    numbers = [m["numero"] for m in matches]
    rows = db.session.execute(select(Dossier, Structure).join(Structure, Structure.id == Dossier.structure_id)
                              .where(Dossier.number.in_(numbers), access.dossier_filter(user))).all() if numbers else []
    seen = {dossier.number: (dossier, structure) for dossier, structure in rows}
    linked = []
    for match in matches:
        if match["numero"] in seen:
            reasons = [r["texte"] for r in match.get("raisons") or [] if isinstance(r, dict) and r.get("texte")]
            score = match.get("score") if isinstance(match.get("score"), (int, float)) else None
            linked.append(Linked(*seen[match["numero"]], score, reasons))
    return linked, len(numbers) - len(linked), threshold if isinstance(threshold, (int, float)) else None
