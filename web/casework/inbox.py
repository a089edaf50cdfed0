"""The inbox: the open tasks a user may work, with filters, sorting, counts and pagination."""
from __future__ import annotations

import re
from collections import namedtuple
from datetime import datetime, time, timedelta
from functools import lru_cache

from time import monotonic

from flask import Blueprint, current_app, render_template, request
from markupsafe import Markup, escape
from sqlalchemy import String, and_, bindparam, case, cast, func, select, true
from sqlalchemy.orm import Bundle, aliased

from models import Dossier, Structure, TaskRow, User, db
from models.kept import kept, planned_once
from referentiel import INCIDENT_TYPES, QUALIFICATIONS, REGIONS
from timekeeping.clock import app_now
from web import access
from web.casework import inbox_lines
from web.auth.login import current_user, roles_required
from web.forms import PARIS
from workflow import deployment

bp = Blueprint("inbox", __name__, url_prefix="/boite")
PAGE_SIZE = 25
SORTS = {
    # The default: priority (urgent help, impact on care, qualification, off hours) then due date.
    # Due dates NULLS LAST (the same order as `due_at IS NULL, due_at`) so that PostgreSQL reads the first page
    # in order from ix_tasks_priority (priority DESC, due_at, ...) and stops after it.
    "priorite": lambda: (TaskRow.priority.desc(), TaskRow.due_at.asc().nulls_last(), TaskRow.created_at, TaskRow.id),
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


def _me(user: User):
    """The user's id as a parameter (named with « _ »: models/kept.planned_once leaves it one), so that the analysts
    of one scope share the text of their pages' statements: psycopg keeps 100 prepared statements per connection,
    and one text per analyst would push them out of it in turn."""
    return bindparam("_me", user.id)


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
        # Named with « _ »: a text the user typed stays a parameter (models/kept.planned_once).
        conditions.append(TaskRow.spec_name == bindparam("_tache", chosen["tache"]))
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
        me = _me(user)
        conditions.append({"moi": TaskRow.claimed_by == me, "libres": TaskRow.claimed_by.is_(None),
                           "autres": and_(TaskRow.claimed_by.is_not(None), TaskRow.claimed_by != me)}[claim])
    return conditions, on_dossier, chosen


class NamedRows(Bundle):
    """A bundle whose values come as a named tuple (collections.namedtuple): Jinja reads a page's few hundred
    attributes of rows at C speed, where SQLAlchemy's Row answers each through a Python __getattr__ (0.48 against
    0.07 us each, measured). Reading a column left out raises AttributeError, as with a Row."""

    def create_row_processor(self, query, procs, labels):
        make = _named(self.name, tuple(labels))._make
        return lambda row: make([proc(row) for proc in procs])


@lru_cache(maxsize=None)  # one class per bundle and columns: a few, made once
def _named(name: str, labels: tuple):
    return namedtuple(name, labels)


# What a row of the inbox (and of the API's task list) reads of a task and of its dossier, as plain rows with named
# columns rather than mapped objects: a page reads 25 of each and changes none, and building, registering and
# discarding 50 tracked objects cost more than the statement.
TASK_ROW = NamedRows("task", TaskRow.id, TaskRow.dossier_id, TaskRow.title, TaskRow.spec_name, TaskRow.role,
                     TaskRow.status, TaskRow.due_at, TaskRow.created_at, TaskRow.claimed_by, TaskRow.completed_at,
                     TaskRow.priority)
DOSSIER_ROW = NamedRows("dossier", Dossier.id, Dossier.number, Dossier.title, Dossier.state, Dossier.structure_id,
                        Dossier.region, Dossier.qualification, Dossier.urgent_help, Dossier.care_impact,
                        Dossier.health_impact, Dossier.off_hours)

# The colleague who holds a task, for the name the page shows.
CLAIMER = aliased(User, name="preneur")

# Counts are exact up to this many tasks; past it the page says « plus de 1 000 » (a worklist that long is read
# page by page, not counted, and counting tens of thousands of index entries costs more than the whole page).
COUNT_CAP = 1000


# The query-string keys that shape the statements (filters_from and the sort); « echeance » is left out on purpose:
# its bounds are computed from the current day, so a page filtered by due date builds its statements each time.
SHAPING_KEYS = ("tache", "region", "structure", "type", "qualification", "prise", "tri")
# The instant `late` compares due dates with, bound at each execution: a kept statement is valid at any time.
NOW = bindparam("_now", type_=TaskRow.due_at.type)


def _statements(user: User, args, now: datetime, exact: bool, page: int, page_size: int, build):
    """The (statement, cleaned filters) of an inbox page (its rows with the counts, or the counts alone), built once
    for what shapes them and kept (models/kept.py).

    Every value a statement embeds comes from the key: the user (the visibility model's scope, and the id for
    « mine » and the claim filter), the filters and the sort as the query string gives them, the page, the page size
    and the choice of counts; the instant is a parameter (NOW). So a kept statement is the one `build` would give
    again."""
    if args.get("echeance") in DUE_FILTERS:
        return build()
    # Values are cut where filters_from cuts (« tache ») or refuses longer ones: a query string cannot make keys of
    # any size.
    shape = tuple((args.get(k) or "")[:120] for k in SHAPING_KEYS)
    def planned():
        statement, chosen = build()  # a statement and the cleaned filters
        return planned_once(statement), chosen

    return kept(("inbox", user.id, access.scope_key(user), shape, exact, page, page_size), planned)


def inbox_page(user: User, args, now: datetime, page_size: int = PAGE_SIZE, exact: bool = False) -> dict:
    """One page of the inbox with its counts, in one statement when the page has rows.

    The counts (over at most COUNT_CAP + 1 tasks unless `exact`, or unless the page asked for lies past them) are a
    one-row subquery joined to the page's rows with their dossiers, structure names and the names of the colleagues
    who hold them: one round trip instead of three. A page without rows (none match, or a page past the last) reads
    the counts alone, then the last page if there is one. The overdue count is capped too; "mine" is always exact
    (ix_tasks_claimed). `total_more` / `overdue_more` say that the count stopped at the cap. The statements are kept
    for the next page of the same shape (_statements)."""
    sort = args.get("tri") if args.get("tri") in SORTS else "priorite"
    try:
        page = max(1, int(args.get("page", 1)))
    except ValueError:
        page = 1
    # Pages past the cap need the exact count (to know the last page); so does a program (the API).
    exact = exact or page * page_size > COUNT_CAP

    def shaped(query, on_dossier: list, conditions: list, join_dossier: bool = sort == "dossier"):
        if on_dossier or join_dossier:
            query = query.join(Dossier, Dossier.id == TaskRow.dossier_id).where(*on_dossier)
        return query.where(*conditions)

    def counted(filters: tuple | None = None):
        """(the counts' statement, the cleaned filters): one row of three columns, total, overdue and mine."""
        conditions, on_dossier, chosen = filters or filters_from(args, user, now)

        def scoped(query):
            return shaped(query, on_dossier, conditions)

        late = and_(TaskRow.due_at.is_not(None), TaskRow.due_at < NOW)
        mine_condition = TaskRow.claimed_by == _me(user)
        if exact:
            return scoped(select(func.count().label("total"), func.count(case((late, 1))).label("overdue"),
                                 func.count(case((mine_condition, 1))).label("mine")).select_from(TaskRow)), chosen

        def capped(query):
            return select(func.count()).select_from(query.limit(COUNT_CAP + 1).subquery()).scalar_subquery()

        mine = scoped(select(func.count()).select_from(TaskRow)).where(mine_condition).scalar_subquery().label("mine")
        if user.role in access.NATIONAL and not chosen:
            # A national body's whole worklist, read in due-date order from ix_tasks_worklist: its first COUNT_CAP + 1
            # tasks hold every overdue one when there are fewer, and are all overdue when there are more, so one
            # capped scan gives both counts, where two scans of as many index entries did.
            window = scoped(select(TaskRow.due_at)).order_by(TaskRow.due_at.asc().nulls_last()) \
                .limit(COUNT_CAP + 1).subquery("fenetre")
            both = select(func.count().label("total"), func.count(case((window.c.due_at < NOW, 1))).label("overdue")) \
                .select_from(window).subquery("capped")
            return select(both.c.total, both.c.overdue, mine).select_from(both), chosen
        # The three counts: the first COUNT_CAP + 1 tasks, the first COUNT_CAP + 1 overdue ones (read in due-date
        # order from ix_tasks_worklist), and the user's own (ix_tasks_claimed).
        return select(capped(scoped(select(TaskRow.id))).label("total"),
                      capped(scoped(select(TaskRow.id)).where(late)).label("overdue"), mine), chosen

    def build_page(number: int):
        def build():
            conditions, on_dossier, chosen = filters = filters_from(args, user, now)
            counts = counted(filters)[0].subquery("compteurs")
            query = select(TASK_ROW, DOSSIER_ROW, Structure.name, CLAIMER.name, counts.c.total, counts.c.overdue,
                           counts.c.mine)
            offset = (number - 1) * page_size
            if on_dossier or sort == "dossier":
                query = (shaped(query.select_from(TaskRow), on_dossier, conditions, join_dossier=True)
                         .order_by(*SORTS[sort]()).limit(page_size).offset(offset))
            else:
                # Filtered and ordered on the task table alone: the page's ids first (from a worklist index, often
                # without reading a row), then their 25 tasks and dossiers. Joined before the LIMIT, every open task
                # of the scope was read with its dossier to sort them (297 for an ARS's « échéance » order).
                ids = (select(TaskRow.id).where(*conditions).order_by(*SORTS[sort]()).limit(page_size)
                       .offset(offset).subquery("page"))
                query = (query.select_from(ids).join(TaskRow, TaskRow.id == ids.c.id)
                         .join(Dossier, Dossier.id == TaskRow.dossier_id).order_by(*SORTS[sort]()))
            return (query.join(counts, true())
                    .outerjoin(Structure, Structure.id == Dossier.structure_id)
                    .outerjoin(CLAIMER, CLAIMER.id == TaskRow.claimed_by)), chosen
        return _statements(user, args, now, exact, number, page_size, build)

    statement, chosen = build_page(page)
    rows = db.session.execute(statement, {"_now": now}).all()
    if rows:
        total, overdue, mine = rows[0][4:]
    else:
        # No row on this page: the counts alone say whether there is any, and which page is the last.
        count_statement, chosen = _statements(user, args, now, exact, 0, 0, counted)
        total, overdue, mine = db.session.execute(count_statement, {"_now": now}).one()
    if exact:
        total_more = overdue_more = False
    else:
        total_more, overdue_more = total > COUNT_CAP, overdue > COUNT_CAP
        total, overdue = min(total, COUNT_CAP), min(overdue, COUNT_CAP)
    pages = max(1, -(-total // page_size))
    if page > pages and not total_more:  # past the last page: the last page instead (page 1 when there is none)
        page = pages
        if total:
            statement, _ = build_page(page)
            rows = db.session.execute(statement, {"_now": now}).all()
    return {"rows": [row[:2] for row in rows], "structures": {row[1].structure_id: row[2] for row in rows},
            "claimers": {row[0].claimed_by: row[3] for row in rows if row[3] is not None}, "total": total,
            "total_more": total_more, "page": page, "pages": pages, "sort": sort, "chosen": dict(chosen),
            "overdue": overdue, "overdue_more": overdue_more, "mine": mine}


# The choices of the filters change rarely (an administrator adds a structure, an owner activates a version): each
# process keeps them this many seconds instead of reading and rendering hundreds on every page.
CHOICES_SECONDS = 60


def _kept(kind: str, key, build, version=None):
    """build(), kept by this application for CHOICES_SECONDS under (kind, key), and built again sooner when
    `version` (something cheap that changes with what build() reads) differs."""
    choices = current_app.extensions.setdefault("inbox_choices", {})
    entry = choices.get((kind, key))
    if entry is None or entry[0] < monotonic() or entry[1] != version:
        entry = choices[(kind, key)] = (monotonic() + CHOICES_SECONDS, version, build())
    return entry[2]


def structure_options(user: User, chosen: str | None) -> Markup:
    """The <option> elements of the structure filter for the user's scope, `chosen` selected."""
    def build() -> str:
        structures = select(Structure.id, Structure.name).order_by(Structure.name)  # the form needs no more
        if user.role == "ars":
            structures = structures.where(Structure.region == user.region)
        elif user.role == "declarant":
            structures = structures.where(Structure.id == user.structure_id)
        elif user.role == "armees":
            structures = structures.where(Structure.kind == "hopital_armees")
        return "".join(f'<option value="{id_}">{escape(name)}</option>'
                       for id_, name in db.session.execute(structures.limit(500)))

    scope = (user.role, user.region if user.role == "ars" else None,
             user.structure_id if user.role == "declarant" else None)
    html = _kept("structures", scope, build)
    if chosen:
        html = html.replace(f'<option value="{chosen}">', f'<option value="{chosen}" selected>', 1)
    return Markup(html)


def task_options(role: str) -> list[tuple[str, str]]:
    """(id, name) of the role's user tasks in the active version, for the task filter; read again at once when this
    process activates a version, within CHOICES_SECONDS when another one does (the filter matches task ids, which
    a version keeps)."""
    return _kept("tasks", role, lambda: [(name, title) for name, title, of
                                         in deployment.user_tasks(deployment.active_definition()) if of == role],
                 version=deployment.activations())


def forget_structure_choices() -> None:
    """Called when a structure is created, renamed or imported: this process lists it at once."""
    choices = current_app.extensions.get("inbox_choices", {})
    for key in [key for key in choices if key[0] == "structures"]:
        del choices[key]


def _options(user: User, chosen: dict) -> dict:
    """Choices for the filter form, limited to the user's scope."""
    # The role's tasks in the deployed process, not a scan of the open rows (stable, and cheap at volume).
    return {"tasks": task_options(user.role), "structures": structure_options(user, chosen.get("structure")),
            "regions": [user.region] if user.role == "ars" else REGIONS}


@bp.route("")
@roles_required(*access.WORKERS)
def index():
    """The open tasks the user may work."""
    user = current_user()
    now = app_now()
    result = inbox_page(user, request.args, now)
    return render_template("casework/inbox/index.html", **result, lines=inbox_lines.lines(result, user, now),
                           options=_options(user, result["chosen"]), due_filters=DUE_FILTERS,
                           claim_filters=CLAIM_FILTERS, incident_types=INCIDENT_TYPES, qualifications=QUALIFICATIONS,
                           user=user)
