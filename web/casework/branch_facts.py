"""Facts a task page shows that were answered in another branch of the process.

A task's own data holds what the steps before it on its branch answered. A step of a parallel branch (the
permanent HFDS/FSSI's handling of an urgent off-hours declaration, while the Cellule ACSS's opening waits
for its next working hours) answers into its own branch: the task page reads those answers from the audit
log, where every completed task's submitted data is kept, so that the UI schema's `ui:context` can name them.
"""
from __future__ import annotations

from sqlalchemy import select

from models import AuditEvent, db


def with_earlier_answers(instance_id: int, data: dict, names: list) -> dict:
    """`data` completed with the latest answer, on any branch, to each named field it lacks."""
    missing = {name for name in names if name not in data}
    if not missing:
        return data
    merged = dict(data)
    payloads = db.session.scalars(select(AuditEvent.payload).where(AuditEvent.instance_id == instance_id,
                                                                   AuditEvent.command == "complete")
                                  .order_by(AuditEvent.seq.desc()))
    for payload in payloads:
        answers = (payload or {}).get("data") if isinstance(payload, dict) else None
        for name in list(missing):
            if isinstance(answers, dict) and name in answers:
                merged[name] = answers[name]
                missing.discard(name)
        if not missing:
            break
    return merged
