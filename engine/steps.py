"""SpiffWorkflow's engine steps with a cheaper search for READY tasks: same tasks, same order, same effects.

`BpmnWorkflow.do_engine_steps` asks `get_tasks(state=READY)` of the whole tree several times per command,
and SpiffWorkflow's iterator pays, for every task it walks, a list built by dictionary lookups of its
children, a list concatenation, and a walk up the parents to keep its depth: about a fifth of a replay's
time and of a live command's engine time. `ready_tasks` walks the same tree in the same order (depth first,
a subprocess's tree before the task's own children, no descent below a task still only predicted), with a
stack and no depth to keep.

The depth is what SpiffWorkflow uses to stop at its `max_depth` of 1000. It grows by one per task it
descends from, so it cannot reach 1000 in a tree of fewer tasks: on a larger tree (never seen here, where
compaction keeps trees small) the library's own iterator runs instead. tests/test_engine_steps.py compares
the two at every call over every scenario and their replays.
"""
from __future__ import annotations

from SpiffWorkflow.util.task import TaskState

READY, FUTURE, FINISHED_MASK = TaskState.READY, TaskState.FUTURE, TaskState.FINISHED_MASK
MAX_DEPTH = 1000  # SpiffWorkflow's TaskIterator default


def _size(top) -> int:
    return len(top.tasks) + sum(len(sub.tasks) for sub in top.subprocesses.values())


def ready_tasks(workflow) -> list:
    """`workflow.get_tasks(state=TaskState.READY)`: the same list, in the same order."""
    top = workflow.top_workflow
    if _size(top) >= MAX_DEPTH:
        return workflow.get_tasks(state=READY)
    subprocesses = top.subprocesses
    found = []
    stack = [workflow.task_tree]
    pop, push = stack.pop, stack.append
    while stack:
        task = pop()
        state = task._state
        subprocess = subprocesses.get(task.id) if subprocesses else None
        if subprocess is not None or (task._children and state >= FUTURE):
            get = task.workflow.tasks.get
            stack.extend([get(child) for child in reversed(task._children)])
            # The library skips a subprocess whose task is finished when unfinished tasks (READY) are asked for.
            if subprocess is not None and state < FINISHED_MASK:
                push(subprocess.task_tree)
        if state & READY:
            found.append(task)
    return found


def do_engine_steps(workflow, did_complete_task=None) -> None:
    """`BpmnWorkflow.do_engine_steps(did_complete_task=...)` with `ready_tasks` (SpiffWorkflow 3.2's loop)."""
    while _engine_pass(workflow, did_complete_task):
        pass
    workflow.refresh_timers()


def _engine_pass(workflow, did_complete_task) -> bool:
    def update(wf) -> int:
        count = 0
        for task in ready_tasks(wf):
            if not task.task_spec.manual:
                task.run()
                count += 1
                if did_complete_task is not None:
                    did_complete_task(task)
        return count

    active = workflow.get_active_subprocesses()
    for subprocess in sorted(active, key=lambda v: v.depth, reverse=True):
        while update(subprocess) > 0:
            pass
        if subprocess.parent_task_id is not None:
            task = workflow.get_task_from_id(subprocess.parent_task_id)
            task.task_spec._update(task)
    count = update(workflow)
    return count > 0 or len(workflow.get_active_subprocesses()) > len(active)
