"""Process versions for their owners: what differs between two versions (workflow/differences.py), which
dossiers run on each version and where they wait, activating an earlier version (rollback), and migrating the
dossiers of a version.

Owners see counts and dossier numbers, never dossier contents; numbers of military dossiers and of
declarations still being typed are left out (web/access.py keeps them to their own chain).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from engine import runtime, serialization
from engine.errors import EngineError
from models import Dossier, ProcessDefinition, ProcessInstance, db
from referentiel import plural
from workflow import commands, deployment, differences
from workflow.context import Actor

WAITING = TaskState.READY | TaskState.WAITING | TaskState.STARTED


# --------------------------------------------------------------------------------------------
# Semantic difference

# The differences between two versions are told value by value in workflow/differences.py; these names stay
# importable from here for the pages and commands that show them.
ELEMENT_TYPES = differences.ELEMENT_TYPES
semantic_diff, diff_is_empty = differences.semantic_diff, differences.diff_is_empty


# --------------------------------------------------------------------------------------------
# Where running dossiers wait

def waiting_elements(state_json: str, spec) -> list[str]:
    """Ids of the BPMN elements a stored state waits on (ready user tasks, waiting events, joins)."""
    stored = json.loads(state_json)["workflow"]
    names = []
    for task in stored["tasks"].values() if isinstance(stored["tasks"], dict) else stored["tasks"]:
        task_spec = spec.task_specs.get(task["task_spec"])
        if task["state"] & WAITING and task_spec is not None and getattr(task_spec, "bpmn_id", None):
            names.append(task["task_spec"])
    return sorted(set(names))


@dataclass
class VersionUse:
    """The running dossiers of one version: how many, their numbers (civil ones), where they wait."""

    definition: ProcessDefinition
    running: int = 0
    numbers: list = field(default_factory=list)
    hidden: int = 0
    per_element: dict = field(default_factory=dict)


def _running(definition_id: int, with_state: bool = True):
    state = ProcessInstance.state_json if with_state else ProcessInstance.id
    return db.session.execute(
        select(state, Dossier.number, Dossier.military, Dossier.state)
        .join(Dossier, Dossier.instance_id == ProcessInstance.id)
        .where(ProcessInstance.definition_id == definition_id, ProcessInstance.status == "running")
        .order_by(Dossier.number)).all()


def use_of(definition: ProcessDefinition, hidden_filter, per_element: bool = True) -> VersionUse:
    """Running dossiers of a version and, with `per_element`, the count waiting on each element (that reads
    every state, so the list of versions leaves it to each version's page); `hidden_filter(military, state)`
    says which numbers the reader may not see."""
    use = VersionUse(definition)
    spec = deployment.spec_of(definition)[0] if per_element else None
    counts: Counter = Counter()
    for state_json, number, military, state in _running(definition.id, per_element):
        use.running += 1
        if per_element:
            counts.update(waiting_elements(state_json, spec))
        if hidden_filter(military, state):
            use.hidden += 1
        else:
            use.numbers.append(number)
    use.per_element = dict(sorted(counts.items()))
    return use


def element_names(definition: ProcessDefinition) -> dict:
    """{element id: name} of a version's elements."""
    spec, subs = deployment.spec_of(definition)
    return {name: getattr(t, "bpmn_name", None) or name for s in [spec, *subs.values()] for name, t in s.task_specs.items()}


# --------------------------------------------------------------------------------------------
# Rollback

def activate(definition: ProcessDefinition, actor: str, comment: str) -> None:
    """Make a deployed version the one new dossiers start on (audited with who, when and why)."""
    if not comment.strip():
        raise EngineError("Indiquez pourquoi vous activez cette version.", 422)
    current = deployment.active_definition(definition.process_id)
    if current.id == definition.id:
        raise EngineError(f"La version {definition.id} est déjà la version active.", 409)
    deployment.record_event(definition, "activation", actor, comment.strip()[:2000], current.id)
    deployment.set_active(definition)
    db.session.commit()


# --------------------------------------------------------------------------------------------
# Migration of running dossiers

def _type(task_spec) -> str:
    return type(task_spec).__name__


def preview_one(state_json: str, source, target, source_def, target_def) -> dict:
    """Whether one dossier can move from `source` to `target` (specs), and why not, by waiting element."""
    waiting = waiting_elements(state_json, source)
    reasons, notes = [], []
    for name in serialization.missing_specs(state_json, target):
        where = "où il attend" if name in waiting else "déjà parcouru"
        reasons.append(f"l'élément « {name} » ({where}) n'existe plus dans la version {target_def.id}")
    for name in waiting:
        old, new = source.task_specs[name], target.task_specs.get(name)
        if new is None:
            continue
        if _type(old) != _type(new):
            reasons.append(f"l'élément « {name} » a changé de nature ({_type(old)} → {_type(new)})")
        elif old.manual:
            old_form, new_form = runtime.task_form(old)[0], runtime.task_form(new)[0]
            if new_form not in target_def.forms:
                reasons.append(f"le formulaire de « {name} » manque dans la version {target_def.id}")
            elif old_form != new_form or source_def.forms.get(old_form) != target_def.forms.get(new_form):
                notes.append(f"la tâche ouverte « {name} » prendra le nouveau formulaire")
    return {"attente": waiting, "possible": not reasons, "raisons": reasons, "remarques": notes}


def preview(source_def: ProcessDefinition, target_def: ProcessDefinition, hidden_filter) -> dict:
    """For every running dossier of a version: can it move to the target, and why not; its timers."""
    if source_def.process_id != target_def.process_id:
        raise EngineError("La version cible décrit un autre processus.", 422)
    if source_def.id == target_def.id:
        raise EngineError("Choisissez une autre version que celle des dossiers.", 422)
    source, target = deployment.spec_of(source_def)[0], deployment.spec_of(target_def)[0]
    old_timers, new_timers = commands.timer_expressions(source), commands.timer_expressions(target)
    changed_timers = sorted(n for n in old_timers.keys() & new_timers.keys() if old_timers[n] != new_timers[n])
    rows = []
    for state_json, number, military, state in _running(source_def.id):
        row = preview_one(state_json, source, target, source_def, target_def)
        row["numero"] = None if hidden_filter(military, state) else number
        row["minuteurs"] = [n for n in row["attente"] if n in changed_timers]
        rows.append(row)
    return {"dossiers": rows, "possibles": sum(r["possible"] for r in rows),
            "impossibles": sum(not r["possible"] for r in rows),
            "minuteurs": [{"id": n, "avant": _shown(old_timers[n]), "apres": _shown(new_timers[n])}
                          for n in changed_timers]}


def _shown(expression: str) -> str:
    """A timer expression as people read it: a quoted literal without its quotes."""
    text = expression.strip()
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text


def migrate_all(source_def: ProcessDefinition, target_def: ProcessDefinition, actor: Actor, timers: str,
                element: str | None = None) -> list[dict]:
    """Move every running dossier of a version that can move (only those waiting on `element` when given);
    one audited command each, a report line each, and one deployment event for the whole migration."""
    report = []
    ids = db.session.scalars(select(Dossier.id).join(ProcessInstance, Dossier.instance_id == ProcessInstance.id)
                             .where(ProcessInstance.definition_id == source_def.id,
                                    ProcessInstance.status == "running").order_by(Dossier.number)).all()
    source, target = deployment.spec_of(source_def)[0], deployment.spec_of(target_def)[0]
    for dossier_id in ids:
        dossier = db.session.get(Dossier, dossier_id)
        instance = db.session.get(ProcessInstance, dossier.instance_id)
        check = preview_one(instance.state_json, source, target, source_def, target_def)
        if element and element not in check["attente"]:
            continue
        line = {"dossier": dossier, "attente": check["attente"], "migre": False, "raisons": check["raisons"]}
        if check["possible"]:
            try:
                commands.migrate_dossier(dossier, target_def, actor, timers)
                line["migre"] = True
            except EngineError as exc:
                line["raisons"] = [exc.message]
        report.append(line)
    moved = sum(line["migre"] for line in report)
    deployment.record_event(target_def, "migration", actor.name, plural(moved, "dossier migré"), source_def.id,
                            {"migres": moved, "refuses": len(report) - moved, "minuteurs": timers,
                             **({"element": element} if element else {})})
    db.session.commit()
    return report
