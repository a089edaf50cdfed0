"""GET /dossiers and /dossiers/{id}: the lists and the fiche de suivi of the pages, as JSON, through
the same visibility functions (web/access.py) and the same timeline (web/casework/dossiers.py)."""
from __future__ import annotations

import re

from flask import request
from sqlalchemy import func, select

from models import Dossier, OutboxMessage, Structure, TaskRow, db
from referentiel import STATES
from web import access, forms
from web.api.schemas import dossier_item, message_item, ref, stamp, task_item
from web.api.spec import operation
from web.casework.dossiers import READERS, timeline
from web.declaration.declare import alerted_entities
from web.auth.security import french_abort

PER_PAGE_MAX = 100
PAGING = [("page", {"type": "integer", "minimum": 1, "maximum": 100000}, "Page (1 par défaut)"),
          ("per_page", {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX}, "Éléments par page (25 par défaut)")]


def paging(default: int = 25) -> tuple[int, int]:
    """(page, per_page) from the query string; 400 for values that are not positive integers in range."""
    values = []
    for name, top, fallback in (("page", 100000, 1), ("per_page", PER_PAGE_MAX, default)):
        raw = request.args.get(name)
        if raw is None:
            values.append(fallback)
            continue
        # ASCII digits only: str.isdigit() also accepts « ² », which int() refuses.
        if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= top:
            french_abort(400, f"Paramètre « {name} » invalide : un entier de 1 à {top}.")
        values.append(int(raw))
    return values[0], values[1]


@operation("/dossiers", roles=sorted(READERS), summary="Dossiers visibles (mêmes règles que la liste des dossiers)",
           response=ref("DossierList"), query=PAGING + [("etat", {"type": "string", "enum": sorted(STATES)},
                                                          "Filtrer sur l'état du dossier")])
def list_dossiers(user):
    """The dossiers the user finds in the pages' list, newest first (summaries marked as such)."""
    page, per_page = paging()
    conditions = [access.listed_filter(user)]
    state = request.args.get("etat")
    if state is not None:
        if state not in STATES:
            french_abort(400, "Paramètre « etat » invalide : un état de dossier de l'instruction.")
        conditions.append(Dossier.state == state)
    total = db.session.scalar(select(func.count()).select_from(Dossier).where(*conditions))
    pages = max(1, -(-total // per_page))
    rows = db.session.scalars(select(Dossier).where(*conditions).order_by(Dossier.created_at.desc(), Dossier.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    full = set(db.session.scalars(select(Dossier.id).where(Dossier.id.in_([d.id for d in rows] or [0]),
                                                           access.dossier_filter(user))))
    return {"items": [dossier_item(d, d.id in full) for d in rows], "total": total, "page": page, "pages": pages}


def _summary(dossier: Dossier) -> dict:
    """The ARS's view of its region's military hospital's dossier: number, state, the standard message."""
    alert = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.dossier_id == dossier.id, OutboxMessage.kind == access.CARE_ALERT_KIND)) > 0
    return {"id": dossier.id, "number": dossier.number, "state": dossier.state, "summary": True,
            "structure": access.summary_structure(dossier), "message": access.STANDARD_MESSAGE,
            "care_alert": access.CARE_ALERT if alert else None,
            "care_alert_action": access.CARE_ALERT_ACTION if alert else None}


def _timeline(dossier: Dossier, user) -> list[dict]:
    definition = forms.pinned_definition(dossier.instance_id)
    return [{"seq": e["seq"], "at": stamp(e["at"]), "actor": e["actor"], "role": e["role"] or "", "title": e["title"],
             "entered": [{"label": label, "value": value} for label, value in e["entered"]],
             "states": list(e["states"]), "messages": [message_item(m) for m in e["messages"]]}
            for e in timeline(dossier, definition, user)]


@operation("/dossiers/<int:dossier_id>", summary="Un dossier et sa chronologie (comme sa fiche de suivi)",
           response=ref("Dossier"), errors=(404,))
def show_dossier(user, dossier_id):
    """A dossier read in full with its open tasks and timeline, or its summary; 404 when out of scope."""
    dossier, full = access.dossier_view(user, dossier_id)
    if not full:
        return _summary(dossier)
    structure = db.session.get(Structure, dossier.structure_id)
    open_tasks = db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.status == "ready")
                                    .order_by(TaskRow.created_at, TaskRow.id)).all()
    return {"id": dossier.id, "number": dossier.number, "state": dossier.state, "summary": False,
            "title": dossier.title or "", "phase": dossier.phase or "", "region": dossier.region,
            "structure": {"id": structure.id, "name": structure.name, "finess_et": structure.finess_et},
            "military": bool(dossier.military), "qualification": dossier.qualification,
            "incident_types": list(dossier.incident_types or []), "urgent_help": bool(dossier.urgent_help),
            "care_impact": dossier.care_impact, "off_hours": bool(dossier.off_hours), "priority": dossier.priority or 0,
            "created_at": stamp(dossier.created_at), "declared_at": stamp(dossier.declared_at),
            "qualified_at": stamp(dossier.qualified_at), "closed_at": stamp(dossier.closed_at),
            "updated_at": stamp(dossier.updated_at), "open_tasks": [task_item(t, dossier.number) for t in open_tasks],
            "timeline": _timeline(dossier, user), "entites_alertees": alerted_entities(dossier)}
