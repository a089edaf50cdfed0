"""Run recorded commands on plain, in-memory SpiffWorkflow: the yardstick for tests and benchmarks.

No database, no serialization, no compaction, SpiffWorkflow's own script engine: the same BPMN
and the same inputs (submitted data, service results and times taken from the audit log).
Comparing its path with the live run shows that saving and reloading at every wait state
changes nothing; timing it gives the cost our engine adds.
"""
from __future__ import annotations

import json
import uuid

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.util.task import TaskState

from engine import clockhooks, compaction, runtime
from timekeeping import clock as clock_mod


class RecordedServices(PythonScriptEngine):
    """SpiffWorkflow's default script engine, answering service calls from a recorded list."""

    def __init__(self):
        super().__init__()
        self.results: list = []

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """Return the next recorded result; it must be for this task."""
        recorded = self.results.pop(0)
        assert recorded["task"] == task.task_spec.name, (recorded["task"], task.task_spec.name)
        return recorded["result"]


def run_commands(spec, subprocess_specs, events, instance_key: str | None = None,
                 compact: bool = False) -> tuple[BpmnWorkflow, list]:
    """Apply (command, payload, service_results, at) events in memory; return the workflow and visited lists.

    Task ids are taken from the same deterministic source as the live run when `instance_key`
    is given, so task ids in payloads resolve; otherwise user tasks are found by spec name.
    With `compact`, finished history is dropped after each command as the live engine does.
    """
    services = RecordedServices()
    workflow = None
    visited_per_command = []
    frozen = clock_mod.FrozenClock()
    clock_token = clock_mod.current_clock.set(frozen)
    try:
        for seq, (command, payload, service_results, at) in enumerate(events, start=1):
            frozen.set(at)
            ids_token = clockhooks._ids.set(clockhooks.id_source(instance_key, seq) if instance_key else None)
            services.results = list(service_results)
            visited: list = []
            try:
                if command == "start":
                    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=services)
                    workflow.task_tree.data.update(payload["data"])
                    for task in workflow.get_tasks(state=TaskState.READY):
                        task.data.update(payload["data"])
                elif command == "complete":
                    task = _find_task(workflow, payload)
                    task.set_data(**payload["data"])
                    task.run()
                    visited.append(task.task_spec.name)
                runtime.run_to_wait_state(workflow, visited, library_engine_steps)
                if compact:
                    compaction.compact(workflow)
            finally:
                clockhooks._ids.reset(ids_token)
            visited_per_command.append(visited)
    finally:
        clock_mod.current_clock.reset(clock_token)
    return workflow, visited_per_command


def library_engine_steps(workflow, did_complete_task=None) -> None:
    """SpiffWorkflow's own loop of engine steps: the yardstick stays plain SpiffWorkflow (the live engine and the
    replay use engine/steps.py, which finds the same READY tasks more cheaply)."""
    workflow.do_engine_steps(did_complete_task=did_complete_task)


def _find_task(workflow, payload):
    try:
        task = workflow.get_task_from_id(uuid.UUID(payload["task_id"]))
        if task.state == TaskState.READY:
            return task
    except Exception:
        pass
    ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == payload["spec"]]
    if not ready:
        raise LookupError(f"no READY task {payload['spec']}")
    return ready[0]


def events_of(audit_events) -> list:
    """The inputs of AuditEvent rows, in the form run_commands takes."""
    return [(e.command, e.payload, json.loads(json.dumps(e.service_results)), e.at) for e in audit_events]
