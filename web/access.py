"""Who sees which dossier and who works which task (DESIGN.md decision 6), as SQL filters.

Every list and detail route goes through these helpers, so visibility is enforced in the
queries themselves and never only by hiding links.
"""
from __future__ import annotations

from sqlalchemy import and_, false, select, true

from models import Dossier, TaskRow, User, db
from web.security import french_abort

READ_ALL = {"acss", "hfds", "dgs", "auditeur"}
WORKERS = {"declarant", "ars", "acss", "hfds", "dgs", "armees"}
ADMINS = {"admin", "responsable_processus"}


def dossier_filter(user: User):
    """SQL condition on Dossier for the dossiers a user may read."""
    role = user.role
    if role == "declarant":
        return Dossier.structure_id == user.structure_id if user.structure_id else false()
    if role == "ars":
        return Dossier.region == user.region if user.region else false()
    if reads_all(user):
        return true()
    if role == "armees":
        return Dossier.structure_kind == "hopital_armees"
    return false()


def reads_all(user: User) -> bool:
    """Whether the user's role reads every dossier (its dossier filter is always true)."""
    return user.role in READ_ALL


def visible_dossiers(user: User):
    """A select of the dossiers a user may read."""
    return select(Dossier).where(dossier_filter(user))


def task_filter(user: User):
    """SQL condition on TaskRow for the tasks a user may work (same rule as commands.check_can_work)."""
    if user.role not in WORKERS:
        return false()
    conditions = [TaskRow.role == user.role]
    if user.role == "ars":
        conditions.append(TaskRow.region == user.region)
    if user.role == "declarant":
        conditions.append(TaskRow.structure_id == user.structure_id)
    return and_(*conditions)


def can_read(user: User, dossier: Dossier) -> bool:
    """Whether a user may read one dossier (checked in SQL, like the lists)."""
    return db.session.scalar(select(Dossier.id).where(Dossier.id == dossier.id, dossier_filter(user))) is not None


def can_work(user: User, row: TaskRow) -> bool:
    """Whether a user may work one task row."""
    return db.session.scalar(select(TaskRow.id).where(TaskRow.id == row.id, task_filter(user))) is not None


def readable_dossier(user: User, dossier_id: int) -> Dossier:
    """The dossier if the user may read it; 404 if it does not exist, 403 otherwise."""
    dossier = db.session.get(Dossier, dossier_id)
    if dossier is None:
        french_abort(404, "Ce dossier n'existe pas.")
    if not can_read(user, dossier):
        french_abort(403, "Ce dossier ne relève pas de votre périmètre : vous ne pouvez pas le consulter.")
    return dossier


def workable_task(user: User, task_id: str) -> TaskRow:
    """The task row if the user may work it (any status); 404/403 otherwise."""
    row = db.session.get(TaskRow, task_id)
    if row is None:
        french_abort(404, "Cette tâche n'existe pas.")
    dossier = db.session.get(Dossier, row.dossier_id)
    if not can_read(user, dossier) or not can_work(user, row):
        french_abort(403, "Cette tâche relève d'un autre acteur ou d'un autre périmètre.")
    return row
