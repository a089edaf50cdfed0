"""Running a workflow: the restricted script engine with service calls dispatched to our handlers,
waiting timers, running to the next wait state, and reading user tasks and data.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.util.task import TaskState

from engine import protected, steps
from engine.errors import EngineError
from engine.expressions import ExpressionRefused, RestrictedEnvironment, check


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
        """Run a script's assignments with the interpreter; a refusal is a 422 naming the element, and so is
        a script (scriptTask, pre- or post-script) that changed data the application sets (engine/protected.py)."""
        before = protected.snapshot(task.data)
        try:
            result = super().execute(task, script, external_context)
        except WorkflowTaskException as exc:
            _raise_refusal(task, exc.__context__)
            raise
        _refuse_protected_writes(task, before, _script_kind(task, script))
        return result

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """Dispatch to the handler registry; errors become HandlerError, never NameError. A result stored
        under a protected name is refused before the service runs, a handler's change of one after it."""
        result_variable = getattr(task.task_spec, "result_variable", None)
        if result_variable in protected.PROTECTED:
            raise EngineError(f"La tâche de service {_where(task)} enregistre son résultat sous "
                              f"{protected.describe(result_variable)}, une donnée fixée par l'application que le "
                              "processus ne peut pas modifier : rien n'a été enregistré ni envoyé.", 422)
        before = protected.snapshot(task.data)
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        result = self.dispatcher(task, operation_name, params)
        _refuse_protected_writes(task, before, "La tâche de service")
        return result


def _where(task) -> str:
    spec = task.task_spec
    return f"« {spec.name} »" + (f" ({spec.bpmn_name})" if getattr(spec, "bpmn_name", None) else "")


def _script_kind(task, script) -> str:
    spec = task.task_spec
    if script is getattr(spec, "prescript", None):
        return "Le pré-script de l'élément"
    if script is getattr(spec, "postscript", None):
        return "Le post-script de l'élément"
    return "Le script de l'élément"


def _refuse_protected_writes(task, before: dict, who: str) -> None:
    """Refuse (422, nothing committed: the command rolls back) a change of data the application sets."""
    written = protected.changed(before, task.data)
    if written:
        names = ", ".join(protected.describe(name) for name in written)
        raise EngineError(f"{who} {_where(task)} modifie {names} : ces données sont fixées par l'application et "
                          "le processus ne peut pas les modifier. Rien n'a été enregistré ni envoyé ; la version "
                          "du processus doit être corrigée.", 422)


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


# Engine steps left to the commands running in this context (the dry run's budget), or None: no bound.
_step_budget: contextvars.ContextVar = contextvars.ContextVar("engine_step_budget", default=None)


class StepBudgetExceeded(EngineError):
    """The engine ran more steps than its budget: `element_id` and `element_name` say where it was looping."""

    status = 422

    def __init__(self, steps: int, task_spec):
        self.steps = steps
        self.element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
        self.element_name = getattr(task_spec, "bpmn_name", None) or self.element_id
        super().__init__(f"le processus dépasse son budget ({steps} étapes) : boucle sur « {self.element_name} » "
                         f"({self.element_id})")


@contextmanager
def step_budget(steps: int, on_step=None, every: int = 25):
    """Bound the engine steps of every command run inside the block (all together) to `steps`; `on_step(spec)`
    hears of every `every`-th step (the dry run tells its caller where a scenario is, should it be killed)."""
    token = _step_budget.set([steps, steps, on_step, every])
    try:
        yield
    finally:
        _step_budget.reset(token)


def run_to_wait_state(workflow: BpmnWorkflow, visited: list, engine_steps=None) -> None:
    """Run engine tasks and refresh timers until only user tasks and waiting events remain.

    `engine_steps(workflow, did_complete)` runs the engine steps: engine/steps.py by default; the yardstick
    (engine/bare_run.py) passes SpiffWorkflow's own loop."""
    budget = _step_budget.get()
    run_steps = engine_steps or steps.do_engine_steps

    def did_complete(task):
        visited.append(task.task_spec.name)
        if budget is not None:
            budget[1] -= 1
            if budget[1] < 0:
                raise StepBudgetExceeded(budget[0], task.task_spec)
            if budget[2] is not None and (budget[0] - budget[1]) % budget[3] == 0:
                budget[2](task.task_spec)
    run_steps(workflow, did_complete)
    # Timers that came due while engine steps ran are picked up in the same command.
    before = None
    while before != len(visited):
        before = len(visited)
        workflow.refresh_timers()
        run_steps(workflow, did_complete)


def ready_user_tasks(workflow: BpmnWorkflow):
    """READY manual tasks (user tasks) of the workflow."""
    return [t for t in steps.ready_tasks(workflow) if t.task_spec.manual]


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
