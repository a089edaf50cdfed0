"""Writing a user's draft of a form: shared by the autosave (web/declaration/drafts.py) and the task pages (web/casework/tasks.py)."""
from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from models import Draft, db
from timekeeping.clock import app_now


# Built once (models/kept.py says why): every task page reads it.
OWN_DRAFT = select(Draft).where(Draft.task_id == bindparam("_key"), Draft.user_id == bindparam("_user"))


def own_draft(key: str, user_id: int) -> Draft | None:
    """A user's own draft of one form, if any."""
    return db.session.scalar(OWN_DRAFT, {"_key": key, "_user": user_id})


def store(key: str, user_id: int, values: dict) -> Draft:
    """Write one user's draft of one form (created or replaced) and commit. Two requests of the same person
    (two tabs, a double click, racing submissions) may both create it: the second one then replaces it."""
    for attempt in range(2):
        draft = own_draft(key, user_id)
        if draft is None:
            draft = Draft(task_id=key, user_id=user_id, data=values, updated_at=app_now())
            db.session.add(draft)
        else:
            draft.data = values
            draft.updated_at = app_now()
        try:
            db.session.commit()
            return draft
        except IntegrityError:
            db.session.rollback()
            if attempt:
                raise
    return draft
