"""The inbox: the open tasks a user may work, with filters, sorting, counts and pagination."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from flask import Blueprint, render_template, request
from sqlalchemy import String, and_, case, cast, func, select

from models import Dossier, Structure, TaskRow, User, db
from referentiel import INCIDENT_TYPES, QUALIFICATIONS, REGIONS
from timekeeping.clock import app_now
from web import access
from web.auth.login import current_user, roles_required
from web.forms import PARIS
from workflow import deployment

bp = Blueprint("inbox", __name__, url_prefix="/boite")
PAGE_SIZE = 25
SORTS = {
    # The default: priority (urgent help, impact on care, qualification, off hours) then due date.
    "priorite": lambda: (TaskRow.priority.desc(), TaskRow.due_at.is_(None), TaskRow.due_at, TaskRow.created_at,
                         TaskRow.id),
    # NULLS LAST rather than `due_at IS NULL` first: the same order, and PostgreSQL reads it from the
    # worklist index in order (the first page stops after 25 entries instead of sorting every open task).
    "echeance": lambda: (TaskRow.due_at.asc().nulls_last(), TaskRow.created_at, TaskRow.id),
    # Ties (the tasks one command opens) in id order, descending here so that ix_tasks_recent is read backwards.
    "recent": lambda: (TaskRow.created_at.desc(), TaskRow.id.desc()),
    "ancien": lambda: (TaskRow.created_at, TaskRow.id),
    "dossier": lambda: (Dossier.number, TaskRow.id),
}
DUE_FILTERS = {"retard": "En retard", "aujourdhui": "À traiter aujourd'hui", "semaine": "Dans les 7 jours",
               "sans": "Sans échéance"}
CLAIM_FILTERS = {"moi": "Prises par moi", "libres": "Non attribuées", "autres": "Prises par un collègue"}


def incident_type_condition(code: str):
    """Dossiers whose JSON list of incident types contains a code (portable SQLite/PostgreSQL)."""
    return cast(Dossier.incident_types, String).like(f'%"{code}"%')


def filters_from(args, user: User, now: datetime) -> tuple[list, list, dict]:
    """SQL conditions for the inbox filters found in the query string, and the cleaned values.

    Conditions on the task rows and on their dossiers are kept apart (the dossier conditions need
    the join); the visibility model's dossier filter is always one of them.
    """
    chosen = {}
    # Tasks are listed only on dossiers the user reads in full (web/access.py), whatever the role.
    on_tasks, on_dossier = access.inbox_scope(user)
    conditions = [TaskRow.status == "ready", access.task_filter(user), *on_tasks]
    if args.get("tache"):
        chosen["tache"] = args["tache"][:120]
        conditions.append(TaskRow.spec_name == chosen["tache"])
    if args.get("region") in REGIONS:
        chosen["region"] = args["region"]
        conditions.append(TaskRow.region == chosen["region"])
    if re.fullmatch(r"[0-9]{1,9}", args.get("structure", "")):
        chosen["structure"] = args["structure"]
        conditions.append(TaskRow.structure_id == int(chosen["structure"]))
    if args.get("type") in INCIDENT_TYPES:
        chosen["type"] = args["type"]
        on_dossier.append(incident_type_condition(chosen["type"]))
    if args.get("qualification") in QUALIFICATIONS:
        chosen["qualification"] = args["qualification"]
        on_dossier.append(Dossier.qualification == chosen["qualification"])
    elif args.get("qualification") == "aucune":
        chosen["qualification"] = "aucune"
        on_dossier.append(Dossier.qualification.is_(None))
    due = args.get("echeance")
    if due in DUE_FILTERS:
        chosen["echeance"] = due
        end_of_day = datetime.combine(now.astimezone(PARIS).date(), time(23, 59, 59), PARIS)
        conditions.append({"retard": and_(TaskRow.due_at.is_not(None), TaskRow.due_at < now),
                           "aujourdhui": and_(TaskRow.due_at.is_not(None), TaskRow.due_at <= end_of_day),
                           "semaine": and_(TaskRow.due_at.is_not(None), TaskRow.due_at <= now + timedelta(days=7)),
                           "sans": TaskRow.due_at.is_(None)}[due])
    claim = args.get("prise")
    if claim in CLAIM_FILTERS:
        chosen["prise"] = claim
        conditions.append({"moi": TaskRow.claimed_by == user.id, "libres": TaskRow.claimed_by.is_(None),
                           "autres": and_(TaskRow.claimed_by.is_not(None), TaskRow.claimed_by != user.id)}[claim])
    return conditions, on_dossier, chosen


def inbox_page(user: User, args, now: datetime, page_size: int = PAGE_SIZE) -> dict:
    """One page of the inbox with its counts: one counting query, one query for the page's task ids,
    one for their rows; the dossiers are joined only when a filter or the sort needs them."""
    conditions, on_dossier, chosen = filters_from(args, user, now)
    sort = args.get("tri") if args.get("tri") in SORTS else "priorite"
    try:
        page = max(1, int(args.get("page", 1)))
    except ValueError:
        page = 1

    def scoped(query):
        if on_dossier or sort == "dossier":
            query = query.join(Dossier, Dossier.id == TaskRow.dossier_id).where(*on_dossier)
        return query.where(*conditions)

    total, overdue, mine = db.session.execute(scoped(select(
        func.count(),
        func.count(case((and_(TaskRow.due_at.is_not(None), TaskRow.due_at < now), 1))),
        func.count(case((TaskRow.claimed_by == user.id, 1))),
    ).select_from(TaskRow))).one()
    pages = max(1, -(-total // page_size))
    page = min(page, pages)
    ids = db.session.scalars(scoped(select(TaskRow.id)).order_by(*SORTS[sort]())
                             .limit(page_size).offset((page - 1) * page_size)).all()
    found = {task.id: (task, dossier) for task, dossier in db.session.execute(
        select(TaskRow, Dossier).join(Dossier, Dossier.id == TaskRow.dossier_id).where(TaskRow.id.in_(ids)))}
    rows = [found[task_id] for task_id in ids if task_id in found]
    return {"rows": rows, "total": total, "page": page, "pages": pages, "sort": sort, "chosen": chosen,
            "overdue": overdue, "mine": mine}


def _options(user: User) -> dict:
    """Choices for the filter form, limited to the user's scope."""
    # The role's tasks in the deployed process, not a scan of the open rows (stable, and cheap at volume).
    tasks = [(name, title) for name, title, role in deployment.user_tasks(deployment.active_definition())
             if role == user.role]
    structures = select(Structure.id, Structure.name).order_by(Structure.name)  # the form needs no more
    if user.role == "ars":
        structures = structures.where(Structure.region == user.region)
    elif user.role == "declarant":
        structures = structures.where(Structure.id == user.structure_id)
    elif user.role == "armees":
        structures = structures.where(Structure.kind == "hopital_armees")
    return {"tasks": tasks, "structures": db.session.execute(structures.limit(500)).all(),
            "regions": [user.region] if user.role == "ars" else REGIONS}


@bp.route("")
@roles_required(*access.WORKERS)
def index():
    """The open tasks the user may work."""
    user = current_user()
    now = app_now()
    result = inbox_page(user, request.args, now)
    claimed = {t.claimed_by for t, _ in result["rows"] if t.claimed_by}
    claimers = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(claimed))).all()) if claimed else {}
    shown = {d.structure_id for _, d in result["rows"]}
    structures = dict(db.session.execute(select(Structure.id, Structure.name)
                                         .where(Structure.id.in_(shown))).all()) if shown else {}
    return render_template("casework/inbox/index.html", **result, options=_options(user), now=now, claimers=claimers,
                           structures=structures, due_filters=DUE_FILTERS, claim_filters=CLAIM_FILTERS,
                           incident_types=INCIDENT_TYPES, qualifications=QUALIFICATIONS, user=user)
