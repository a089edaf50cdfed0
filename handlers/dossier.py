"""Handlers that act on the dossier itself: state, similar incidents, requalification."""
from sqlalchemy import select

from models import Dossier

OPEN_STATES = ("à traiter", "à clôturer")


def changer_etat(ctx, data, etat):
    """Move the dossier to one of the states named by annex 1."""
    ctx.set_state(etat)
    return {"etat": etat}


def incidents_similaires(ctx, data):
    """Phase 4 task A: other dossiers of the same incident type still being handled."""
    types = set(data.get("types_incident") or [])
    rows = ctx.session.execute(
        select(Dossier.number, Dossier.incident_types)
        .where(Dossier.state.in_(OPEN_STATES), Dossier.id != ctx.dossier.id,
               Dossier.qualification.in_(("grave", "significatif")))
        .order_by(Dossier.number)
    ).all()
    similar = [number for number, kinds in rows if types & set(kinds or [])]
    return {"nombre": len(similar), "dossiers": similar}


def passer_significatif(ctx, data):
    """Requalify a grave incident as significatif because similar ones are open; inform the HFDS."""
    numbers = (data.get("similaires") or {}).get("dossiers", [])
    ctx.set_qualification("significatif")
    ctx.notify("passage_significatif", ["hfds", "ars"],
               {"message": "Incidents similaires en cours : " + ", ".join(numbers)})
    return {"qualification": "significatif", "motif": "incidents similaires en cours", "dossiers": numbers}
