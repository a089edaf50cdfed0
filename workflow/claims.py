"""Claiming a task (the inbox's « Prendre »), with the time kept for the process-mining export.

Claims are not commands: they change who holds a task row, never the process state, so they are not
in the audit chain. The row keeps the current claim and its time only (earlier claims are not kept).
"""
from __future__ import annotations

from sqlalchemy import and_, case, literal, update

from models import TaskRow, UTCDateTime, db
from timekeeping.clock import app_now


def claim(task_id: str, user_id: int, take_over: bool = False) -> bool:
    """Give a ready task to a user (a colleague's claim only with `take_over`); True if they hold it now.

    Atomic: two people claiming at once cannot both get the task. Claiming one's own task again keeps
    its first claim time.
    """
    query = update(TaskRow).where(TaskRow.id == task_id, TaskRow.status == "ready")
    if not take_over:
        query = query.where((TaskRow.claimed_by.is_(None)) | (TaskRow.claimed_by == user_id))
    since = case((and_(TaskRow.claimed_by == user_id, TaskRow.claimed_at.is_not(None)), TaskRow.claimed_at),
                 else_=literal(app_now(), UTCDateTime()))
    return db.session.execute(query.values(claimed_by=user_id, claimed_at=since)).rowcount > 0


def release(task_id: str, user_id: int) -> bool:
    """Give a task held by the user back to the team; True if they held it."""
    return db.session.execute(update(TaskRow).where(TaskRow.id == task_id, TaskRow.claimed_by == user_id)
                              .values(claimed_by=None, claimed_at=None)).rowcount > 0
