"""State load/dump with the spec kept out of the stored state (it is pinned by definition id),
the canonical JSON used for hashing, and the serialized spec stored with each definition.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import uuid

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG


STATE_FORMAT = 1


_pinned_spec: contextvars.ContextVar = contextvars.ContextVar("pinned_spec")


class PinnedWorkflowConverter(BpmnWorkflowConverter):
    """Stores a workflow without its spec; restores it with the spec of its pinned definition."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        # Tasks as a list in breadth-first order: parents are restored before their children
        # (a child's data is stored as a delta from its parent's), whatever the key order.
        order, queue = [], [workflow.task_tree]
        while queue:
            task = queue.pop(0)
            order.append(str(task.id))
            queue.extend(task.children)
        dct["tasks"] = [dct["tasks"][tid] for tid in order]
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


def _make_serializers():
    spec_config = dict(SPIFF_CONFIG)
    spec_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(spec_config))
    state_config = dict(SPIFF_CONFIG)
    state_config[BpmnWorkflow] = PinnedWorkflowConverter
    state_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(state_config))
    return spec_serializer, state_serializer


SPEC_SERIALIZER, STATE_SERIALIZER = _make_serializers()


def canonical_json(value) -> str:
    """The one encoding used for hashing: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
