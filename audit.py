"""The audit log as history: chain verification, step-by-step replay, state at a step, exports.

Every command appended one hash-chained AuditEvent (commands._write). Verifying a dossier checks
the chain (sequence, links, hashes), then rebuilds the instance from its pinned definition and its
events alone - service results and times read back from the log, no handler run, no mail - and
compares the state hash after every step, then the stored state (DESIGN.md decision 4).
"""
from __future__ import annotations

import copy
import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

from lxml import etree
from sqlalchemy import func, select
from SpiffWorkflow.util.task import TaskState

import clock as clock_mod
import commands
import engine
from models import AuditEvent, Dossier, OutboxMessage, ProcessDefinition, ProcessInstance, Structure, TaskRow, db
from referentiel import LANE_ROLES, ROLES

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


class ReplayMismatch(Exception):
    """Replay or chain verification found a difference at a step (1-based event sequence)."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"étape {step} : {reason}")
        self.step = step
        self.reason = reason


@dataclass
class VerifyResult:
    """Outcome of verifying one dossier: ok, or the first step that differs and why (French)."""

    dossier: str
    instance_id: int
    steps: int
    ok: bool = True
    step: int | None = None
    reason: str | None = None

    @property
    def message(self) -> str:
        """One French line for people."""
        if self.ok:
            return f"Dossier {self.dossier} : intègre ({self.steps} étape(s) rejouée(s) et vérifiée(s))."
        return f"Dossier {self.dossier} : différence à l'étape {self.step} ({self.reason})"


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
# Loading

def events_of(instance_id: int) -> list[AuditEvent]:
    """The events of an instance in sequence order (the order the chain must follow)."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.seq, AuditEvent.id)))


def find_dossier(key: str | int) -> Dossier | None:
    """A dossier by number (SSI-2026-00001) or by database id."""
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == str(key)))
    if dossier is None and re.fullmatch(r"[0-9]{1,9}", str(key)):
        dossier = db.session.get(Dossier, int(key))
    return dossier


# --------------------------------------------------------------------------------------------
# Chain verification (cheap: no SpiffWorkflow)

def check_event(event: AuditEvent, expected_seq: int, prev_hash: str) -> str | None:
    """Why one event breaks the chain at its position, or None."""
    if event.seq != expected_seq:
        return f"événement n° {expected_seq} manquant ou déplacé (trouvé n° {event.seq})"
    if event.prev_hash != prev_hash:
        return "chaînage rompu : l'empreinte précédente ne correspond pas (ordre modifié ou événement supprimé)"
    if commands.event_hash(event) != event.hash:
        return "empreinte de l'événement invalide (contenu, acteur ou date modifiés)"
    return None


def check_stored_state(instance: ProcessInstance, events: list,
                       traces: tuple | None = None) -> tuple[int, str] | None:
    """Why the stored instance does not match the end of its chain, as (step, reason), or None."""
    last = events[-1] if events else None
    step = max(instance.last_seq or 0, len(events), 1)
    if last is None:
        return step, "aucun événement pour cette instance"
    if instance.last_seq != last.seq:
        return step, f"l'instance annonce {instance.last_seq} étape(s), le journal en contient {last.seq}"
    if instance.state_hash != last.state_hash:
        return last.seq, "l'empreinte de l'état stocké diffère de celle du dernier événement"
    if engine.sha256(instance.state_json) != instance.state_hash:
        return last.seq, "l'état stocké a été modifié (son empreinte ne correspond plus)"
    return check_traces(instance, events, traces)


def _traces(instance_ids: list) -> dict:
    """{instance id: (completed task ids, latest message step)} for a batch of instances."""
    found = {i: (set(), None) for i in instance_ids}
    for instance_id, task_id in db.session.execute(select(TaskRow.instance_id, TaskRow.id).where(
            TaskRow.instance_id.in_(instance_ids), TaskRow.status == "completed")):
        found[instance_id][0].add(task_id)
    for instance_id, latest in db.session.execute(
            select(OutboxMessage.instance_id, func.max(OutboxMessage.event_seq))
            .where(OutboxMessage.instance_id.in_(instance_ids)).group_by(OutboxMessage.instance_id)):
        found[instance_id] = (found[instance_id][0], latest)
    return found


def check_traces(instance: ProcessInstance, events: list, traces: tuple | None = None) -> tuple[int, str] | None:
    """Rows the commands left beside the log must all be accounted for by it.

    A chain cut at its end, with the stored state rolled back to match, is consistent in itself;
    completed task rows and queued messages of the removed commands still give it away.
    """
    last = events[-1].seq
    completed = {e.payload.get("task_id") for e in events if e.command == "complete"}
    rows, latest_message = traces if traces is not None else _traces([instance.id])[instance.id]
    if any(row not in completed for row in rows):
        return last + 1, "des tâches accomplies n'apparaissent plus dans le journal (événement supprimé)"
    if latest_message is not None and latest_message > last:
        return latest_message, "des messages envoyés se rapportent à une étape absente du journal"
    return None


def verify_chain(instance: ProcessInstance, events: list | None = None,
                 traces: tuple | None = None) -> tuple[int, str] | None:
    """Chain and stored-state check only; (step, reason) of the first difference, or None."""
    events = events_of(instance.id) if events is None else events
    prev = commands.GENESIS_HASH
    for index, event in enumerate(events, start=1):
        reason = check_event(event, index, prev)
        if reason:
            return index, reason
        prev = event.hash
    return check_stored_state(instance, events, traces)


# --------------------------------------------------------------------------------------------
# Replay

def _summarize(snapshot: Snapshot, workflow) -> None:
    """Fill the readable parts of a snapshot from the replayed workflow (clock still frozen)."""
    snapshot.data = json.loads(engine.canonical_json(engine.current_data(workflow)))
    snapshot.open_tasks = [{"id": str(t.id), "element": t.task_spec.name, "nom": t.task_spec.bpmn_name,
                            "role": LANE_ROLES.get(t.task_spec.lane, "")}
                           for t in engine.ready_user_tasks(workflow)]
    snapshot.timers = [{"id": t.task_id, "element": t.spec_name, "echeance": t.due_at.isoformat()}
                       for t in engine.waiting_timers(workflow)]
    active = [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
              if getattr(t.task_spec, "bpmn_id", None)]
    snapshot.active = list(dict.fromkeys(active))
    snapshot.completed = workflow.is_completed()


def replay_step(spec, subs, instance: ProcessInstance, event: AuditEvent, prev_state: str | None):
    """Re-run one recorded command on the previous state; return (workflow, state_json, visited).

    Mirrors commands._run without the database: same ids, the clock frozen at the event's time,
    service results read back from the event (dispatch runs no handler in replay mode), the
    compaction rules of the instance's engine revision.
    """
    engine.install_spiff_hooks()
    ctx = commands.CommandContext(instance=None, dossier=None, actor=None, now=event.at, seq=event.seq,
                                  mailboxes={}, mail_domain="",
                                  replay=copy.deepcopy(list(event.service_results or [])))
    token = commands.current_command.set(ctx)
    clock_token = clock_mod.current_clock.set(clock_mod.FrozenClock(event.at))
    ids = engine._ids.set(engine.id_source(str(instance.id), event.seq))
    visited: list = []
    try:
        if event.command == "start":
            workflow = engine.BpmnWorkflow(spec, subs, script_engine=commands.script_engine())
        else:
            if prev_state is None:
                raise ReplayMismatch(event.seq, "pas d'état précédent à partir duquel rejouer")
            workflow = engine.load_state(prev_state, spec, subs, commands.script_engine())
        commands.apply_command(workflow, event.command, copy.deepcopy(event.payload), visited)
        engine.compact(workflow, instance.engine_revision)
        state_json = engine.dump_state(workflow)
        if ctx.replay:
            raise ReplayMismatch(event.seq, f"{len(ctx.replay)} résultat(s) de service enregistré(s) non rejoué(s)")
        return workflow, state_json, visited
    except ReplayMismatch:
        raise
    except engine.EngineError as exc:
        raise ReplayMismatch(event.seq, f"le rejeu a échoué : {exc.message}") from exc
    except Exception as exc:  # a corrupted payload must be reported as a difference, not crash verify
        cause = exc.__cause__ if isinstance(exc.__cause__, engine.EngineError) else None
        message = cause.message if cause is not None else f"{type(exc).__name__}: {exc}"
        raise ReplayMismatch(event.seq, f"le rejeu a échoué : {message}") from exc
    finally:
        engine._ids.reset(ids)
        clock_mod.current_clock.reset(clock_token)
        commands.current_command.reset(token)


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
    spec, subs = commands.spec_of(db.session.get(ProcessDefinition, initial_definition_id(instance, events)))
    prev_hash, prev_state, visited_all = commands.GENESIS_HASH, None, []
    for index, event in enumerate(events, start=1):
        if upto is not None and index > upto:
            return
        if check:
            reason = check_event(event, index, prev_hash)
            if reason:
                raise ReplayMismatch(index, reason)
        if event.command == "migration":
            target = db.session.get(ProcessDefinition, (event.payload or {}).get("to_definition"))
            if target is None:
                raise ReplayMismatch(index, "migration vers une version de processus inconnue")
            spec, subs = commands.spec_of(target)
        workflow, state_json, visited = replay_step(spec, subs, instance, event, prev_state)
        state_hash = engine.sha256(state_json)
        if check and state_hash != event.state_hash:
            raise ReplayMismatch(index, "l'état rejoué diffère de l'état enregistré (empreinte d'état)")
        if check and visited != list(event.visited or []):
            raise ReplayMismatch(index, "les éléments parcourus au rejeu diffèrent de ceux enregistrés")
        visited_all = visited_all + visited
        snapshot = Snapshot(seq=index, event=event, state_json=state_json, state_hash=state_hash,
                            visited_step=visited, visited=visited_all)
        if summarize:
            token = clock_mod.current_clock.set(clock_mod.FrozenClock(event.at))
            try:
                _summarize(snapshot, workflow)
            finally:
                clock_mod.current_clock.reset(token)
        yield snapshot
        prev_hash, prev_state = event.hash, state_json


def verify_instance(instance: ProcessInstance, dossier_number: str = "", full: bool = True,
                    events: list | None = None, traces: tuple | None = None) -> VerifyResult:
    """Verify one instance: chain, replay of every step (if `full`), then the stored state."""
    events = events_of(instance.id) if events is None else events
    result = VerifyResult(dossier=dossier_number or f"instance {instance.id}", instance_id=instance.id,
                          steps=len(events))
    try:
        if full:
            for _ in replay(instance, events, summarize=False):
                pass
            found = check_stored_state(instance, events, traces)
        else:
            found = verify_chain(instance, events, traces)
    except ReplayMismatch as exc:
        found = (exc.step, exc.reason)
    if found:
        result.ok, (result.step, result.reason) = False, found
    return result


def verify_dossier(dossier: Dossier, full: bool = True) -> VerifyResult:
    """Verify one dossier (see verify_instance)."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    return verify_instance(instance, dossier.number, full=full)


def verify_all(progress=None, full: bool = True, stop_at_first: bool = False,
               batch: int = 500) -> list[VerifyResult]:
    """Verify every dossier in number order; `progress(result)` is called after each one.

    Rows are loaded `batch` dossiers at a time (one query per table), not one dossier at a time.
    """
    results = []
    rows = db.session.execute(select(Dossier.number, Dossier.instance_id).order_by(Dossier.number)).all()
    for start in range(0, len(rows), batch):
        part = rows[start:start + batch]
        ids = [instance_id for _, instance_id in part]
        known = set(db.session.identity_map.keys())
        instances = {i.id: i for i in db.session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids)))}
        chains = {i: [] for i in ids}
        for event in db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id.in_(ids))
                                        .order_by(AuditEvent.instance_id, AuditEvent.seq, AuditEvent.id)):
            chains[event.instance_id].append(event)
        traces = _traces(ids)
        for number, instance_id in part:
            result = verify_instance(instances[instance_id], number, full=full, events=chains[instance_id],
                                     traces=traces[instance_id])
            results.append(result)
            if progress:
                progress(result)
            if stop_at_first and not result.ok:
                return results
        # Keep memory flat over thousands of dossiers, without detaching what the caller holds.
        for key in set(db.session.identity_map.keys()) - known:
            obj = db.session.identity_map.get(key)
            if obj is not None:
                db.session.expunge(obj)
    return results


def state_at(dossier: Dossier, step: int) -> Snapshot:
    """The replayed state of a dossier after step `step` (1-based); ReplayMismatch on tampering."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    events = events_of(instance.id)
    if not 1 <= step <= len(events):
        raise engine.EngineError(f"Étape {step} hors limites : le dossier compte {len(events)} étape(s).", 404)
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


# --------------------------------------------------------------------------------------------
# BPMN helpers for the diagram

NOT_ELEMENTS = {"definitions", "process", "collaboration", "laneSet", "lane", "participant", "documentation"}


@lru_cache(maxsize=16)
def _bpmn_index(xml_text: str) -> tuple[dict, dict, dict]:
    """(names by element id, flows by (source, target) -> flow id, kinds by element id) of a BPMN text."""
    root = etree.fromstring(xml_text.encode("utf-8"))
    names, flows, kinds = {}, {}, {}
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith("{%s}" % BPMN_NS):
            continue
        local = etree.QName(element).localname
        if local == "sequenceFlow":
            flows[(element.get("sourceRef"), element.get("targetRef"))] = element.get("id")
        elif element.get("id") and local not in NOT_ELEMENTS:
            names[element.get("id")] = element.get("name") or ""
            kinds[element.get("id")] = local
    return names, flows, kinds


def task_names(xml_text: str) -> dict:
    """BPMN task id -> name (user, service, script... tasks): the activities of process mining."""
    names, _, kinds = _bpmn_index(xml_text)
    return {eid: names[eid] or eid for eid, kind in kinds.items() if kind.endswith("Task") or kind == "task"}


def element_names(xml_text: str) -> dict:
    """BPMN element id -> name (tasks, events, gateways)."""
    return _bpmn_index(xml_text)[0]


def taken_flows(xml_text: str, visited: list, active: list = ()) -> list[str]:
    """Sequence flows taken, derived from consecutive visited elements connected in the BPMN.

    With `active`, the flow each waiting token arrived by is included too: from the latest visited
    element connected to it.
    """
    names, flows, _ = _bpmn_index(xml_text)
    path = [v for v in visited if v in names]
    taken = []
    for source, target in zip(path, path[1:]):
        flow = flows.get((source, target))
        if flow and flow not in taken:
            taken.append(flow)
    for target in active:
        for source in reversed(path):
            flow = flows.get((source, target))
            if flow:
                if flow not in taken:
                    taken.append(flow)
                break
    return taken


# --------------------------------------------------------------------------------------------
# Export for process mining (XES, IEEE 1849-2016) and CSV

XES_NS = "http://www.xes-standard.org/"
XES_EXTENSIONS = [("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
                  ("Time", "time", "http://www.xes-standard.org/time.xesext"),
                  ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
                  ("Organizational", "org", "http://www.xes-standard.org/org.xesext")]
CSV_COLUMNS = ["case:concept:name", "concept:name", "time:timestamp", "lifecycle:transition", "org:resource",
               "org:role", "element", "etape", "commande", "case:region", "case:type_structure",
               "case:qualification", "case:etat", "case:types_incident", "case:impact_sanitaire",
               "case:hors_heures", "case:militaire", "case:cree_le", "case:declare_le", "case:clos_le",
               "case:structure"]
SYSTEM_ROLE = "systeme"
ROLE_LABELS = dict(ROLES, **{SYSTEM_ROLE: "Système"})


def dossiers_between(start: datetime | None = None, end: datetime | None = None, scope=None) -> list[Dossier]:
    """Dossiers created in [start, end) and within `scope` (an SQL condition, e.g. a user's visibility)."""
    query = select(Dossier).order_by(Dossier.number)
    if scope is not None:
        query = query.where(scope)
    if start is not None:
        query = query.where(Dossier.created_at >= start)
    if end is not None:
        query = query.where(Dossier.created_at < end)
    return list(db.session.scalars(query))


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def case_attributes(dossier: Dossier, personal_data: bool = False) -> dict:
    """The main dossier attributes carried by each trace (no personal data unless asked)."""
    attrs = {"region": dossier.region, "type_structure": dossier.structure_kind,
             "qualification": dossier.qualification or "", "etat": dossier.state,
             "types_incident": ",".join(dossier.incident_types or []), "impact_sanitaire": bool(dossier.health_impact),
             "hors_heures": bool(dossier.off_hours), "militaire": bool(dossier.military),
             "cree_le": dossier.created_at, "declare_le": dossier.declared_at, "clos_le": dossier.closed_at}
    if personal_data:
        structure = db.session.get(Structure, dossier.structure_id)
        attrs["structure"] = structure.name if structure else ""
    return attrs


def activity_events(dossier: Dossier, personal_data: bool = False) -> list[dict]:
    """One process-mining event per BPMN task completed, in history order, from the audit events."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    tasks = task_names(definition.bpmn_xml)
    rows = []
    for event in events_of(instance.id):
        for index, element in enumerate(event.visited or []):
            if element not in tasks:
                continue
            # The person acted on the user task the command completed; the rest ran automatically.
            by_person = event.command == "complete" and index == 0
            role = event.actor_role if by_person else SYSTEM_ROLE
            if personal_data and by_person:
                resource = event.actor
            else:
                resource = ROLE_LABELS.get(role, role)
            rows.append({"case": dossier.number, "activity": tasks[element], "element": element,
                         "timestamp": event.at, "lifecycle": "complete", "resource": resource, "role": role,
                         "step": event.seq, "command": event.command})
    return rows


def _xes_attribute(parent, key: str, value) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        etree.SubElement(parent, "boolean", key=key, value="true" if value else "false")
    elif isinstance(value, datetime):
        etree.SubElement(parent, "date", key=key, value=_iso(value))
    elif isinstance(value, int):
        etree.SubElement(parent, "int", key=key, value=str(value))
    else:
        etree.SubElement(parent, "string", key=key, value=str(value))


def to_xes(dossiers: list[Dossier], personal_data: bool = False) -> bytes:
    """An XES (IEEE 1849) log: one trace per dossier, one event per task completed."""
    log = etree.Element("log", nsmap={None: XES_NS})
    log.set("xes.version", "1849-2016")
    for name, prefix, uri in XES_EXTENSIONS:
        etree.SubElement(log, "extension", name=name, prefix=prefix, uri=uri)
    for scope, keys in (("trace", [("string", "concept:name")]),
                        ("event", [("string", "concept:name"), ("date", "time:timestamp"),
                                   ("string", "lifecycle:transition"), ("string", "org:resource"),
                                   ("string", "org:role")])):
        glob = etree.SubElement(log, "global", scope=scope)
        for kind, key in keys:
            default = "1970-01-01T00:00:00.000+00:00" if kind == "date" else "__INVALID__"
            etree.SubElement(glob, kind, key=key, value=default)
    etree.SubElement(log, "classifier", name="Activité", keys="concept:name")
    etree.SubElement(log, "classifier", name="Activité et cycle de vie", keys="concept:name lifecycle:transition")
    _xes_attribute(log, "concept:name", "Signalement des incidents graves de sécurité des SI de santé")
    for dossier in dossiers:
        trace = etree.SubElement(log, "trace")
        _xes_attribute(trace, "concept:name", dossier.number)
        for key, value in case_attributes(dossier, personal_data).items():
            _xes_attribute(trace, key, value)
        for row in activity_events(dossier, personal_data):
            event = etree.SubElement(trace, "event")
            _xes_attribute(event, "concept:name", row["activity"])
            _xes_attribute(event, "time:timestamp", row["timestamp"])
            _xes_attribute(event, "lifecycle:transition", row["lifecycle"])
            _xes_attribute(event, "org:resource", row["resource"])
            _xes_attribute(event, "org:role", row["role"])
            _xes_attribute(event, "element", row["element"])
            _xes_attribute(event, "etape", row["step"])
            _xes_attribute(event, "commande", row["command"])
    return etree.tostring(log, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def to_csv(dossiers: list[Dossier], personal_data: bool = False) -> str:
    """The same events as the XES export, one CSV line each (pm4py's default column names)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for dossier in dossiers:
        case = {f"case:{k}": (_iso(v) if isinstance(v, datetime) else
                              ("oui" if v is True else "non" if v is False else ("" if v is None else v)))
                for k, v in case_attributes(dossier, personal_data).items()}
        for row in activity_events(dossier, personal_data):
            writer.writerow({"case:concept:name": row["case"], "concept:name": row["activity"],
                             "time:timestamp": _iso(row["timestamp"]), "lifecycle:transition": row["lifecycle"],
                             "org:resource": row["resource"], "org:role": row["role"], "element": row["element"],
                             "etape": row["step"], "commande": row["command"], **case})
    return out.getvalue()
