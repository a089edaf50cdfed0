"""Commands on process instances: each one loads, runs SpiffWorkflow, and commits once.

Start a dossier, complete a task, fire a timer: every command writes the new state, the task
rows, the timer rows, the dossier fields, its audit event and its outbox rows in one commit
(DESIGN.md decision 1). A command that loses a race gets `Conflict`, never a half-written state.
"""
from __future__ import annotations

import contextvars
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.util.task import TaskState

import business_calendar
import clock as clock_mod
import engine
import form_schemas
import notifications
from handlers import HANDLERS
from models import (AuditEvent, Counter, Dossier, OutboxMessage, ProcessDefinition, ProcessInstance, Structure,
                    TaskRow, Timer, User, db, note_due)
from referentiel import LANE_ROLES

GENESIS_HASH = "0" * 64
current_command: contextvars.ContextVar = contextvars.ContextVar("current_command", default=None)


@dataclass
class Actor:
    """Who runs a command: a person with a role and scope, or the system."""

    name: str
    role: str
    user_id: int | None = None
    region: str | None = None
    structure_id: int | None = None

    @classmethod
    def of(cls, user: User) -> "Actor":
        """The actor for a logged-in user."""
        return cls(user.email, user.role, user.id, user.region, user.structure_id)


SYSTEM = Actor("système", "systeme")


class FormErrors(engine.EngineError):
    """Submitted data does not match the task's form; `errors` maps fields to French messages."""

    status = 422

    def __init__(self, errors: dict):
        super().__init__("Le formulaire contient des erreurs.")
        self.errors = errors



# --------------------------------------------------------------------------------------------
# Definitions

def forms_dir() -> Path:
    """Folder of the JSON Schema forms."""
    return Path(current_app.config["FORMS_DIR"])


def deploy(bpmn_path: str | Path, actor: str = "système", forms_path: str | Path | None = None) -> ProcessDefinition:
    """Store a BPMN file with its forms as a definition version; the same content deploys once."""
    return deploy_xml(engine.load_bpmn_file(bpmn_path), actor, forms_path)


def deploy_xml(xml: str, actor: str = "système", forms_path: str | Path | None = None) -> ProcessDefinition:
    """Store BPMN text with the current forms as a definition version; the same content deploys once."""
    folder = Path(forms_path) if forms_path else forms_dir()
    forms = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
    content_hash = engine.sha256(engine.canonical_json({"bpmn": xml, "forms": forms}))
    existing = db.session.scalar(select(ProcessDefinition).where(ProcessDefinition.content_hash == content_hash))
    if existing is not None:
        return existing
    try:
        spec, subs = engine.parse_bpmn(xml)
        engine.check_expressions(xml)
    except Exception as exc:  # lxml syntax errors, SpiffWorkflow validation errors, refused expressions
        raise engine.EngineError(f"Le fichier BPMN est invalide : {exc}", 422) from None
    definition = ProcessDefinition(process_id=spec.name, name=spec.description or spec.name,
                                   content_hash=content_hash, bpmn_xml=xml, forms=forms,
                                   spec_json=engine.spec_to_json(spec, subs), deployed_at=clock_mod.app_now(),
                                   deployed_by=actor)
    db.session.add(definition)
    db.session.commit()
    return definition


def latest_definition(process_id: str | None = None) -> ProcessDefinition:
    """The most recently deployed definition (of a process id)."""
    query = select(ProcessDefinition).order_by(ProcessDefinition.id.desc()).limit(1)
    if process_id:
        query = query.where(ProcessDefinition.process_id == process_id)
    definition = db.session.scalar(query)
    if definition is None:
        raise engine.EngineError("Aucun processus n'est déployé.", 503)
    return definition


_spec_cache: dict = {}


def spec_of(definition: ProcessDefinition):
    """Parsed spec of a definition, cached by content hash (definitions never change)."""
    key = definition.content_hash
    if key not in _spec_cache:
        _spec_cache[key] = engine.spec_from_json(definition.spec_json)
    return _spec_cache[key]


def user_tasks(definition: ProcessDefinition) -> list[tuple[str, str, str]]:
    """(id, name, role) of every user task of a definition, by id (the inbox's task filter)."""
    spec, subs = spec_of(definition)
    found = {}
    for task_spec in [t for s in [spec, *subs.values()] for t in s.task_specs.values()]:
        if task_spec.manual:
            found[task_spec.name] = (task_spec.name, task_spec.bpmn_name or task_spec.name,
                                     LANE_ROLES.get(task_spec.lane, "acss"))
    return sorted(found.values())


# --------------------------------------------------------------------------------------------
# The running command

@dataclass
class CommandContext:
    """What handlers see of the command that runs them."""

    instance: ProcessInstance
    dossier: Dossier
    actor: Actor
    now: datetime
    seq: int
    mailboxes: dict
    mail_domain: str
    replay: list | None = None
    outbox: list = field(default_factory=list)
    states: list = field(default_factory=list)
    service_calls: list = field(default_factory=list)
    data: dict = field(default_factory=dict)

    @property
    def session(self):
        return db.session

    def set_state(self, state: str) -> None:
        """Record a dossier state transition (applied to the dossier row at commit)."""
        self.states.append(state)

    def set_qualification(self, qualification: str) -> None:
        """Change the dossier's qualification (a grave incident becoming significatif)."""
        self.dossier.qualification = qualification

    def notify(self, kind: str, roles: list, extra: dict | None = None, addresses: list | None = None) -> dict:
        """Queue a message to roles (or explicit addresses) and return who it goes to."""
        recipients, entities, role_names = [], [], []
        region = self.dossier.region
        for role in roles:
            role, role_region = role if isinstance(role, tuple) else (role, region)
            recipients += notifications.resolve(role, self.data, role_region, self.mailboxes)
            entities.append(notifications.entity_label(role, role_region))
            role_names.append(role)
        recipients += list(addresses or [])
        extra = dict(extra or {})
        if kind == "accuse_reception":
            extra["entites"] = self.alerted_entities()
        extra.setdefault("intro", notifications.INTROS.get(kind, ""))
        ctx = notifications.template_context(kind, self.data, self.dossier.number, extra)
        subject, text, html = notifications.render(kind, ctx)
        index = len(self.outbox)
        self.outbox.append(dict(kind=kind, recipients=recipients, recipient_roles=role_names, subject=subject,
                                body_text=text, body_html=html,
                                message_id=notifications.message_id(self.instance.id, self.seq, index, kind,
                                                                    self.mail_domain)))
        result = {"modele": kind, "destinataires": recipients, "entites": entities}
        if "entites" in extra and kind == "accuse_reception":
            result["entites_alertees"] = extra["entites"]
        return result

    def alerted_entities(self) -> list[str]:
        """Entities alerted so far for this dossier (earlier commands and this one)."""
        labels = []
        earlier = db.session.scalars(select(OutboxMessage.recipient_roles)
                                     .where(OutboxMessage.dossier_id == self.dossier.id)
                                     .order_by(OutboxMessage.id)).all()
        for roles in list(earlier) + [m["recipient_roles"] for m in self.outbox]:
            for role in roles:
                if role != "declarant":
                    label = notifications.entity_label(role, self.dossier.region)
                    if label not in labels:
                        labels.append(label)
        return labels


def dispatch(task, operator: str, params: dict) -> str:
    """Run (or, during replay, read back) one service call; the result is a JSON string."""
    ctx: CommandContext = current_command.get()
    if ctx.replay is not None:
        if not ctx.replay:
            raise engine.EngineError(f"Rejeu : résultat manquant pour « {operator} ».", 500)
        recorded = ctx.replay.pop(0)
        if recorded["operator"] != operator or recorded["task"] != task.task_spec.name:
            raise engine.EngineError(f"Rejeu : appel inattendu « {operator} » à {task.task_spec.name}.", 500)
        ctx.service_calls.append(recorded)
        return recorded["result"]
    handler = HANDLERS.get(operator)
    if handler is None:
        raise engine.HandlerError(f"Opérateur de service inconnu : « {operator} ».")
    ctx.data = task.data
    try:
        result = handler(ctx, task.data, **params)
    except engine.EngineError:
        raise
    except Exception as exc:  # a handler bug must not leak as NameError or a stack trace
        raise engine.HandlerError(f"Le service « {operator} » ({task.task_spec.bpmn_name}) a échoué : {exc}") from exc
    text = json.dumps(result, ensure_ascii=False, sort_keys=True, default=str)
    ctx.service_calls.append({"task": task.task_spec.name, "operator": operator, "result": text})
    return text


def script_engine():
    """A script engine bound to our dispatcher (re-attached after every load)."""
    return engine.EngineScriptEngine(dispatch)


# --------------------------------------------------------------------------------------------
# Running one command

def _next_number(now: datetime) -> str:
    name = f"dossier-{now.year}"
    counter = db.session.execute(select(Counter).where(Counter.name == name).with_for_update()).scalar_one_or_none()
    if counter is None:
        counter = Counter(name=name, value=0)
        db.session.add(counter)
    counter.value += 1
    return f"SSI-{now.year}-{counter.value:05d}"


def structure_data(structure: Structure) -> dict:
    """The structure as the process sees it (identification block of the declaration)."""
    return {"id": structure.id, "nom": structure.name, "finess_et": structure.finess_et,
            "finess_ej": structure.finess_ej, "type": structure.kind, "region": structure.region,
            "departement": structure.department, "ville": structure.city, "oiv": structure.oiv,
            "email": structure.email}


def start_dossier(structure: Structure, declarant: User | None, actor: Actor, extra: dict | None = None,
                  commit: bool = True) -> Dossier:
    """Open a dossier for a structure and run its process to the first user task.

    With `commit=False` the rows are only flushed: the caller commits them together with what it
    does next (start_command.start_declaration completes the first step in the same transaction).
    """
    now = clock_mod.app_now()
    definition = latest_definition()
    data = {"structure": structure_data(structure),
            "declarant": ({"nom": declarant.name, "email": declarant.email, "telephone": declarant.phone,
                           "fonction": declarant.title} if declarant else {})}
    data.update(extra or {})
    instance = ProcessInstance(definition_id=definition.id, state_json="{}", state_hash="", status="running",
                               created_at=now, updated_at=now, last_seq=0, last_hash=GENESIS_HASH,
                               engine_revision=engine.ENGINE_REVISION)
    db.session.add(instance)
    db.session.flush()
    dossier = Dossier(number=_next_number(now), instance_id=instance.id, structure_id=structure.id,
                      region=structure.region, structure_kind=structure.kind, state="en cours de déclaration",
                      military=structure.kind == "hopital_armees", declarant_id=declarant.id if declarant else None,
                      created_at=now, updated_at=now, incident_types=[])
    db.session.add(dossier)
    db.session.flush()
    data["dossier"] = {"numero": dossier.number}
    _run(instance, dossier, definition, actor, "start", {"data": data}, commit=commit)
    return dossier


def complete_task(task_id: str, data: dict, actor: Actor, expected_version: int | None = None,
                  commit: bool = True) -> Dossier:
    """Complete a user task with the submitted data, after checking rights and the form (`commit` as in start_dossier)."""
    row = db.session.get(TaskRow, task_id)
    if row is None:
        raise engine.EngineError("Cette tâche n'existe pas.", 404)
    if row.status != "ready":
        raise engine.Conflict("Cette tâche a déjà été traitée entre-temps.")
    check_can_work(row, actor)
    instance, dossier, definition = _lock_instance(row.instance_id, with_context=True)
    if db.engine.dialect.name != "sqlite":
        # The row lock may have waited for a command that completed this task meanwhile. (SQLite
        # takes no row lock: there the version check at commit catches the race.)
        db.session.refresh(row)
        if row.status != "ready":
            raise engine.Conflict("Cette tâche a déjà été traitée entre-temps.")
    if expected_version is not None and instance.version != expected_version:
        raise engine.Conflict("Le dossier a été modifié entre-temps ; rechargez la page.")
    clean = validate_form(definition, row.form, data)
    _run(instance, dossier, definition, actor, "complete",
         {"task_id": task_id, "spec": row.spec_name, "data": clean}, commit=commit)
    return dossier


def fire_timer(timer: Timer, actor: Actor = SYSTEM) -> Dossier:
    """Fire one due timer through the engine."""
    instance, dossier, definition = _lock_instance(timer.instance_id, with_context=True)
    _run(instance, dossier, definition, actor, "timer",
         {"task_id": timer.task_id, "spec": timer.spec_name, "due_at": timer.due_at.isoformat()})
    return dossier


def migrate_dossier(dossier: Dossier, target: ProcessDefinition, actor: Actor) -> Dossier:
    """Move a running dossier to another deployed version of its process (explicit and audited).

    The live state is reloaded with the target version's spec: every element the dossier still
    holds must exist there under the same id, otherwise the migration is refused and nothing changes.
    """
    instance = _lock_instance(dossier.instance_id)
    if instance.status != "running":
        raise engine.EngineError("Ce dossier est terminé : il n'y a rien à migrer.", 409)
    if instance.definition_id == target.id:
        raise engine.EngineError("Ce dossier est déjà sur cette version du processus.", 409)
    source = db.session.get(ProcessDefinition, instance.definition_id)
    if target.process_id != source.process_id:
        raise engine.EngineError("La version cible décrit un autre processus.", 422)
    spec, _ = spec_of(target)
    missing = engine.missing_specs(instance.state_json, spec)
    if missing:
        raise engine.EngineError("Migration impossible : la version cible n'a plus les éléments "
                                 + ", ".join(missing) + " où se trouve ce dossier.", 409)
    _run(instance, dossier, target, actor, "migration",
         {"from_definition": source.id, "to_definition": target.id,
          "from_hash": source.content_hash, "to_hash": target.content_hash})
    return dossier


def check_can_work(row: TaskRow, actor: Actor) -> None:
    """Refuse a task outside the actor's role or scope (region, structure)."""
    if actor.role != row.role:
        raise engine.EngineError("Cette tâche relève d'un autre acteur.", 403)
    if row.role == "ars" and actor.region != row.region:
        raise engine.EngineError("Cette tâche relève d'une autre ARS.", 403)
    if row.role == "declarant" and actor.structure_id != row.structure_id:
        raise engine.EngineError("Cette tâche relève d'une autre structure.", 403)


_forms_cache: dict = {}


def forms_of(definition: ProcessDefinition) -> dict:
    """The forms deployed with a definition, cached by content hash (definitions never change)."""
    key = definition.content_hash
    if key not in _forms_cache:
        _forms_cache[key] = definition.forms
    return _forms_cache[key]


def validate_form(definition: ProcessDefinition, form_name: str | None, data: dict) -> dict:
    """Validate submitted data against the task's JSON Schema (the definition's own copy)."""
    if not form_name:
        return dict(data)
    schema = forms_of(definition).get(form_name)
    if schema is None:
        raise engine.EngineError(f"Formulaire introuvable : {form_name}.", 500)
    errors = form_schemas.validate(schema, data)
    if errors:
        raise FormErrors(errors)
    return dict(data)


def _lock_instance(instance_id: int, with_context: bool = False):
    """Lock an instance row (FOR UPDATE); with `with_context`, also return its dossier and definition."""
    if not with_context:
        instance = db.session.execute(
            select(ProcessInstance).where(ProcessInstance.id == instance_id).with_for_update()
        ).scalar_one_or_none()
        if instance is None:
            raise engine.EngineError("Dossier introuvable.", 404)
        return instance
    found = db.session.execute(
        select(ProcessInstance, Dossier, ProcessDefinition)
        .join(Dossier, Dossier.instance_id == ProcessInstance.id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessInstance.id == instance_id).with_for_update(of=ProcessInstance)
    ).one_or_none()
    if found is None:
        raise engine.EngineError("Dossier introuvable.", 404)
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
            raise engine.Conflict("Cette tâche a déjà été traitée entre-temps.")
        task.set_data(**payload["data"])
        task.run()
        visited.append(task.task_spec.name)
    elif command == "timer":
        pass  # refresh_timers in run_to_wait_state fires what is due at the command's time
    elif command == "migration":
        return  # the state was loaded with the target version's spec; nothing runs
    else:
        raise engine.EngineError(f"Commande inconnue : {command}.")
    engine.run_to_wait_state(workflow, visited)


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
    ids = engine._ids.set(engine.id_source(str(instance.id), seq))
    visited: list = []
    try:
        if command == "start":
            workflow = engine.BpmnWorkflow(spec, subs, script_engine=script_engine())
        else:
            workflow = engine.load_state(instance.state_json, spec, subs, script_engine())
        before = (set() if command == "start" else {str(t.id) for t in engine.ready_user_tasks(workflow)},
                  set() if command == "start" else engine.waiting_timer_ids(workflow))
        ctx.data = engine.current_data(workflow)
        apply_command(workflow, command, payload, visited)
        engine.compact(workflow, instance.engine_revision)
        state_json = engine.dump_state(workflow)
    except engine.EngineError:
        db.session.rollback()
        raise
    except Exception as exc:
        db.session.rollback()
        cause = exc.__cause__ if isinstance(exc.__cause__, engine.EngineError) else None
        if cause is not None:
            raise cause from None
        current_app.logger.exception("workflow error on instance %s", instance.id)
        raise engine.EngineError(f"Le processus n'a pas pu avancer : {exc}", 500) from exc
    finally:
        engine._ids.reset(ids)
        clock_mod.current_clock.reset(clock_token)
        current_command.reset(token)
    try:
        _write(instance, dossier, workflow, ctx, state_json, command, payload, visited, now, before, commit)
    except (StaleDataError, IntegrityError) as exc:
        # Another command on the same instance committed first: the optimistic lock on `version`
        # or the unique (instance, seq) of the audit chain catches it, whichever is flushed first.
        db.session.rollback()
        if isinstance(exc, IntegrityError) and "audit_events" not in str(exc):
            raise
        raise engine.Conflict("Le dossier a été modifié entre-temps ; rechargez la page.") from None


def _write(instance, dossier, workflow, ctx: CommandContext, state_json: str, command: str, payload: dict,
           visited: list, now: datetime, before: tuple, commit: bool = True) -> None:
    with db.session.no_autoflush:  # one flush at commit instead of one per query
        _write_rows(instance, dossier, workflow, ctx, state_json, command, payload, visited, now, before)
    if commit:
        db.session.commit()
    else:
        db.session.flush()  # the caller's next command reads these rows; it commits them all at once


def _write_rows(instance, dossier, workflow, ctx: CommandContext, state_json: str, command: str, payload: dict,
                visited: list, now: datetime, before: tuple) -> None:
    seq = ctx.seq
    state_hash = engine.sha256(state_json)
    if command == "migration":
        instance.definition_id = payload["to_definition"]
        _retitle_open_tasks(instance, workflow)
    instance.state_json = state_json
    instance.state_hash = state_hash
    instance.last_seq = seq
    instance.updated_at = now
    instance.status = "completed" if workflow.is_completed() else "running"
    _sync_dossier(dossier, workflow, ctx, now)
    # The event first: a concurrent command that committed this seq already fails here, at once.
    event = AuditEvent(instance_id=instance.id, seq=seq, at=now, actor=ctx.actor.name, actor_role=ctx.actor.role,
                       command=command, payload=payload, service_results=ctx.service_calls, visited=visited,
                       states=ctx.states, state_hash=state_hash, prev_hash=instance.last_hash)
    event.hash = event_hash(event)
    instance.last_hash = event.hash
    db.session.execute(insert(AUDIT), [{column: getattr(event, column) for column in AUDIT_COLUMNS}])
    _sync_tasks(instance, dossier, workflow, before[0], payload.get("task_id") if command == "complete" else None,
                ctx, now)
    _sync_timers(instance, workflow, before[1], now)
    if ctx.outbox:
        note_due(db.session, now)
        db.session.execute(insert(OUTBOX), [
            dict(instance_id=instance.id, dossier_id=dossier.id, event_seq=seq, status="pending", attempts=0,
                 next_attempt_at=now, created_at=now, **message) for message in ctx.outbox])


# Plain table statements for the rows a command writes: no ORM bookkeeping on the hot path.
AUDIT, TASKS, TIMERS, OUTBOX = (AuditEvent.__table__, TaskRow.__table__, Timer.__table__,
                                OutboxMessage.__table__)
AUDIT_COLUMNS = ("instance_id", "seq", "at", "actor", "actor_role", "command", "payload", "service_results",
                 "visited", "states", "state_hash", "prev_hash", "hash")


def event_hash(event: AuditEvent) -> str:
    """Hash of an audit event over a canonical encoding, chained to the previous one."""
    return engine.sha256(engine.canonical_json({
        "instance": event.instance_id, "seq": event.seq, "at": event.at.isoformat(), "actor": event.actor,
        "actor_role": event.actor_role, "command": event.command, "payload": event.payload,
        "service_results": event.service_results, "visited": event.visited, "states": event.states,
        "state_hash": event.state_hash, "prev_hash": event.prev_hash,
    }))


def _sync_dossier(dossier: Dossier, workflow, ctx: CommandContext, now: datetime) -> None:
    data = engine.current_data(workflow)
    dossier.title = (data.get("titre") or dossier.title or "")[:255]
    dossier.incident_types = list(data.get("types_incident") or dossier.incident_types or [])
    qualification = data.get("qualification")
    if qualification and ctx.dossier.qualification != "significatif":
        if dossier.qualified_at is None:
            dossier.qualified_at = now
        dossier.qualification = qualification
    if "impact_sanitaire" in data:
        dossier.health_impact = bool(data["impact_sanitaire"])
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
    ready = engine.ready_user_tasks(workflow)
    dossier.phase = _phase(ready[0].task_spec.name if ready else (workflow.last_task.task_spec.name
                                                                 if workflow.last_task else ""))
    dossier.updated_at = now


PHASES = {"p1": "Phase 1 - Signalement", "mil": "Exception - Hôpital des armées", "p2": "Phase 2 - Prise en compte",
          "p3": "Phase 3 - Qualification", "p4": "Phase 4 - Appui au traitement", "p4bis": "Phase 4 bis - Incident significatif",
          "p5": "Phase 5 - Clôture", "p6": "Phase 6 - Retour d'expérience"}


def _phase(spec_name: str) -> str:
    return PHASES.get(spec_name.split("_", 1)[0], "")


def _retitle_open_tasks(instance, workflow) -> None:
    """After a migration, open task rows take the names, forms and lanes of the new version."""
    specs = {str(t.id): t.task_spec for t in engine.ready_user_tasks(workflow)}
    for row in db.session.scalars(select(TaskRow).where(TaskRow.instance_id == instance.id,
                                                        TaskRow.status == "ready")):
        spec = specs.get(row.id)
        if spec is not None:
            row.title = spec.bpmn_name or spec.name
            row.form, row.ui_form = engine.task_form(spec)
            row.role = LANE_ROLES.get(spec.lane, row.role)


def _sync_tasks(instance, dossier, workflow, before: set, completed_id, ctx: CommandContext, now: datetime) -> None:
    """Task rows follow the READY user tasks; `before` holds the ids that were READY before the command.

    Rows mirror the stored state, so what changed is known without reading them back: only the
    rows that changed are written, with plain statements instead of loaded objects.
    """
    ready = {str(t.id): t for t in engine.ready_user_tasks(workflow)}
    gone = before - ready.keys()
    if completed_id in gone:
        db.session.execute(update(TASKS).where(TASKS.c.id == completed_id, TASKS.c.status == "ready")
                           .values(status="completed", completed_at=now, completed_by=ctx.actor.user_id))
    cancelled = list(gone - {completed_id})
    claims = {}
    if cancelled:
        # An interrupted task comes back (e.g. after the weekly timer): the analyst keeps the claim.
        claims = dict(db.session.execute(select(TaskRow.spec_name, TaskRow.claimed_by)
                                         .where(TaskRow.id.in_(cancelled))).all())
        db.session.execute(update(TASKS).where(TASKS.c.id.in_(cancelled), TASKS.c.status == "ready")
                           .values(status="cancelled", completed_at=now))
    rows = []
    for task_id in sorted(ready.keys() - before):
        spec = ready[task_id].task_spec
        form, ui_form = engine.task_form(spec)
        rows.append(dict(id=task_id, instance_id=instance.id, dossier_id=dossier.id, spec_name=spec.name,
                         title=spec.bpmn_name or spec.name, role=LANE_ROLES.get(spec.lane, "acss"), form=form,
                         ui_form=ui_form, status="ready", region=dossier.region, structure_id=dossier.structure_id,
                         created_at=now, due_at=due_date(spec.name, now, ctx), claimed_by=claims.get(spec.name)))
    if rows:
        db.session.execute(insert(TASKS), rows)
        for row in rows:
            note_due(db.session, row["due_at"])  # rows written as statements: tell the scheduler


def due_date(spec_name: str, now: datetime, ctx: CommandContext):
    """Due date of a new task: its target in working hours from the TASK_TARGETS setting."""
    hours = current_app.config["TASK_TARGETS"].get(spec_name)
    if hours is None:
        return None
    department = (ctx.data.get("structure") or {}).get("departement")
    return business_calendar.support_cell_calendar(department).add_working_hours(now, hours)


def _sync_timers(instance, workflow, before: set, now: datetime) -> None:
    """Timer rows follow the waiting timer events; `before` holds the ids waiting before the command.

    A row whose timer left the process is marked fired (it was due) or cancelled, unless the sweep
    already gave it another state (failed); a row is inserted only for a timer the process did not
    hold before, so a failed timer still waiting is never inserted twice.
    """
    waiting = {t.task_id: t for t in engine.waiting_timers(workflow)}
    gone = list(before - waiting.keys())
    if gone:
        pending = (TIMERS.c.instance_id == instance.id, TIMERS.c.task_id.in_(gone), TIMERS.c.status == "pending")
        db.session.execute(update(TIMERS).where(*pending, TIMERS.c.due_at <= now).values(status="fired", fired_at=now))
        db.session.execute(update(TIMERS).where(*pending).values(status="cancelled"))
    rows = [dict(instance_id=instance.id, task_id=task_id, spec_name=waiting[task_id].spec_name,
                 due_at=waiting[task_id].due_at, status="pending", attempts=0)
            for task_id in sorted(waiting.keys() - before)]
    if rows:
        db.session.execute(insert(TIMERS), rows)
        for row in rows:
            note_due(db.session, row["due_at"])
