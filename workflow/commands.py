"""Commands on process instances: each one loads, runs SpiffWorkflow, and commits once.

Start a dossier, complete a task, fire a timer, migrate: every command writes the new state, the task
rows, the timer rows, the dossier fields, its audit event and its outbox rows in one commit
(DESIGN.md decision 1). A command that loses a race gets `Conflict`, never a half-written state.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from flask import current_app
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from engine import clockhooks, compaction, protected, runtime, serialization
from engine.errors import Conflict, EngineError
from models import (AuditEvent, Dossier, ProcessDefinition, ProcessInstance, Structure,
                    TaskRow, Timer, User, db, note_due)
from timekeeping import clock as clock_mod
from workflow.context import SYSTEM, Actor, CommandContext, current_command, script_engine
from workflow.deployment import active_definition, spec_of
from workflow.event_chain import AUDIT_COLUMNS, GENESIS_HASH, INSERT_AUDIT, event_hash
from workflow import live_cache, measures
from workflow.form_schemas import validate_form
from workflow.numbering import next_number
from workflow.row_writes import write_changes
from workflow.opened import INSERT_OUTBOX, opened as _opened, opened_in_this_transaction, pending_task
from workflow.sync import _retitle_open_tasks, _sync_dossier, _sync_tasks, _sync_timers


# A declaration takes its SSI number when it is validated (VALIDATION_STEP completed); until then, and if it is
# abandoned, it carries a random provisional reference that no counter gives out.
PROVISIONAL_PREFIX = "BR-"
VALIDATION_STEP = "p1_formulaire"
ABANDONED_STATE = "abandonnée"
DRAFT_STATE = "en cours de déclaration"


def provisional(number: str) -> bool:
    """True for a declaration's provisional reference (no SSI number yet)."""
    return number.startswith(PROVISIONAL_PREFIX)


def structure_data(structure: Structure) -> dict:
    """The structure as the process sees it (identification block of the declaration)."""
    return {"id": structure.id, "nom": structure.name, "finess_et": structure.finess_et,
            "finess_ej": structure.finess_ej, "type": structure.kind, "region": structure.region,
            "departement": structure.department, "ville": structure.city, "oiv": structure.oiv,
            "email": structure.email}


def start_dossier(structure: Structure, declarant: User | None, actor: Actor, extra: dict | None = None,
                  commit: bool = True, numbered: bool = True) -> Dossier:
    """Open a dossier for a structure and run its process to the first user task.

    With `commit=False` the rows are only flushed: the caller commits them together with what it
    does next (start_command.start_declaration completes the first step in the same transaction).
    With `numbered=False` (a declaration typed on the portal) the dossier gets a provisional reference and
    its SSI number when its declaration is validated.
    """
    now = clock_mod.app_now()
    definition = active_definition()
    data = {"structure": structure_data(structure),
            "declarant": ({"nom": declarant.name, "email": declarant.email, "telephone": declarant.phone,
                           "fonction": declarant.title} if declarant else {})}
    data.update(extra or {})
    instance = ProcessInstance(definition_id=definition.id, state_json="{}", state_hash="", status="running",
                               created_at=now, updated_at=now, last_seq=0, last_hash=GENESIS_HASH,
                               engine_revision=compaction.ENGINE_REVISION)
    db.session.add(instance)
    db.session.flush()
    number = next_number(now) if numbered else PROVISIONAL_PREFIX + secrets.token_hex(5).upper()
    dossier = Dossier(number=number, instance_id=instance.id, structure_id=structure.id,
                      region=structure.region, structure_kind=structure.kind, state="en cours de déclaration",
                      military=structure.kind == "hopital_armees", declarant_id=declarant.id if declarant else None,
                      created_at=now, updated_at=now, incident_types=[])
    db.session.add(dossier)
    db.session.flush()
    opened_in_this_transaction()[instance.id] = (instance, dossier)
    data["dossier"] = {"numero": dossier.number} if numbered else {"reference": dossier.number}
    _run(instance, dossier, definition, actor, "start", {"data": data}, commit=commit)
    return dossier


def complete_task(task_id: str, data: dict, actor: Actor, expected_version: int | None = None,
                  commit: bool = True, not_asked: frozenset = frozenset()) -> Dossier:
    """Complete a user task with the submitted data, after checking rights and the form (`commit` as in start_dossier)."""
    # A step of a dossier this transaction opened: its row waits for the commit (workflow/opened.py).
    row = pending_task(task_id) or db.session.get(TaskRow, task_id)
    if row is None:
        raise EngineError("Cette tâche n'existe pas.", 404)
    if row.status != "ready":
        raise Conflict("Cette tâche a déjà été traitée entre-temps.")
    check_can_work(row, actor)
    opened = opened_in_this_transaction().get(row.instance_id)
    if opened is not None:  # no other transaction can see it yet: no row lock to wait for, nothing to read again
        instance, dossier = opened
        definition = db.session.get(ProcessDefinition, instance.definition_id)
    else:
        # The row lock may have waited for a command that completed this task meanwhile: the state read under
        # the lock no longer has it READY, and apply_command refuses it with the same conflict. (A state read
        # before the lock, or SQLite, which takes no row lock: the audit chain's unique seq and the version check
        # at commit catch the race.) Reading the task row again here would cost every completion a statement.
        instance, dossier, definition = _lock_instance(row.instance_id, with_context=True)
    if expected_version is not None and instance.version != expected_version:
        raise Conflict("Le dossier a été modifié entre-temps ; rechargez la page.")
    written = sorted(set(data) & set(protected.START_DATA)) if isinstance(data, dict) else []
    if written:  # a form cannot write what the application set at the start (engine/protected.py)
        raise EngineError("Données refusées : " + ", ".join(protected.describe(name) for name in written)
                          + " ne peuvent pas être modifiées par un formulaire.", 422)
    clean = validate_form(definition, row.form, data, not_asked, now=clock_mod.app_now())
    payload = {"task_id": task_id, "spec": row.spec_name, "data": clean}
    if row.spec_name == VALIDATION_STEP and provisional(dossier.number):
        # The number is taken in the validating command's transaction: a failure leaves no hole, and the
        # acknowledgement this command queues carries it. The event records it for replay.
        dossier.number = payload["numero"] = next_number(clock_mod.app_now())
    _run(instance, dossier, definition, actor, "complete", payload, commit=commit)
    return dossier


def abandon_declaration(dossier: Dossier, actor: Actor, reason: str = "") -> Dossier:
    """Abandon a declaration still being typed (audited): its process is cancelled, it takes no number."""
    instance, dossier, definition = _lock_instance(dossier.instance_id, with_context=True)
    if dossier.state != DRAFT_STATE or instance.status != "running":
        raise Conflict("Cette déclaration n'est plus en cours de saisie : elle ne peut pas être abandonnée.")
    _run(instance, dossier, definition, actor, "abandon", {"motif": reason})
    return dossier


def fire_timer(timer: Timer, actor: Actor = SYSTEM) -> Dossier:
    """Fire one due timer through the engine."""
    instance, dossier, definition = _lock_instance(timer.instance_id, with_context=True)
    _run(instance, dossier, definition, actor, "timer",
         {"task_id": timer.task_id, "spec": timer.spec_name, "due_at": timer.due_at.isoformat()})
    return dossier


def migrate_dossier(dossier: Dossier, target: ProcessDefinition, actor: Actor, timers: str = "conserver") -> Dossier:
    """Move a running dossier to another deployed version of its process (explicit and audited).

    The live state is reloaded with the target version's spec: every element the dossier still
    holds must exist there under the same id, otherwise the migration is refused and nothing changes.
    `timers`: waiting timers keep their due date (« conserver ») or take the target's duration counted
    from when they started waiting (« recalculer »); the choice is in the audited payload, so replay agrees.
    """
    if timers not in TIMER_CHOICES:
        raise EngineError("Choix des minuteurs inconnu : « conserver » ou « recalculer ».", 422)
    instance = _lock_instance(dossier.instance_id)
    if instance.status != "running":
        raise EngineError("Ce dossier est terminé : il n'y a rien à migrer.", 409)
    if instance.definition_id == target.id:
        raise EngineError("Ce dossier est déjà sur cette version du processus.", 409)
    source = db.session.get(ProcessDefinition, instance.definition_id)
    if target.process_id != source.process_id:
        raise EngineError("La version cible décrit un autre processus.", 422)
    spec, _ = spec_of(target)
    missing = serialization.missing_specs(instance.state_json, spec)
    if missing:
        raise EngineError("Migration impossible : la version cible n'a plus les éléments "
                                 + ", ".join(missing) + " où se trouve ce dossier.", 409)
    _run(instance, dossier, target, actor, "migration",
         {"from_definition": source.id, "to_definition": target.id,
          "from_hash": source.content_hash, "to_hash": target.content_hash, "timers": timers,
          "timer_expressions": timer_expressions(spec_of(source)[0]) if timers == "recalculer" else {}})
    return dossier


TIMER_CHOICES = ("conserver", "recalculer")


def timer_expressions(spec) -> dict:
    """{element id: duration expression} of a spec's duration timers."""
    return {name: task_spec.event_definition.expression for name, task_spec in spec.task_specs.items()
            if isinstance(getattr(task_spec, "event_definition", None), DurationTimerEventDefinition)}


def _recompute_timers(workflow, old_expressions: dict) -> None:
    """Waiting duration timers: due = previous due - previous duration + the target's duration."""
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        value = task._get_internal_data("event_value")
        if (not isinstance(definition, DurationTimerEventDefinition) or value is None
                or task.task_spec.name not in old_expressions):
            continue
        old = TimerEventDefinition.parse_iso_duration(workflow.script_engine.evaluate(task, old_expressions[task.task_spec.name]))
        new = TimerEventDefinition.parse_iso_duration(workflow.script_engine.evaluate(task, definition.expression))
        started = TimerEventDefinition.get_datetime(value) - TimerEventDefinition.get_timedelta_from_start(old)
        task._set_internal_data(event_value=(started + TimerEventDefinition.get_timedelta_from_start(new, started))
                                .isoformat())


def check_can_work(row: TaskRow, actor: Actor) -> None:
    """Refuse a task outside the actor's role or scope (region, structure)."""
    if actor.role != row.role:
        raise EngineError("Cette tâche relève d'un autre acteur.", 403)
    if row.role == "ars" and actor.region != row.region:
        raise EngineError("Cette tâche relève d'une autre ARS.", 403)
    if row.role == "declarant" and actor.structure_id != row.structure_id:
        raise EngineError("Cette tâche relève d'une autre structure.", 403)


LOCK_WITH_CONTEXT = (select(ProcessInstance, Dossier, ProcessDefinition)  # built once (row_writes.py says why)
                     .join(Dossier, Dossier.instance_id == ProcessInstance.id)
                     .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
                     .where(ProcessInstance.id == bindparam("_instance")).with_for_update(of=ProcessInstance))


def _lock_instance(instance_id: int, with_context: bool = False):
    """Lock an instance row (FOR UPDATE); with `with_context`, also return its dossier and definition."""
    if not with_context:
        instance = db.session.execute(
            select(ProcessInstance).where(ProcessInstance.id == instance_id).with_for_update()
        ).scalar_one_or_none()
        if instance is None:
            raise EngineError("Dossier introuvable.", 404)
        return instance
    found = db.session.execute(LOCK_WITH_CONTEXT, {"_instance": instance_id}).one_or_none()
    if found is None:
        raise EngineError("Dossier introuvable.", 404)
    return tuple(found)


def apply_command(workflow, command: str, payload: dict, visited: list) -> None:
    """Apply one command to a loaded workflow and run it to the next wait state."""
    if command == "start":
        workflow.task_tree.data.update(payload["data"])
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(payload["data"])
    elif command == "complete":
        task = workflow.tasks.get(uuid.UUID(payload["task_id"]))
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise Conflict("Cette tâche a déjà été traitée entre-temps.")
        task.set_data(**payload["data"])
        if payload.get("numero"):
            task.set_data(dossier={"numero": payload["numero"]})  # numbered at validation (complete_task)
        task.run()
        visited.append(task.task_spec.name)
    elif command == "timer":
        pass  # refresh_timers in run_to_wait_state fires what is due at the command's time
    elif command == "migration":
        # The state was loaded with the target version's spec; only the chosen timer dates change.
        if payload.get("timers") == "recalculer":
            _recompute_timers(workflow, payload.get("timer_expressions") or {})
        return
    elif command == "abandon":
        workflow.cancel()
        current_command.get().set_state(ABANDONED_STATE)
        return
    else:
        raise EngineError(f"Commande inconnue : {command}.")
    runtime.run_to_wait_state(workflow, visited)


@measures.timed
def _run(instance: ProcessInstance, dossier: Dossier, definition: ProcessDefinition, actor: Actor, command: str,
         payload: dict, commit: bool = True) -> None:
    now = clock_mod.app_now()
    seq = instance.last_seq + 1
    spec, subs = spec_of(definition)
    ctx = CommandContext(instance=instance, dossier=dossier, actor=actor, now=now, seq=seq,
                         mailboxes=current_app.config["MAILBOXES"], mail_domain=current_app.config["MAIL_DOMAIN"])
    token = current_command.set(ctx)
    # Spiff reads the clock while it runs; freezing it at the event's instant keeps the state replayable.
    clock_token = clock_mod.current_clock.set(clock_mod.FrozenClock(now))
    ids = clockhooks._ids.set(clockhooks.id_source(str(instance.id), seq))
    visited: list = []
    try:
        if command == "start":
            workflow = BpmnWorkflow(spec, subs, script_engine=script_engine())
        else:
            # The workflow this process left after the previous command, when the row still holds its state.
            workflow = live_cache.take(instance) if command != "migration" else None
            if workflow is None:
                workflow = serialization.load_state(instance.state_json, spec, subs, script_engine())
            else:
                workflow.script_engine = script_engine()
        before = (set() if command == "start" else {str(t.id) for t in runtime.ready_user_tasks(workflow)},
                  set() if command == "start" else runtime.waiting_timer_ids(workflow))
        ctx.data = runtime.current_data(workflow)
        apply_command(workflow, command, payload, visited)
        compaction.compact(workflow, instance.engine_revision)
        state_json = serialization.dump_state(workflow)
    except EngineError:
        db.session.rollback()
        raise
    except Exception as exc:
        db.session.rollback()
        cause = exc.__cause__ if isinstance(exc.__cause__, EngineError) else None
        if cause is not None:
            raise cause from None
        current_app.logger.exception("workflow error on instance %s", instance.id)
        raise EngineError(f"Le processus n'a pas pu avancer : {exc}", 500) from exc
    finally:
        clockhooks._ids.reset(ids)
        clock_mod.current_clock.reset(clock_token)
        current_command.reset(token)
    try:
        _write(instance, dossier, workflow, ctx, state_json, command, payload, visited, now, before, commit)
    except EngineError:
        db.session.rollback()  # e.g. a task in no lane with a known role: nothing of the command stays
        raise
    except (StaleDataError, IntegrityError) as exc:
        # Another command on the same instance committed first: the optimistic lock on `version`
        # or the unique (instance, seq) of the audit chain catches it, whichever is flushed first.
        db.session.rollback()
        if isinstance(exc, IntegrityError) and "audit_events" not in str(exc):
            raise
        raise Conflict("Le dossier a été modifié entre-temps ; rechargez la page.") from None


def _write(instance, dossier, workflow, ctx: CommandContext, state_json: str, command: str, payload: dict,
           visited: list, now: datetime, before: tuple, commit: bool = True) -> None:
    # A command on a dossier this transaction opened (a declaration's start and steps) gathers its audit event and
    # its instance and dossier columns until the transaction's commit, its own or its caller's (_write_deferred):
    # no other transaction can see the dossier before it, and the engine reads neither row back in between (the
    # objects carry the values). A declaration of five commands writes them in three statements instead of fifteen.
    opened = _opened()
    deferred = opened[2] if instance.id in opened[1] else None
    with db.session.no_autoflush:  # one flush at commit instead of one per query
        _write_rows(instance, dossier, workflow, ctx, state_json, command, payload, visited, now, before,
                    deferred=deferred)
        # The instance and dossier columns the command changed, as two statements (row_writes.py).
        rows = deferred["rows"] if deferred is not None else None
        write_changes(instance, bump_version=True, deferred=rows)
        write_changes(dossier, deferred=rows)
    kept = (instance.id, instance.definition_id, instance.state_json)  # read before commit expires them
    if commit:
        db.session.commit()
    elif deferred is None:
        db.session.flush()  # the caller's next command reads these rows; it commits them all at once
    # Kept even before the caller commits: it is only taken back while the row holds this very text,
    # which a rollback undoes (live_cache.py).
    live_cache.keep(*kept, workflow)


def _write_rows(instance, dossier, workflow, ctx: CommandContext, state_json: str, command: str, payload: dict,
                visited: list, now: datetime, before: tuple, deferred: dict | None = None) -> None:
    """The rows a command writes; with `deferred` (workflow/opened.py), its event and task rows wait for the commit."""
    seq = ctx.seq
    state_hash = serialization.sha256(state_json)
    if command == "migration":
        instance.definition_id = payload["to_definition"]
        _retitle_open_tasks(instance, workflow)
        for timer in runtime.waiting_timers(workflow):  # a recalculated due date moves its row
            db.session.execute(update(TIMER_TABLE).where(
                TIMER_TABLE.c.instance_id == instance.id, TIMER_TABLE.c.task_id == timer.task_id,
                TIMER_TABLE.c.status == "pending").values(due_at=timer.due_at))
            note_due(db.session, timer.due_at)
    instance.state_json = state_json
    instance.state_hash = state_hash
    instance.last_seq = seq
    instance.updated_at = now
    instance.status = "abandoned" if command == "abandon" else ("completed" if workflow.is_completed() else "running")
    ready = runtime.ready_user_tasks(workflow)  # the tasks the command leaves open, for the dossier and the rows
    _sync_dossier(dossier, workflow, ctx, now, (payload.get("data") or {}) if command == "complete" else {}, ready,
                  deferred)
    # The event first: a concurrent command that committed this seq already fails here, at once.
    event = AuditEvent(instance_id=instance.id, seq=seq, at=now, actor=ctx.actor.name, actor_role=ctx.actor.role,
                       command=command, payload=payload, service_results=ctx.service_calls, visited=visited,
                       states=ctx.states, state_hash=state_hash, prev_hash=instance.last_hash)
    event.hash = event_hash(event)
    instance.last_hash = event.hash
    row = {column: getattr(event, column) for column in AUDIT_COLUMNS}
    if deferred is not None:
        deferred["audit"].append(row)
    else:
        db.session.execute(INSERT_AUDIT, [row])
    _sync_tasks(instance, dossier, workflow, before[0], payload.get("task_id") if command == "complete" else None,
                ctx, now, ready, pending=deferred["tasks"] if deferred is not None else None)
    _sync_timers(instance, workflow, before[1], now)
    if ctx.outbox:
        note_due(db.session, now)
        messages = [dict(instance_id=instance.id, dossier_id=dossier.id, event_seq=seq, status="pending", attempts=0,
                         next_attempt_at=now, created_at=now, **message) for message in ctx.outbox]
        if deferred is not None:
            deferred["outbox"].extend(messages)
        else:
            db.session.execute(INSERT_OUTBOX, messages)


# Plain table statements for the rows a command writes: no ORM bookkeeping on the hot path.
TIMER_TABLE = Timer.__table__
