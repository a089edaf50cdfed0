"""Handlers that act on the dossier itself: state, similar incidents, requalification."""
from flask import current_app

from handlers import similarity


def changer_etat(ctx, data, etat):
    """Move the dossier to one of the states named by annex 1."""
    ctx.set_state(etat)
    return {"etat": etat}


def incidents_similaires(ctx, data):
    """Phase 4 task A: open dossiers sharing evidence with this one, ranked, with the reasons of each match.

    The result (recorded in the audit event, which replay reads back) proposes the switch to phase 4 bis
    when `nombre` > 0; the analyst confirms or dismisses it in the next task.
    """
    conf = similarity.settings(current_app.config)
    types = data.get("types_incident")
    source = similarity.profile_of(ctx.session, ctx.dossier, types if isinstance(types, list) else None)
    return similarity.result(similarity.rank(ctx.session, source, conf), conf)


def passer_significatif(ctx, data):
    """Requalify a grave incident as significatif because similar ones are open; tell the HFDS which and why."""
    found = data.get("similaires") or {}
    numbers = list(found.get("dossiers") or [])
    matches = [m for m in found.get("correspondances") or [] if isinstance(m, dict)]
    motif = data.get("motif_decision") or ""
    ctx.set_qualification("significatif")
    ctx.notify("passage_significatif", ["hfds", "ars"],
               {"correspondances": matches, "dossiers_similaires": numbers, "motif_decision": motif,
                "seuil": found.get("seuil"),
                "message": "Incidents similaires en cours : " + ", ".join(numbers)})
    return {"qualification": "significatif", "motif": "incidents similaires en cours", "dossiers": numbers,
            "motif_decision": motif}
