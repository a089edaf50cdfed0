"""Volume data for the list pages: many open dossiers with their task rows, written as plain INSERTs.

Only the rows the inbox and the dossier list read are written (instance, dossier, task); the
instances hold no process state, so these dossiers are for measuring lists, not for opening.
Used by bench/inbox.py and by the inbox's pagination test.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from itertools import cycle, islice

from sqlalchemy import func, insert, select

from models import Dossier, ProcessInstance, Structure, TaskRow, db
from referentiel import INCIDENT_TYPES, priority_score

# (task, role, qualification) of an open dossier at different points of its life.
OPEN_STEPS = [("p2_ouvrir", "acss", None), ("p3_qualifier", "acss", None), ("p4_choix", "ars", "grave"),
              ("p4_accompagner", "acss", "grave"), ("p4bis_pilotage", "hfds", "significatif"),
              ("p5_bilan", "acss", "grave")]


def _markers(i: int, qualification: str | None) -> dict:
    """Priority markers of the i-th dossier: a few urgent, some with impact on care, some off hours."""
    urgent, care, off_hours = i % 13 == 0, "mode_degrade" if i % 5 == 0 else None, i % 7 == 0
    return {"urgent_help": urgent, "care_impact": care, "off_hours": off_hours,
            "priority": priority_score(urgent, care, False, qualification, off_hours)}


def add_open_dossiers(count: int, now: datetime, completed_per_dossier: int = 2,
                      structures: list[Structure] | None = None) -> int:
    """Insert `count` open dossiers spread over the structures (all by default), each with one ready
    task and `completed_per_dossier` completed ones; return the first new dossier id."""
    structures = structures or db.session.scalars(select(Structure).order_by(Structure.id)).all()
    first = db.session.scalar(select(func.coalesce(func.max(ProcessInstance.id), 0))) + 1
    definition = db.session.scalar(select(func.min(ProcessInstance.definition_id))) or 1
    types = list(INCIDENT_TYPES)
    chunk = 5_000
    for start in range(0, count, chunk):
        ids = range(first + start, first + min(count, start + chunk))
        placed = list(zip(ids, islice(cycle(structures), start, None), islice(cycle(OPEN_STEPS), start, None)))
        db.session.execute(insert(ProcessInstance), [
            {"id": i, "definition_id": definition, "state_json": "{}", "state_hash": "", "version": 1,
             "status": "running", "last_seq": 0, "created_at": now, "updated_at": now} for i, _, _ in placed])
        db.session.execute(insert(Dossier), [
            {"id": i, "number": f"SSI-2099-{i:06d}", "instance_id": i, "structure_id": s.id, "region": s.region,
             "structure_kind": s.kind, "incident_types": [types[i % len(types)]], "qualification": qualification,
             "state": "à traiter" if qualification else "en attente de qualification",
             "created_at": now - timedelta(minutes=i), "updated_at": now, **_markers(i, qualification)}
            for i, s, (_, _, qualification) in placed])
        rows = []
        for i, s, (spec, role, qualification) in placed:
            base = {"instance_id": i, "dossier_id": i, "role": role, "region": s.region, "structure_id": s.id,
                    "created_at": now - timedelta(minutes=i), "civil": True}  # no military dossier here
            rows.append({**base, "id": f"vol-{i}-ouverte", "spec_name": spec, "title": spec, "status": "ready",
                         "due_at": now + timedelta(minutes=(i * 37) % 20_000 - 5_000),
                         "priority": _markers(i, qualification)["priority"]})
            rows += [{**base, "id": f"vol-{i}-{n}", "spec_name": "p1_declarer", "title": "p1_declarer",
                      "status": "completed", "completed_at": now} for n in range(completed_per_dossier)]
        db.session.execute(insert(TaskRow), rows)
    db.session.commit()
    return first
