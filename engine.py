"""SpiffWorkflow wiring: parser, serializer, restricted scripts, clock, and one command = one transaction.

A command (start, complete a task, fire a timer) loads the instance, runs SpiffWorkflow to the
next wait state, then writes the new state, the task rows, the timer rows, the dossier fields,
the audit event and the outbox rows in one commit (DESIGN.md decision 1).
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
import SpiffWorkflow.task as spiff_task
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState

import clock as clock_mod
from expressions import ExpressionRefused, RestrictedEnvironment, check

STATE_FORMAT = 1


class EngineError(Exception):
    """A command was refused; `message` is French and safe to show, `status` the HTTP code."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Conflict(EngineError):
    """Someone else changed the instance meanwhile, or the task is already done."""

    status = 409


class HandlerError(EngineError):
    """A service-task handler failed; the whole command is rolled back."""

    status = 502


# --------------------------------------------------------------------------------------------
# Clock and identifiers inside SpiffWorkflow (DESIGN.md decision 3, and replayable state).

_ids: contextvars.ContextVar = contextvars.ContextVar("spiff_ids", default=None)


class _ClockDatetime(datetime):
    """`datetime` as seen by SpiffWorkflow's timer module: `now()` reads our clock."""

    @classmethod
    def now(cls, tz=None):
        instant = clock_mod.now()
        return instant.astimezone(tz) if tz else instant.astimezone(timezone.utc).replace(tzinfo=None)


class _ClockTime:
    """`time` as seen by SpiffWorkflow's Task: `time()` reads our clock, so state is replayable."""

    @staticmethod
    def time():
        return clock_mod.now().timestamp()


def _task_uuid():
    source = _ids.get()
    return source() if source is not None else uuid.uuid4()


def install_spiff_hooks() -> None:
    """Route SpiffWorkflow's clock and task ids through ours; idempotent."""
    spiff_timer.datetime = _ClockDatetime
    spiff_task.time = _ClockTime
    spiff_task.uuid4 = _task_uuid


def id_source(instance_key: str, seq: int):
    """Deterministic task ids for one command: the same command replayed creates the same ids."""
    counter = iter(range(1, 1 << 62))
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"signalement-ssi:{instance_key}:{seq}")
    return lambda: uuid.uuid5(namespace, str(next(counter)))


# --------------------------------------------------------------------------------------------
# Serialization with the spec kept out of the stored state (it is pinned by definition id).

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


# --------------------------------------------------------------------------------------------
# Parsing and specs.

def parse_bpmn(xml_text: str, process_id: str | None = None):
    """Parse BPMN text into (spec, subprocess_specs); the first executable process by default."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(xml_text.encode("utf-8")), filename="process.bpmn")
    if process_id is None:
        process_id = parser.get_process_ids()[0]
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    return spec, subprocess_specs


_EXPRESSIONS = {  # every BPMN/spiff element whose text SpiffWorkflow 3.2.0 evaluates, and how
    "eval": ("{*}conditionExpression", "{*}timeDuration", "{*}timeDate", "{*}timeCycle",
             "{*}loopCardinality", "{*}loopCondition", "{*}completionCondition", "{*}condition",
             "{*}formalExpression", "{*}messagePayload", "{*}expression"),
    "exec": ("{*}script", "{*}preScript", "{*}postScript"),
}


_BPMN_MODEL = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def _element_label(element) -> str:
    """« id » (name) of the enclosing BPMN element (task, flow, event) that holds an expression."""
    while element is not None and (element.get("id") is None or not element.tag.startswith(_BPMN_MODEL)
                                   or element.tag.endswith("EventDefinition")):
        element = element.getparent()
    if element is None:
        return "« ? »"
    name = element.get("name")
    return f"« {element.get('id')} »" + (f" ({name})" if name else "")


def check_expressions(xml_text: str) -> None:
    """Refuse, at deployment, BPMN whose expressions or scripts the interpreter would refuse."""
    root = etree.fromstring(xml_text.encode("utf-8"))
    found = [(mode, el.text or "", el) for mode, tags in _EXPRESSIONS.items() for el in root.iter(*tags)]
    found += [("eval", el.get("value") or "", el) for el in root.iter("{*}parameter")]
    for mode, source, element in found:
        if not source.strip():
            continue
        try:
            check(source, mode)
        except ExpressionRefused as exc:
            raise ExpressionRefused(f"{exc} (élément {_element_label(element)})") from None


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


# --------------------------------------------------------------------------------------------
# Keeping the live state small (long-lived dossiers).

# Compaction rules by engine revision; an instance keeps the revision it started with (a replay
# must rebuild the very states that were stored). 1: cut above the unfinished tasks. 2: also
# splice finished tasks out of the branches below.
ENGINE_REVISION = 2


def compact(workflow: BpmnWorkflow, revision: int = ENGINE_REVISION) -> int:
    """Keep the live state small: cut the history above the unfinished tasks, then (revision 2)
    splice the finished tasks out of the branches that remain. Returns the number of tasks removed.

    SpiffWorkflow's task tree only grows and its iterator stops at depth 1,000, so a loop would
    silently stall after a few hundred iterations - also a loop in one branch while another branch
    of a parallel split stays open (the DGS's analysis while the support goes on for years). The
    history removed is in the audit log.
    """
    live = [t for t in workflow.tasks.values()
            if t.has_state(TaskState.NOT_FINISHED_MASK) and not isinstance(t.task_spec, _EndJoin)]
    if not live or workflow.subprocesses:
        return 0  # a finished workflow keeps its last tree: nothing will run in it any more
    removed = _cut_above_live(workflow, live)
    return removed + _splice_finished(workflow) if revision >= 2 else removed


def _cut_above_live(workflow: BpmnWorkflow, live: list) -> int:
    """Drop the completed history above the lowest common ancestor of all unfinished tasks.

    Everything SpiffWorkflow still consults (the splits of open boundary events and gateways, the
    data carried by each task) lies below that ancestor. Waiting end-joins of branches that have
    already finished are not counted as unfinished: they hold no work, and keeping them would pin
    the whole history of the other branches.
    """
    common = None
    for task in live:
        path = []
        node = task
        while node is not None:
            path.append(node)
            node = node.parent
        path.reverse()
        if common is None:
            common = path
        else:
            i = 0
            while i < len(common) and i < len(path) and common[i] is path[i]:
                i += 1
            common = common[:i]
    new_root = common[-1] if common else None
    if new_root is None or new_root is workflow.task_tree:
        return 0
    keep = set()
    stack = [new_root]
    while stack:
        node = stack.pop()
        keep.add(node.id)
        stack.extend(node.children)
    removed = [tid for tid in workflow.tasks if tid not in keep]
    for tid in removed:
        _forget(workflow, workflow.tasks[tid])
    new_root._parent = None
    workflow.task_tree = new_root
    if workflow.last_task is not None and workflow.last_task.id not in keep:
        workflow.last_task = None
    return len(removed)


# A child in these states holds its own data: it no longer reads its parent's. (A FUTURE or
# predicted task copies its parent's data when it becomes ready; a WAITING one on every update.)
_SETTLED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.READY | TaskState.STARTED
_SPLICEABLE = TaskState.COMPLETED | TaskState.CANCELLED


def _splice_finished(workflow: BpmnWorkflow) -> int:
    """Remove finished tasks from inside the tree, moving their children up to their parent.

    A finished task goes when nothing can read it any more: every child is settled (see above);
    it is not the workflow's last task (the current data); and no join that is still waiting needs
    it - a waiting join counts the branches that arrived by the parents of its instances (also the
    cancelled ones) and merges their data when it fires, so while a join of a spec waits, the
    instances of that spec and their parents stay. Ancestor/descendant order between the tasks kept
    is unchanged, and so is each kept task's data. One pass in creation order collapses a chain.
    """
    waiting = {t.task_spec for t in workflow.tasks.values()
               if isinstance(t.task_spec, Join) and t.state == TaskState.WAITING}
    removed = 0
    for task in list(workflow.tasks.values()):
        parent = task.parent
        if (parent is None or task is workflow.last_task or not task.has_state(_SPLICEABLE)
                or task.task_spec in waiting):
            continue
        children = task.children
        if any(not c.has_state(_SETTLED) or c.task_spec in waiting for c in children):
            continue
        at = parent._children.index(task.id)
        parent._children[at:at + 1] = task._children
        for child in children:
            child._parent = parent.id
        _forget(workflow, task)
        removed += 1
    return removed


def _forget(workflow: BpmnWorkflow, task) -> None:
    workflow.tasks.pop(task.id)
    workflow.top_workflow.event_manager.remove_task(task)


# --------------------------------------------------------------------------------------------
# Service calls.

class EngineScriptEngine(PythonScriptEngine):
    """Script engine whose expressions and scripts go to our interpreter (never eval/exec), and
    whose service calls are dispatched to our handlers."""

    def __init__(self, dispatcher):
        super().__init__(environment=RestrictedEnvironment())
        self.dispatcher = dispatcher

    def validate(self, expression):
        """Check an expression with the interpreter's grammar (SpiffWorkflow's default only parses)."""
        check(expression)

    def evaluate(self, task, expression, external_context=None):
        """Evaluate with the interpreter; a refusal is a 422 naming the element."""
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as exc:
            _raise_refusal(task, exc.__context__)
            raise

    def execute(self, task, script, external_context=None):
        """Run a script's assignments with the interpreter; a refusal is a 422 naming the element."""
        try:
            return super().execute(task, script, external_context)
        except WorkflowTaskException as exc:
            _raise_refusal(task, exc.__context__)
            raise

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """Dispatch to the handler registry; errors become HandlerError, never NameError."""
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        return self.dispatcher(task, operation_name, params)


def _raise_refusal(task, cause) -> None:
    """A refusal met while running (it depended on the task data) becomes a clear 422."""
    if isinstance(cause, ExpressionRefused):
        spec = task.task_spec
        where = f"« {spec.name} »" + (f" ({spec.bpmn_name})" if getattr(spec, "bpmn_name", None) else "")
        raise EngineError(f"{cause} (élément {where})", 422) from cause


@dataclass
class TimerInfo:
    """A waiting timer event found in a workflow."""

    task_id: str
    spec_name: str
    due_at: datetime


def waiting_timers(workflow: BpmnWorkflow) -> list[TimerInfo]:
    """Every WAITING timer event of the workflow with its due instant (computing it if needed)."""
    result = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        spec = task.task_spec
        if not isinstance(spec, CatchingEvent):
            continue
        definition = getattr(spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        value = task._get_internal_data("event_value")
        if value is None:
            definition.has_fired(task) if hasattr(definition, "has_fired") else None
            value = task._get_internal_data("event_value")
        if isinstance(value, dict):
            value = value.get("next")
        if value is None:
            continue
        due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
        result.append(TimerInfo(str(task.id), spec.name, due.astimezone(timezone.utc)))
    return result


def waiting_timer_ids(workflow: BpmnWorkflow) -> set[str]:
    """Ids of the WAITING timer events, read without touching their state."""
    return {str(task.id) for task in workflow.get_tasks(state=TaskState.WAITING)
            if isinstance(task.task_spec, CatchingEvent)
            and isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)}


def run_to_wait_state(workflow: BpmnWorkflow, visited: list) -> None:
    """Run engine tasks and refresh timers until only user tasks and waiting events remain."""
    def did_complete(task):
        visited.append(task.task_spec.name)
    workflow.do_engine_steps(did_complete_task=did_complete)
    # Timers that came due while engine steps ran are picked up in the same command.
    before = None
    while before != len(visited):
        before = len(visited)
        workflow.refresh_timers()
        workflow.do_engine_steps(did_complete_task=did_complete)


def ready_user_tasks(workflow: BpmnWorkflow):
    """READY manual tasks (user tasks) of the workflow."""
    return [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]


def current_data(workflow: BpmnWorkflow) -> dict:
    """The most recent data of the instance: the last completed task's, else the root's."""
    if workflow.last_task is not None:
        return workflow.last_task.data
    ready = ready_user_tasks(workflow)
    if ready:
        return ready[0].data
    return workflow.task_tree.data


def task_form(task_spec) -> tuple[str | None, str | None]:
    """The JSON Schema and UI schema file names a user task references (spiff-arena convention)."""
    props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
    return props.get("formJsonSchemaFilename"), props.get("formUiSchemaFilename")


def load_bpmn_file(path: str | Path) -> str:
    """Read a BPMN file as text."""
    return Path(path).read_text(encoding="utf-8")
