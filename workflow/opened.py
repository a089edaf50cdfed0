"""Dossiers opened in the current transaction, and the writes their commands leave to its commit.

A declaration opens its dossier and completes its first steps in one transaction (workflow/start_command.py). No
other transaction sees that dossier before the commit, so the commands on it take no row lock, read nothing of it
again, and gather their audit events, their instance and dossier columns and their messages (workflow/commands.py,
_write) and their task rows (workflow/sync.py, _sync_tasks), which a listener writes just before the commit,
whoever commits: one multi-row INSERT per table and one UPDATE per row, the version bumped once per command as when
each wrote its own.
A task row a later step completes is inserted completed: the rows stored are those the commands left, as when each
wrote its own. A rollback forgets them with the transaction.

Until then, a task row of such a dossier exists only here: code that looks one up in the transaction that opened
it asks `pending_task` first (workflow/start_command.py, workflow/commands.complete_task).
"""
from __future__ import annotations

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from models import OutboxMessage, TaskRow, db
from workflow.event_chain import INSERT_AUDIT
from workflow.row_writes import write_deferred

# Built once (row_writes.py says why), and used by the commands that write at once too (commands.py, sync.py).
INSERT_TASKS, INSERT_OUTBOX = insert(TaskRow.__table__), insert(OutboxMessage.__table__)


def opened_in_this_transaction() -> dict:
    """{instance id: (instance, dossier)} of the dossiers the session's current transaction opened (start_dossier
    without its commit: a declaration's steps follow in the same transaction). No other transaction sees them
    before the commit, so a command on one takes no row lock and reads nothing again. Tied to the transaction
    object, the map is forgotten by a commit or a rollback; it holds the objects, which keeps them in the
    session's identity map (it holds only what is referenced) between the steps."""
    return opened()[1]


def opened() -> tuple:
    """(transaction, {instance id: (instance, dossier)}, {"audit": event rows, "rows": columns, "tasks": {task id:
    task row}, "facts": {dossier id: DossierFacts}, "outbox": message rows} deferred to its commit) of the session's
    current transaction."""
    session = db.session()
    transaction = session.get_transaction()
    kept = session.info.get("opened_instances")
    if kept is None or kept[0] is not transaction:
        kept = session.info["opened_instances"] = (transaction, {}, {"audit": [], "rows": {}, "tasks": {},
                                                                     "facts": {}, "outbox": []})
    return kept


def _deferred(session) -> dict | None:
    """What the session's current transaction left for its commit (as `opened` gives it), or None when it opened
    nothing; unlike `opened`, it makes nothing."""
    kept = session.info.get("opened_instances")
    return kept[2] if kept is not None and kept[0] is session.get_transaction() else None


def pending_task(task_id: str | None = None, dossier_id: int | None = None, spec_name: str | None = None,
                 ready: bool = False) -> TaskRow | None:
    """A task row a command on a dossier opened in this transaction left for the commit, by id or by (dossier, step
    name, the first created), as an object outside the session (reading it costs no query; it is never written
    from here); None when there is none, and then the row, if any, is in the database."""
    rows = (_deferred(db.session()) or {}).get("tasks")
    if not rows:
        return None
    if task_id is not None:
        found = [rows[task_id]] if task_id in rows else []
    else:
        found = sorted((row for row in rows.values() if row["dossier_id"] == dossier_id
                        and row["spec_name"] == spec_name and (not ready or row["status"] == "ready")),
                       key=lambda row: (row["created_at"], row["id"]))
    return TaskRow(**found[0]) if found else None


def pending_events(instance_id: int) -> list[dict]:
    """The audit event rows (columns as workflow/event_chain.AUDIT_COLUMNS) the commands on a dossier opened in this
    transaction left for the commit, oldest first."""
    deferred = _deferred(db.session())
    return [row for row in deferred["audit"] if row["instance_id"] == instance_id] if deferred is not None else []


def pending_messages(instance_id: int) -> list[dict] | None:
    """The outbox rows the commands on a dossier opened in this transaction left for the commit, oldest first; None
    when this transaction did not open it (then its messages, if any, are in the database, and none waits here)."""
    session = db.session()
    deferred = _deferred(session)
    if deferred is None or instance_id not in session.info["opened_instances"][1]:
        return None
    return [row for row in deferred["outbox"] if row["instance_id"] == instance_id]


@event.listens_for(Session, "before_commit")
def _write_deferred(session) -> None:
    """Before any commit of a session: what the commands on the dossiers its transaction opened gathered, written
    in as many statements as tables (the events first: they name the instance, which exists since its opening)."""
    deferred = _deferred(session)
    if deferred is None:
        return
    if deferred["audit"]:
        session.execute(INSERT_AUDIT, deferred["audit"])
        deferred["audit"] = []
    if deferred["tasks"]:
        rows = list(deferred["tasks"].values())
        columns = set().union(*rows)  # a completed row names its completion, a ready one does not
        session.execute(INSERT_TASKS, [{column: row.get(column) for column in columns} for row in rows])
        deferred["tasks"] = {}
    if deferred["outbox"]:
        session.execute(INSERT_OUTBOX, deferred["outbox"])
        deferred["outbox"] = []
    if deferred["rows"]:
        with session.no_autoflush:
            write_deferred(deferred["rows"])
