"""Step-by-step replay of a dossier from its pinned definition and its events alone (service results and
times read back from the log, no handler run, no mail), the state at a step, and the data changed by a step.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from audit.hash_chain import check_event, events_of
from cases import chain as journal_chain
from engine import clockhooks, compaction, runtime, serialization
from engine.errors import EngineError
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, db
from referentiel import plural
from timekeeping import clock as clock_mod
from workflow import commands, context, deployment, event_chain


class ReplayMismatch(Exception):
    """Replay or chain verification found a difference at a step (1-based event sequence)."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"étape {step} : {reason}")
        self.step = step
        self.reason = reason


@dataclass
class Snapshot:
    """What was known after one step of a dossier's history, as rebuilt by replay."""

    seq: int
    event: AuditEvent
    state_json: str
    state_hash: str
    visited_step: list
    visited: list = field(default_factory=list)
    data: dict = field(default_factory=dict)
    open_tasks: list = field(default_factory=list)
    timers: list = field(default_factory=list)
    active: list = field(default_factory=list)
    completed: bool = False

    def as_dict(self) -> dict:
        """A readable, JSON-serializable view of the state at this step."""
        return {"etape": self.seq, "commande": self.event.command, "le": self.event.at.isoformat(),
                "acteur": self.event.actor, "role": self.event.actor_role, "empreinte_etat": self.state_hash,
                "termine": self.completed, "taches_ouvertes": self.open_tasks, "minuteries": self.timers,
                "elements_visites": self.visited, "visites_a_cette_etape": self.visited_step,
                "etats": list(self.event.states or []), "donnees": self.data}


# --------------------------------------------------------------------------------------------
# Replay

def _summarize(snapshot: Snapshot, workflow, roles: dict) -> None:
    """Fill the readable parts of a snapshot from the replayed workflow (clock still frozen)."""
    snapshot.data = json.loads(serialization.canonical_json(runtime.current_data(workflow)))
    snapshot.open_tasks = [{"id": str(t.id), "element": t.task_spec.name, "nom": t.task_spec.bpmn_name,
                            "role": roles.get(t.task_spec.name, "")}
                           for t in runtime.ready_user_tasks(workflow)]
    snapshot.timers = [{"id": t.task_id, "element": t.spec_name, "echeance": t.due_at.isoformat()}
                       for t in runtime.waiting_timers(workflow)]
    active = [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
              if getattr(t.task_spec, "bpmn_id", None)]
    snapshot.active = list(dict.fromkeys(active))
    snapshot.completed = workflow.is_completed()


def replay_step(spec, subs, instance: ProcessInstance, event: AuditEvent, prev_state: str | None,
                prev_workflow=None):
    """Re-run one recorded command on the previous state; return (workflow, state_json, visited).

    Mirrors workflow.commands._run without the database: same ids, the clock frozen at the event's time,
    service results read back from the event (dispatch runs no handler in replay mode), the
    compaction rules of the instance's engine revision. `prev_workflow`, the workflow the previous step
    left (whose dump is `prev_state`), is taken up instead of rebuilding it from `prev_state`, as the live
    commands take up the workflow they kept (workflow/live_cache.py): it is that very state, and the
    suite checks the equivalence (LIVE_WORKFLOW_CHECK). A migration always reloads, with the target's spec.
    """
    clockhooks.install_spiff_hooks()
    ctx = context.CommandContext(instance=None, dossier=None, actor=None, now=event.at, seq=event.seq,
                                  mailboxes={}, mail_domain="",
                                  replay=list(event.service_results or []))  # dispatch pops, never changes, them
    token = context.current_command.set(ctx)
    clock_token = clock_mod.current_clock.set(clock_mod.FrozenClock(event.at))
    ids = clockhooks._ids.set(clockhooks.id_source(str(instance.id), event.seq))
    visited: list = []
    try:
        if event.command == "start":
            workflow = BpmnWorkflow(spec, subs, script_engine=context.script_engine())
        else:
            if prev_state is None:
                raise ReplayMismatch(event.seq, "pas d'état précédent à partir duquel rejouer")
            if prev_workflow is not None and event.command != "migration":
                workflow = prev_workflow
                workflow.script_engine = context.script_engine()
            else:
                workflow = serialization.load_state(prev_state, spec, subs, context.script_engine())
        commands.apply_command(workflow, event.command, copy.deepcopy(event.payload), visited)
        compaction.compact(workflow, instance.engine_revision)
        state_json = serialization.dump_state(workflow)
        if ctx.replay:
            raise ReplayMismatch(event.seq, f"{plural(len(ctx.replay), 'résultat')} de service "
                                 f"{'enregistré non rejoué' if len(ctx.replay) < 2 else 'enregistrés non rejoués'}")
        return workflow, state_json, visited
    except ReplayMismatch:
        raise
    except EngineError as exc:
        raise ReplayMismatch(event.seq, f"le rejeu a échoué : {exc.message}") from exc
    except Exception as exc:  # a corrupted payload must be reported as a difference, not crash verify
        cause = exc.__cause__ if isinstance(exc.__cause__, EngineError) else None
        message = cause.message if cause is not None else f"{type(exc).__name__}: {exc}"
        raise ReplayMismatch(event.seq, f"le rejeu a échoué : {message}") from exc
    finally:
        clockhooks._ids.reset(ids)
        clock_mod.current_clock.reset(clock_token)
        context.current_command.reset(token)


def initial_definition_id(instance: ProcessInstance, events: list) -> int:
    """The version the dossier started on: before its first migration, else the one it is pinned to."""
    for event in events:
        if event.command == "migration":
            return (event.payload or {}).get("from_definition", instance.definition_id)
    return instance.definition_id


def replay(instance: ProcessInstance, events: list | None = None, upto: int | None = None, check: bool = True,
           summarize: bool = True):
    """Yield a Snapshot after each step; with `check`, raise ReplayMismatch at the first difference.

    `check` verifies the chain of each event before replaying it, then the replayed state hash and
    visited elements against the recorded ones.
    """
    events = events_of(instance.id) if events is None else events
    definition = db.session.get(ProcessDefinition, initial_definition_id(instance, events))
    spec, subs = deployment.spec_of(definition)
    prev_hash, prev_state, visited_all, workflow = event_chain.GENESIS_HASH, None, [], None
    for index, event in enumerate(events, start=1):
        if upto is not None and index > upto:
            return
        if check:
            reason = check_event(event, index, prev_hash)
            if reason:
                raise ReplayMismatch(index, reason)
        if journal_chain.is_journal_event(event):
            yield _journal_snapshot(index, event, prev_state, workflow, visited_all, check, summarize, definition)
            prev_hash = event.hash
            continue
        if event.command == "migration":
            target = db.session.get(ProcessDefinition, (event.payload or {}).get("to_definition"))
            if target is None:
                raise ReplayMismatch(index, "migration vers une version de processus inconnue")
            spec, subs, definition = *deployment.spec_of(target), target
        # The previous step's workflow goes on: a step that fails raises, so it is never taken up half-run.
        workflow, state_json, visited = replay_step(spec, subs, instance, event, prev_state, workflow)
        state_hash = serialization.sha256(state_json)
        if check and state_hash != event.state_hash:
            raise ReplayMismatch(index, "l'état rejoué diffère de l'état enregistré (empreinte d'état)")
        if check and visited != list(event.visited or []):
            raise ReplayMismatch(index, "les éléments parcourus au rejeu diffèrent de ceux enregistrés")
        visited_all = visited_all + visited
        snapshot = Snapshot(seq=index, event=event, state_json=state_json, state_hash=state_hash,
                            visited_step=visited, visited=visited_all)
        if summarize:
            _summarize_at(event, snapshot, workflow, definition)
        yield snapshot
        prev_hash, prev_state = event.hash, state_json


def _journal_snapshot(index: int, event: AuditEvent, prev_state: str | None, workflow, visited_all: list,
                      check: bool, summarize: bool, definition) -> Snapshot:
    """The step of a journal entry: no engine run, the state of the previous step, which it must announce."""
    if prev_state is None:
        raise ReplayMismatch(index, "entrée de journal avant le démarrage du dossier")
    state_hash = serialization.sha256(prev_state)
    if check and event.state_hash != state_hash:
        raise ReplayMismatch(index, "l'entrée de journal annonce un autre état du processus (empreinte d'état)")
    if check and (event.visited or event.service_results or event.states):
        raise ReplayMismatch(index, "une entrée de journal ne parcourt aucun élément du processus")
    snapshot = Snapshot(seq=index, event=event, state_json=prev_state, state_hash=state_hash, visited_step=[],
                        visited=visited_all)
    if summarize:
        _summarize_at(event, snapshot, workflow, definition)
    return snapshot


def _summarize_at(event: AuditEvent, snapshot: Snapshot, workflow, definition) -> None:
    """Describe a step as of its own time (due dates and overdue marks read the clock)."""
    token = clock_mod.current_clock.set(clock_mod.FrozenClock(event.at))
    try:
        _summarize(snapshot, workflow, deployment.roles_of(definition))
    finally:
        clock_mod.current_clock.reset(token)


def state_at(dossier: Dossier, step: int) -> Snapshot:
    """The replayed state of a dossier after step `step` (1-based); ReplayMismatch on tampering."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    events = events_of(instance.id)
    if not 1 <= step <= len(events):
        raise EngineError(f"Étape {step} hors limites : le dossier compte {plural(len(events), 'étape')}.", 404)
    snapshot = None
    for snapshot in replay(instance, events, upto=step):
        pass
    return snapshot


def snapshots(dossier: Dossier) -> list[Snapshot]:
    """Every step of a dossier, replayed and checked (for the auditor's stepper)."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    return list(replay(instance))


# --------------------------------------------------------------------------------------------
# Differences between steps

def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        out = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def data_diff(before: dict | None, after: dict) -> list[dict]:
    """Field-by-field difference of two data dicts: path, kind (ajout/suppression/modification), values."""
    old, new = _flatten(before or {}), _flatten(after or {})
    changes = []
    for path in sorted(set(old) | set(new)):
        if path not in old:
            changes.append({"chemin": path, "type": "ajout", "avant": None, "apres": new[path]})
        elif path not in new:
            changes.append({"chemin": path, "type": "suppression", "avant": old[path], "apres": None})
        elif old[path] != new[path]:
            changes.append({"chemin": path, "type": "modification", "avant": old[path], "apres": new[path]})
    return changes
