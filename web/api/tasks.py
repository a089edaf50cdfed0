"""GET /tasks, GET /tasks/{id}, POST /tasks/{id}/completion: the inbox and the task page as JSON,
through the same query (web/casework/inbox.py), the same visibility (web/access.py) and the same command as
the form (workflow/commands.complete_task): 409 when someone else completed or holds the task,
422 with the form's French field errors."""
from __future__ import annotations

from sqlalchemy import delete, select

from engine.errors import Conflict
from models import Dossier, Draft, TaskRow, User, db
from timekeeping.clock import app_now
from web import access
from web.casework import task_memory
from web.api import idempotency
from web.api.declarations import too_long
from web.api.dossiers import PAGING, paging
from web.api.schemas import dossier_item, ref, task_item
from web.api.spec import operation
from web.casework.inbox import inbox_page
from web.auth.security import problem
from web.casework.tasks import form_of
from workflow import commands, context, form_schemas

INVALID = "Le formulaire contient des erreurs : la tâche n'a pas été validée."

# Test hook, called with "committed" right after a completion's commit; the crash tests make the process
# kill itself there (tests/crash_child.py).
checkpoint_hook = None


@operation("/tasks", roles=sorted(access.WORKERS), summary="Tâches à traiter (comme « Mes tâches »)",
           response=ref("TaskList"), query=PAGING)
def list_tasks(user):
    """The user's inbox, in the page's order (priority, then due date)."""
    page, per_page = paging()
    args = {"page": str(page)}
    result = inbox_page(user, args, app_now(), page_size=per_page, exact=True)  # programs get exact totals
    return {"items": [task_item(row, dossier.number) for row, dossier in result["rows"]], "total": result["total"],
            "page": result["page"], "pages": result["pages"]}


@operation("/tasks/<task_id>", summary="Une tâche et le schéma JSON de son formulaire", response=ref("Task"),
           errors=(404,))
def show_task(user, task_id):
    """A task the user may work (any status) with the JSON Schema its completion must satisfy."""
    row = access.workable_task(user, task_id)
    schema, ui, _ = form_of(row)
    number = db.session.scalar(select(Dossier.number).where(Dossier.id == row.dossier_id))
    return {"task": task_item(row, number), "form_schema": task_memory.with_people(schema, ui)}


@operation("/tasks/<task_id>/completion", "POST", summary="Valider une tâche avec les données de son formulaire",
           body={"type": "object", "description": "The task form's data (GET /tasks/{task_id}: form_schema)"},
           response=ref("Completion"), errors=(404, 409, 422))
def complete(user, data, key, task_id):
    """Complete the task as the form does; 409 if it is done or held by a colleague, 422 for field errors."""
    row = access.workable_task(user, task_id)
    dossier = db.session.get(Dossier, row.dossier_id)
    if row.status != "ready":
        return problem(409, "Cette tâche a déjà été traitée entre-temps.")
    if row.claimed_by is not None and row.claimed_by != user.id:
        holder = db.session.get(User, row.claimed_by)
        return problem(409, f"Cette tâche est prise en charge par {holder.name}. Reprenez-la avant de la valider.")
    schema, ui, _ = form_of(row)
    schema = task_memory.with_people(schema, ui)
    try:
        # The web form's size cap and people fields, with the schema's other errors: one round trip shows them all.
        extra = {**too_long(schema, data), **task_memory.people_errors(schema, ui, data)}
        if extra:
            raise form_schemas.FormErrors({**form_schemas.validate(schema, data), **extra})
        commands.complete_task(row.id, data, context.Actor.of(user), commit=False)
    except form_schemas.FormErrors as exc:
        db.session.rollback()
        return problem(422, INVALID, errors=exc.errors)
    except Conflict as exc:
        db.session.rollback()
        return problem(409, exc.message)
    db.session.execute(delete(Draft).where(Draft.task_id == row.id))
    db.session.expire_all()  # the command wrote through statements: read its rows back, still uncommitted
    row, dossier = db.session.get(TaskRow, task_id), db.session.get(Dossier, dossier.id)
    following = db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.status == "ready",
                                                         access.task_filter(user))
                                   .order_by(TaskRow.created_at, TaskRow.id)).all()
    answer = {"task": task_item(row, dossier.number), "dossier": dossier_item(dossier, access.can_read(user, dossier)),
              "next_tasks": [task_item(t, dossier.number) for t in following]}
    # The key and its answer in the completion's own commit: a retry after a crash here replays it.
    idempotency.record(200, answer)
    db.session.commit()
    idempotency.recorded()
    if checkpoint_hook is not None:
        checkpoint_hook("committed")
    return answer
