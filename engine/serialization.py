"""State load/dump with the spec kept out of the stored state (it is pinned by definition id),
the canonical JSON used for hashing, and the serialized spec stored with each definition.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import uuid

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, TaskConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task


STATE_FORMAT = 1


_pinned_spec: contextvars.ContextVar = contextvars.ContextVar("pinned_spec")


class PinnedWorkflowConverter(BpmnWorkflowConverter):
    """Stores a workflow without its spec; restores it with the spec of its pinned definition."""

    def to_dict(self, workflow):
        if not _FAST_TASKS:
            return self._to_dict_generic(workflow)
        # WorkflowConverter.to_dict with the tasks converted in the order they are stored (see below) by
        # _task_dict, without a mapping of them all first: the state is dumped after every command and
        # every replayed step. tests/test_engine.py checks that both give the same bytes.
        registry, tasks = self.registry, workflow.tasks
        dct = {
            "data": registry.convert(registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": [_task_dict(task, tasks, registry.convert) for task in _breadth_first(workflow)],
            "root": str(workflow.task_tree.id),
        }
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def _to_dict_generic(self, workflow):
        """The same dictionary through SpiffWorkflow's own converters."""
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["tasks"] = [dct["tasks"][str(task.id)] for task in _breadth_first(workflow)]
        for task in dct["tasks"]:
            # Deleted keys are a set; their list order follows dict insertion order, which a
            # reload (sorted JSON) changes. Sorting keeps the bytes independent of save/reload.
            if task.get("delta") and task["delta"].get("deletions"):
                task["delta"]["deletions"] = sorted(task["delta"]["deletions"])
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = _pinned_spec.get()
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        tasks = {task["id"]: task for task in dct["tasks"]}
        workflow.tasks = self.mapping_from_dict(tasks, uuid.UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(uuid.UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _breadth_first(workflow) -> list:
    """Tasks as a list in breadth-first order: parents are restored before their children
    (a child's data is stored as a delta from its parent's), whatever the key order."""
    tasks = workflow.tasks
    order = [workflow.task_tree]
    for task in order:  # grows while it is read
        order.extend(tasks.get(child) for child in task._children)
    return order


def _task_dict(task, tasks: dict, convert) -> dict:
    """What SpiffWorkflow's TaskConverter.to_dict (registered as "Task") gives, deleted keys sorted."""
    parent = tasks.get(task._parent)
    if parent is None:
        data, delta = task.data, {}
    else:
        before, after = parent.data, task.data
        deletions = [key for key in before if key not in after]
        data = {}
        delta = {"updates": {key: value for key, value in after.items() if key not in before or value != before[key]},
                 # Deleted keys are a set; their list order follows dict insertion order, which a
                 # reload (sorted JSON) changes. Sorting keeps the bytes independent of save/reload.
                 "deletions": sorted(deletions)}
    return {"id": str(task.id), "parent": str(task._parent) if parent is not None else None,
            "children": [str(child) for child in task._children], "last_state_change": task.last_state_change,
            "state": task._state, "task_spec": task.task_spec.name, "triggered": task.triggered,
            "internal_data": convert(task.internal_data), "data": data, "delta": delta, "typename": "Task"}


def _make_serializers():
    spec_config = dict(SPIFF_CONFIG)
    spec_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(spec_config))
    state_config = dict(SPIFF_CONFIG)
    state_config[BpmnWorkflow] = PinnedWorkflowConverter
    state_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(state_config))
    return spec_serializer, state_serializer


SPEC_SERIALIZER, STATE_SERIALIZER = _make_serializers()
# _task_dict mirrors SpiffWorkflow's default task converter: used only while that is the one registered.
_FAST_TASKS = (STATE_SERIALIZER.registry.typenames.get(Task) == "Task"
               and STATE_SERIALIZER.registry.convert_to_dict["Task"].args[1].__func__ is TaskConverter.to_dict)


def canonical_json(value) -> str:
    """The one encoding used for hashing: sorted keys, no spaces, UTF-8 text."""
    return _CANONICAL(value)


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str), its encoder made once.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode


def sha256(text: str) -> str:
    """Hex SHA-256 of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dump_state(workflow: BpmnWorkflow) -> str:
    """Serialize a workflow's live state (without its spec) to canonical JSON."""
    dct = STATE_SERIALIZER.registry.convert(workflow)
    return canonical_json({"format": STATE_FORMAT, "workflow": dct})


def load_state(state_json: str, spec, subprocess_specs, script_engine) -> BpmnWorkflow:
    """Rebuild a workflow from stored state and its pinned spec; re-attach the script engine."""
    stored = json.loads(state_json)
    token = _pinned_spec.set((spec, subprocess_specs))
    try:
        workflow = STATE_SERIALIZER.registry.restore(stored["workflow"])
    finally:
        _pinned_spec.reset(token)
    workflow.script_engine = script_engine
    return workflow


def missing_specs(state_json: str, spec) -> list[str]:
    """Element ids a stored state refers to that a spec does not have (a migration would break)."""
    stored = json.loads(state_json)["workflow"]
    names = {task["task_spec"] for task in stored["tasks"]}
    return sorted(name for name in names if name not in spec.task_specs)


def spec_to_json(spec, subprocess_specs) -> str:
    """Serialized spec, stored with the definition so instances never need the XML again."""
    return canonical_json({
        "spec": SPEC_SERIALIZER.registry.convert(spec),
        "subprocess_specs": {k: SPEC_SERIALIZER.registry.convert(v) for k, v in subprocess_specs.items()},
    })


def spec_from_json(text: str):
    """Inverse of spec_to_json."""
    dct = json.loads(text)
    spec = SPEC_SERIALIZER.registry.restore(dct["spec"])
    subs = {k: SPEC_SERIALIZER.registry.restore(v) for k, v in dct["subprocess_specs"].items()}
    return spec, subs
