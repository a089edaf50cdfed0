"""Who sees what (DESIGN.md decision 9): one visibility model, applied as SQL filters.

Every list, page, export, mail view and search goes through these helpers, so visibility is
enforced in the queries themselves and never only by hiding links.

| role                     | civil dossier                  | military dossier (hôpital des armées)          |
| ------------------------ | ------------------------------ | ---------------------------------------------- |
| declarant                | its structure's, in full*      | its structure's, in full*                      |
| ars                      | its region's, in full          | its region's: summary only (number, state,     |
|                          |                                | the structure's name, FINESS and département - |
|                          |                                | as the standard message names it -, the        |
|                          |                                | standard message and the care alert)           |
| acss, hfds               | all, in full                   | only if the armées addressed that body         |
| dgs, auditeur            | all, in full                   | never (the armées address hfds or acss only)   |
| armees                   | none                           | all, in full                                   |
| admin                    | outbox metadata and bodies     | outbox metadata only                           |
| responsable_processus    | none                           | none                                           |

Declarations still being typed (« en cours de déclaration ») are seen by their structure only.
* Declarants see their own tasks' data and the messages addressed to them, not the analysts' work.
  In the journal: the notes and attachments declarants added and the indicators they declared; never
  the analysts' notes, attachments, indicators nor the links between dossiers.
Journal writers: the roles above that read the dossier in full, but DGS and auditors (read-only);
declarants only notes and attachments (cases/chain.py), on their structure's dossiers.
Restricted content (« Diffusion restreinte ») is shown to the armées and the addressed body only.
"""
from __future__ import annotations

from sqlalchemy import String, and_, bindparam, cast, false, func, or_, select, true

from models import Dossier, JournalEntry, Observable, OutboxMessage, Structure, TaskRow, User, db
from models.kept import kept
from web.auth.security import french_abort

NATIONAL = {"acss", "hfds", "dgs"}  # national bodies: all civil dossiers; military ones only if addressed
WORKERS = {"declarant", "ars", "acss", "hfds", "dgs", "armees"}
ADMINS = {"admin", "responsable_processus"}
DRAFT_STATE = "en cours de déclaration"
ABANDONED_STATE = "abandonnée"  # a declaration given up before validation: like a draft, its structure's only
UNDECLARED = (DRAFT_STATE, ABANDONED_STATE)
RESTRICTED_TEXT = "Contenu en diffusion restreinte"
RESTRICTED_FIELDS = ("synthese_armees",)
# What the ARS of the region learns of a military hospital's incident (instruction, section 2.2).
STANDARD_MESSAGE = ("Un établissement de santé du ministère des armées de votre région a signalé un incident de "
                    "sécurité des systèmes d'information ; il est traité par la chaîne « CYBER » du ministère "
                    "des armées. Aucune action n'est attendue de l'ARS à ce stade.")
CARE_ALERT = "Le ministère des armées signale des conséquences de l'incident sur l'offre de soins de votre territoire."
CARE_ALERT_KIND = "armees_offre_soins"
# The process gives the ARS no task on the care alert: what it can do is contact the armées' chain.
CARE_ALERT_ACTION = ("Aucune tâche ne vous est confiée dans l'application : pour organiser la réponse sur l'offre de "
                     "soins de votre territoire, prenez contact avec le ministère des armées (chaîne « CYBER ») et "
                     "avec l'établissement concerné.")
NOT_FOUND = "Cet élément est introuvable ou hors de votre périmètre."


def scope_key(user: User) -> tuple:
    """Everything the filters of this module read of a user. A statement built with them for one user is the same
    for every user with the same key, which is what lets a page keep it (models/kept.py): a filter that comes to
    read anything else of the user must add it here (tests/test_visibility_matrix.py runs every role through the
    kept statements)."""
    return (user.role, user.region, user.structure_id)


def dossier_filter(user: User):
    """SQL condition on Dossier for the dossiers a user may read in full."""
    role = user.role
    declared = Dossier.state.not_in(UNDECLARED)
    civil = Dossier.military == false()
    if role == "declarant":
        return Dossier.structure_id == user.structure_id if user.structure_id else false()
    if role == "ars":
        return and_(Dossier.region == user.region, civil, declared) if user.region else false()
    if role in ("acss", "hfds"):
        return and_(declared, or_(civil, Dossier.addressed_to == role))
    if role in ("dgs", "auditeur"):
        return and_(declared, civil)
    if role == "armees":
        return and_(declared, Dossier.military == true())
    return false()


def summary_filter(user: User):
    """SQL condition on Dossier for the dossiers a user sees as a restricted summary only."""
    if user.role == "ars" and user.region:
        return and_(Dossier.region == user.region, Dossier.military == true(), Dossier.state.not_in(UNDECLARED))
    return false()


def summary_structure(dossier: Dossier) -> dict:
    """The three facts of the structure the standard message names (name, FINESS ET, département), no more."""
    structure = db.session.get(Structure, dossier.structure_id)
    return {"name": structure.name, "finess_et": structure.finess_et, "department": structure.department}


def listed_filter(user: User):
    """SQL condition on Dossier for the dossiers a user finds in lists (in full or as a summary)."""
    return or_(dossier_filter(user), summary_filter(user))


def inbox_scope(user: User) -> tuple[list, list]:
    """The visibility model for open-task lists: (conditions on TaskRow, conditions on a joined Dossier).

    National bodies read all but a few dossiers (drafts, military ones not addressed to them): their
    worklists exclude the tasks of those few (found by the state and military indexes), so they are
    still counted on the task table's covering index, without joining every dossier. An ARS's worklist is
    its region's tasks less the same few. Other roles' lists join the dossier and filter on it.
    """
    if user.role in NATIONAL:
        # Military dossiers not addressed to the role: a few thousand ids from ix_dossiers_hidden.
        return _without_hidden(select(Dossier.id).where(Dossier.military == true(),
                                                        func.coalesce(Dossier.addressed_to, "") != user.role)), []
    if user.role == "ars" and user.region:
        # An ARS's tasks, which task_filter already keeps to its region: a task carries its dossier's region, copied
        # when the engine opens it (workflow/sync.py), and a dossier never changes region. The military dossiers
        # hidden from it are its region's (a few hundred ids).
        return _without_hidden(select(Dossier.id).where(Dossier.military == true(),
                                                        Dossier.region == user.region)), []
    return [], [dossier_filter(user)]


def _without_hidden(hidden_military) -> list:
    """Conditions on TaskRow leaving out the tasks of drafts and of the military dossiers `hidden_military` selects.

    Drafts (few: an index scan of the state index) are excluded outright. The military dossiers are checked only for
    the tasks not flagged civil by the engine (TaskRow.civil): in the usual worklist no task needs it, so the set is
    never built (PostgreSQL evaluates the OR lazily). A row without the flag is checked, never trusted. The worklist
    indexes end with dossier_id and civil: both checks are made on the index entries."""
    drafts = select(Dossier.id).where(Dossier.state.in_(UNDECLARED))
    return [TaskRow.dossier_id.not_in(drafts), or_(TaskRow.civil == true(), TaskRow.dossier_id.not_in(hidden_military))]


def visible_dossiers(user: User):
    """A select of the dossiers a user may read in full."""
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
    """Whether a user may read one dossier in full (checked in SQL, like the lists)."""
    return db.session.scalar(select(Dossier.id).where(Dossier.id == dossier.id, dossier_filter(user))) is not None


def can_work(user: User, row: TaskRow) -> bool:
    """Whether a user may work one task row."""
    return db.session.scalar(select(TaskRow.id).where(TaskRow.id == row.id, task_filter(user))) is not None


def readable_dossier(user: User, dossier_id: int) -> Dossier:
    """The dossier if the user may read it in full; the same 404 whether it is missing or foreign."""
    dossier = db.session.scalar(select(Dossier).where(Dossier.id == dossier_id, dossier_filter(user)))
    if dossier is None:
        french_abort(404, NOT_FOUND)
    return dossier


def dossier_view(user: User, dossier_id: int) -> tuple[Dossier, bool]:
    """The dossier and whether the user reads it in full (else a summary); the same 404 otherwise."""
    params = {"_dossier": dossier_id}
    full = db.session.scalar(kept(("dossier_view", "full", scope_key(user)), lambda: select(Dossier).where(
        Dossier.id == bindparam("_dossier"), dossier_filter(user))), params)
    if full is not None:
        return full, True
    summary = db.session.scalar(kept(("dossier_view", "summary", scope_key(user)), lambda: select(Dossier).where(
        Dossier.id == bindparam("_dossier"), summary_filter(user))), params)
    if summary is None:
        french_abort(404, NOT_FOUND)
    return summary, False


def readable_dossier_by_number(user: User, number: str) -> Dossier:
    """The dossier with this number if the user may read it in full; the same 404 otherwise."""
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == number, dossier_filter(user)))
    if dossier is None:
        french_abort(404, NOT_FOUND)
    return dossier


def workable_task(user: User, task_id: str) -> TaskRow:
    """The task row if the user may work it (any status) on a dossier they read; the same 404 otherwise."""
    row = db.session.scalar(kept(("workable_task", scope_key(user)), lambda: (
        select(TaskRow).join(Dossier, Dossier.id == TaskRow.dossier_id)
        .where(TaskRow.id == bindparam("_task"), task_filter(user), dossier_filter(user)))), {"_task": task_id})
    if row is None:
        french_abort(404, NOT_FOUND)
    return row


def sees_restricted(user: User, dossier: Dossier) -> bool:
    """Whether the user is an addressee of the dossier's restricted content (the armées, the addressed body)."""
    return user.role == "armees" or (dossier.addressed_to is not None and user.role == dossier.addressed_to)


def redact(data: dict, dossier: Dossier, user: User) -> dict:
    """Task data with the restricted fields replaced for users who are not their addressees."""
    if not dossier.restricted or sees_restricted(user, dossier) or not isinstance(data, dict):
        return data
    return {key: (RESTRICTED_TEXT if key in RESTRICTED_FIELDS and value not in (None, "") else value)
            for key, value in data.items()}


def sees_internal_work(user: User) -> bool:
    """Whether the user sees other roles' task data and internal messages (everyone but declarants)."""
    return user.role != "declarant"


def message_filter(user: User):
    """SQL condition on OutboxMessage for the messages a user may see on a fiche de suivi."""
    if sees_internal_work(user):
        return true()
    # recipient_roles is a JSON list: a portable text match on its encoded form (SQLite and PostgreSQL).
    return cast(OutboxMessage.recipient_roles, String).like('%"declarant"%')


def admin_body_filter():
    """SQL condition on Dossier for the dossiers whose messages' bodies administrators may read."""
    return and_(Dossier.military.is_(False), Dossier.restricted.is_(False))


def number_hidden_from_owners(military: bool, state: str) -> bool:
    """Process owners see which dossiers run on a version, by number only: not those of military hospitals
    (confined to the armées chain) nor declarations still being typed (their structure's alone)."""
    return bool(military) or state == DRAFT_STATE


JOURNAL_WRITERS = {"declarant", "ars", "acss", "hfds", "armees"}


def journal_entry_filter(user: User):
    """SQL condition on JournalEntry for the notes and attachments a user sees on a dossier they read."""
    return true() if sees_internal_work(user) else JournalEntry.author_role == "declarant"


def observable_filter(user: User):
    """SQL condition on Observable for the indicators a user sees on a dossier they read."""
    return true() if sees_internal_work(user) else Observable.source == "declarant"


def sees_links(user: User) -> bool:
    """Whether the user sees links between dossiers (analysts' work; only to dossiers they also read)."""
    return sees_internal_work(user)


def can_write_journal(user: User, dossier: Dossier, readable: bool = False) -> bool:
    """Whether a user may add to a dossier's journal: a writer role that reads the dossier in full (`readable`:
    the caller read it through dossier_filter already)."""
    return user.role in JOURNAL_WRITERS and (readable or can_read(user, dossier))


def can_search_observables(user: User) -> bool:
    """Whether a user may search dossiers by indicator (analysts and auditors; never declarants)."""
    return user.role in (WORKERS - {"declarant"}) | {"auditeur"}
