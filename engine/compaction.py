"""Keeping the live state small for long-lived dossiers: drop and splice finished history (by engine revision)."""
from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import (BoundaryEventJoin, BoundaryEventSplit, StartEventJoin,
                                               StartEventSplit, _EndJoin)
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState


# Compaction rules by engine revision; an instance keeps the revision it started with (a replay
# must rebuild the very states that were stored). 1: cut above the unfinished tasks. 2: also
# splice finished tasks out of the branches below. 3: keep the split of a task's boundary events
# while anything below it is unfinished (its join looks for it when the task completes: with every
# non-interrupting timer of a task fired, revision 2 spliced it away and the completion failed).
ENGINE_REVISION = 3
_EVENT_SPLITS = (BoundaryEventSplit, StartEventSplit)
_EVENT_JOINS = (BoundaryEventJoin, StartEventJoin)


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
    return removed + _splice_finished(workflow, keep_event_splits=revision >= 3) if revision >= 2 else removed


def _cut_above_live(workflow: BpmnWorkflow, live: list) -> int:
    """Drop the completed history above the lowest common ancestor of all unfinished tasks.

    Everything SpiffWorkflow still consults (the splits of open boundary events and gateways, the
    data carried by each task) lies below that ancestor. Waiting end-joins of branches that have
    already finished are not counted as unfinished: they hold no work, and keeping them would pin
    the whole history of the other branches.
    """
    # The path from the root to the first unfinished task; every other one keeps of it the part down to the
    # first ancestor of its own found on it (walking up only that far, not to the root each time).
    path = []
    node = live[0]
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()
    depth_of = {id(node): depth for depth, node in enumerate(path)}
    common = len(path)
    for task in live[1:]:
        node = task
        while node is not None and id(node) not in depth_of:
            node = node.parent
        common = min(common, depth_of[id(node)] + 1 if node is not None else 0)
    new_root = path[common - 1] if common else None
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


def _splice_finished(workflow: BpmnWorkflow, keep_event_splits: bool = False) -> int:
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
    # Revision 3: the splits an event join still to run will look for among its ancestors.
    joining = set()
    for join in workflow.tasks.values() if keep_event_splits else ():
        if isinstance(join.task_spec, _EVENT_JOINS) and not join.has_state(_SPLICEABLE):
            split = _split_of(join)
            if split is not None:
                joining.add(split.id)
    removed = 0
    for task in list(workflow.tasks.values()):
        parent = task.parent
        if (parent is None or task is workflow.last_task or not task.has_state(_SPLICEABLE)
                or task.task_spec in waiting):
            continue
        if keep_event_splits and isinstance(task.task_spec, _EVENT_SPLITS) and (
                task.id in joining or any(not c.has_state(_SPLICEABLE) for c in task.children)):
            continue  # its join finds it when the task with boundary events completes (revision 3)
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


def _split_of(join_task):
    """The nearest ancestor of an event join's task that is its split, or None."""
    node = join_task.parent
    while node is not None and node.task_spec.name != join_task.task_spec.split_task:
        node = node.parent
    return node


def _forget(workflow: BpmnWorkflow, task) -> None:
    workflow.tasks.pop(task.id)
    workflow.top_workflow.event_manager.remove_task(task)
