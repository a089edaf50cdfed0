"""Rows that mirror the stored state after a command: the dossier's business fields, task rows, timer rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from engine import runtime
from knowledge.statistics_facts import record_facts
from models import Dossier, ProcessDefinition, TaskRow, Timer, db, note_due
from referentiel import priority_score
from workflow import targets
from workflow.context import CommandContext
from workflow.deployment import role_of
from workflow.opened import INSERT_TASKS

# Plain table statements for the rows a command writes: no ORM bookkeeping on the hot path. They are built
# once, with bound parameters: building a statement costs SQLAlchemy several times what running it does.
TASKS, TIMERS = TaskRow.__table__, Timer.__table__
# A task's priority is its dossier's plus its own marker's (workflow/targets.py): a change of the dossier's
# moves every open task by the same amount.
REPRIORITIZE = (update(TASKS).where(TASKS.c.dossier_id == bindparam("_dossier"), TASKS.c.status == "ready")
                .values(priority=TASKS.c.priority + bindparam("_delta")))
COMPLETE_TASK = (update(TASKS).where(TASKS.c.id == bindparam("_id"), TASKS.c.status == "ready")
                 .values(status="completed", completed_at=bindparam("_at"), completed_by=bindparam("_by")))
CANCEL_TASKS = (update(TASKS).where(TASKS.c.id.in_(bindparam("_ids", expanding=True)), TASKS.c.status == "ready")
                .values(status="cancelled", completed_at=bindparam("_at")))
INSERT_TIMERS = insert(TIMERS)
_PENDING = (TIMERS.c.instance_id == bindparam("_instance"), TIMERS.c.task_id.in_(bindparam("_ids", expanding=True)),
            TIMERS.c.status == "pending")
FIRE_TIMERS = update(TIMERS).where(*_PENDING, TIMERS.c.due_at <= bindparam("_at")).values(status="fired",
                                                                                        fired_at=bindparam("_at"))
CANCEL_TIMERS = update(TIMERS).where(*_PENDING).values(status="cancelled")


def _sync_dossier(dossier: Dossier, workflow, ctx: CommandContext, now: datetime, submitted: dict,
                  ready: list | None = None, deferred: dict | None = None) -> None:
    """`ready`: the workflow's READY user tasks, when the caller has them (runtime.ready_user_tasks); `deferred`: what
    the commit writes for a dossier this transaction opened (workflow/opened.py), whose rows are all still there."""
    data = runtime.current_data(workflow)
    dossier.title = (data.get("titre") or dossier.title or "")[:255]
    dossier.incident_types = list(data.get("types_incident") or dossier.incident_types or [])
    qualification = data.get("qualification")
    if qualification and ctx.dossier.qualification != "significatif":
        dossier.qualification = qualification
    if "qualification" in submitted or (dossier.qualification and dossier.qualified_at is None):
        dossier.qualified_at = now  # « Qualifié le » follows the latest decision, not the first one
    if "impact_sanitaire" in data:
        dossier.health_impact = bool(data["impact_sanitaire"])
    dossier.urgent_help = data.get("besoin_aide_urgente") is True
    dossier.care_impact = data.get("impact_soins") if isinstance(data.get("impact_soins"), str) else None
    if dossier.military and ctx.actor.role == "armees" and data.get("information_armees") in ("hfds", "acss"):
        # The armées' choice decides which national body may read the dossier (web/access.py).
        dossier.addressed_to = data["information_armees"]
        dossier.restricted = data.get("niveau_confidentialite") == "diffusion_restreinte"
    hours = data.get("heures_ouvrees")
    if isinstance(hours, dict):
        dossier.off_hours = bool(hours.get("hors_heures"))
    for state in ctx.states:
        dossier.state = state
        if state == "déclaré" and dossier.declared_at is None:
            dossier.declared_at = now
        if state == "clôturé":
            dossier.closed_at = now
    _sync_priority(dossier, deferred["tasks"] if deferred is not None else None)
    # Origin and data impact, for the statistics.
    record_facts(dossier.id, data, submitted, known=deferred["facts"] if deferred is not None else None)
    ready = runtime.ready_user_tasks(workflow) if ready is None else ready
    dossier.phase = _phase(ready[0].task_spec.name if ready else (workflow.last_task.task_spec.name
                                                                 if workflow.last_task else ""))
    dossier.updated_at = now


def _sync_priority(dossier: Dossier, pending: dict | None = None) -> None:
    """The dossier's priority from its markers, copied on its open tasks when it changes (`pending`: the task rows
    left for the commit, when this transaction opened the dossier: it has no other)."""
    score = priority_score(bool(dossier.urgent_help), dossier.care_impact, bool(dossier.health_impact),
                           dossier.qualification, bool(dossier.off_hours))
    if score != (dossier.priority or 0):
        delta = score - (dossier.priority or 0)
        dossier.priority = score
        if pending is None:
            db.session.execute(REPRIORITIZE, {"_dossier": dossier.id, "_delta": delta})
            return
        for row in pending.values():
            if row["dossier_id"] == dossier.id and row["status"] == "ready":
                row["priority"] += delta


PHASES = {"p1": "Phase 1 - Signalement", "mil": "Exception - Hôpital des armées", "p2": "Phase 2 - Prise en compte",
          "p3": "Phase 3 - Qualification", "p4": "Phase 4 - Appui au traitement", "p4bis": "Phase 4 bis - Incident significatif",
          "p5": "Phase 5 - Clôture", "p6": "Phase 6 - Retour d'expérience"}


def _phase(spec_name: str) -> str:
    return PHASES.get(spec_name.split("_", 1)[0], "")


def _retitle_open_tasks(instance, workflow) -> None:
    """After a migration, open task rows take the names, forms and lanes of the new version."""
    specs = {str(t.id): t.task_spec for t in runtime.ready_user_tasks(workflow)}
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    for row in db.session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id,
                                                        TaskRow.status == "ready")):
        spec = specs.get(row.id)
        if spec is not None:
            row.title = spec.bpmn_name or spec.name
            row.form, row.ui_form = runtime.task_form(spec)
            row.role = role_of(definition, spec.name)  # by lane identity, whatever the lane's label


def _sync_tasks(instance, dossier, workflow, before: set, completed_id, ctx: CommandContext, now: datetime,
                ready_tasks: list | None = None, pending: dict | None = None) -> None:
    """Task rows follow the READY user tasks; `before` holds the ids that were READY before the command
    (`ready_tasks`: those READY now, when the caller has them).

    Rows mirror the stored state, so what changed is known without reading them back: only the
    rows that changed are written, with plain statements instead of loaded objects. With `pending` (the rows left
    for the commit of the transaction that opened the dossier, workflow/opened.py) the changes are made there.
    """
    ready_tasks = runtime.ready_user_tasks(workflow) if ready_tasks is None else ready_tasks
    ready = {str(t.id): t for t in ready_tasks}
    held = pending or {}  # the rows still waiting for the commit, when they are this dossier's
    gone = before - ready.keys()
    if completed_id in gone:
        if completed_id in held:
            if held[completed_id]["status"] == "ready":
                held[completed_id].update(status="completed", completed_at=now, completed_by=ctx.actor.user_id)
        else:
            db.session.execute(COMPLETE_TASK, {"_id": completed_id, "_at": now, "_by": ctx.actor.user_id})
    cancelled = list(gone - {completed_id})
    claims = {}
    # An interrupted task comes back (e.g. after the weekly timer): the analyst keeps the claim.
    # The new task instance is assigned to them as it appears (its claim time is now).
    for row in [held[task_id] for task_id in cancelled if task_id in held]:
        claims[row["spec_name"]] = row["claimed_by"]
        if row["status"] == "ready":
            row.update(status="cancelled", completed_at=now)
    stored = [task_id for task_id in cancelled if task_id not in held]
    if stored:
        claims.update(db.session.execute(select(TaskRow.spec_name, TaskRow.claimed_by)
                                         .where(TaskRow.id.in_(stored))).all())
        db.session.execute(CANCEL_TASKS, {"_ids": stored, "_at": now})
    rows = []
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    for task_id in sorted(ready.keys() - before):
        spec = ready[task_id].task_spec
        form, ui_form = runtime.task_form(spec)
        rows.append(dict(id=task_id, instance_id=instance.id, dossier_id=dossier.id, spec_name=spec.name,
                         title=spec.bpmn_name or spec.name, role=role_of(definition, spec.name), form=form,
                         ui_form=ui_form, status="ready", region=dossier.region, structure_id=dossier.structure_id,
                         civil=not dossier.military,
                         created_at=now, due_at=due_date(definition, spec.name, now, ctx),
                         claimed_by=claims.get(spec.name), claimed_at=now if claims.get(spec.name) else None,
                         priority=(dossier.priority or 0) + targets.priority_boost(definition, spec.name)))
    if rows and pending is not None:
        pending.update((row["id"], row) for row in rows)
    elif rows:
        db.session.execute(INSERT_TASKS, rows)
    for row in rows:
        note_due(db.session, row["due_at"])  # rows written as statements: tell the scheduler


def due_date(definition: ProcessDefinition, spec_name: str, now: datetime, ctx: CommandContext):
    """Due date of a new task: the target its version's BPMN gives it (workflow/targets.py), from now.
    A migrated task keeps its row, hence its due date: only new tasks read the new version's targets."""
    department = (ctx.data.get("structure") or {}).get("departement")
    return targets.due_date(definition, spec_name, now, department)


def _sync_timers(instance, workflow, before: set, now: datetime) -> None:
    """Timer rows follow the waiting timer events; `before` holds the ids waiting before the command.

    A row whose timer left the process is marked fired (it was due) or cancelled, unless the sweep
    already gave it another state (failed); a row is inserted only for a timer the process did not
    hold before, so a failed timer still waiting is never inserted twice.
    """
    waiting = {t.task_id: t for t in runtime.waiting_timers(workflow)}
    gone = list(before - waiting.keys())
    if gone:
        db.session.execute(FIRE_TIMERS, {"_instance": instance.id, "_ids": gone, "_at": now})
        db.session.execute(CANCEL_TIMERS, {"_instance": instance.id, "_ids": gone})
    rows = [dict(instance_id=instance.id, task_id=task_id, spec_name=waiting[task_id].spec_name,
                 due_at=waiting[task_id].due_at, status="pending", attempts=0)
            for task_id in sorted(waiting.keys() - before)]
    if rows:
        db.session.execute(INSERT_TIMERS, rows)
        for row in rows:
            note_due(db.session, row["due_at"])
