"""Loops and dead ends: a choice whose conditions can all be false, loops without a bound, and cycles that never
wait for a person, a timer or a message (the engine would turn in them for ever inside one command).
"""
from __future__ import annotations

import ast

from engine.expressions import ExpressionRefused, parse
from validation.elements import FORM_KEYS, properties
from validation.problems import BPMN, Problem, label, problem

# Where a dossier waits for someone or something: a cycle through one of these is a loop of the process, not
# of the engine. A sub-process or call activity may wait inside: it is not judged from outside.
WAIT_STATES = {BPMN + tag for tag in ("userTask", "manualTask", "receiveTask", "subProcess", "callActivity",
                                      "eventBasedGateway")}
CATCH_WAITS = (BPMN + "timerEventDefinition", BPMN + "messageEventDefinition", BPMN + "signalEventDefinition",
               BPMN + "conditionalEventDefinition")
FLOW_TAGS = {BPMN + tag for tag in (
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "task",
    "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask",
    "subProcess", "callActivity", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
    "eventBasedGateway", "complexGateway")}


# --------------------------------------------------------------------------------------------
# Conditions exhaustive over a form enumeration

def _tested_values(condition: str) -> tuple[str, set] | None:
    """(name, values) when a condition is `name == "a"`, `"a" == name` or `name in ("a", "b")`; else None."""
    try:
        tree = parse(condition.strip(), "eval")
    except ExpressionRefused:
        return None
    node = tree.body if isinstance(tree, ast.Expression) else tree
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        return None
    left, right, op = node.left, node.comparators[0], node.ops[0]
    if isinstance(op, ast.Eq):
        if isinstance(right, ast.Name):
            left, right = right, left
        if isinstance(left, ast.Name) and isinstance(right, ast.Constant):
            return left.id, {right.value}
    if isinstance(op, ast.In) and isinstance(left, ast.Name) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
        if all(isinstance(e, ast.Constant) for e in right.elts):
            return left.id, {e.value for e in right.elts}
    return None


def _enumerations(process, forms: dict, name: str) -> list[set]:
    """The enumerations a field takes in the forms of the process's user tasks."""
    found = []
    for task in process.iter(BPMN + "userTask"):
        schema = forms.get(properties(task).get(FORM_KEYS[0]) or "")
        field = ((schema or {}).get("properties") or {}).get(name) if isinstance(schema, dict) else None
        if isinstance(field, dict):
            values = field.get("enum")
            if values is None and isinstance(field.get("oneOf"), list):
                values = [o.get("const") for o in field["oneOf"] if isinstance(o, dict) and "const" in o] or None
            if isinstance(values, list):
                found.append({v for v in values if isinstance(v, (str, int, bool))})
    return found


def exhaustive(process, forms: dict, flows: list) -> bool:
    """True when the conditions of a gateway's flows test one form field against every value of its enumeration."""
    tested, names = set(), set()
    for flow in flows:
        expression = flow.find(BPMN + "conditionExpression")
        found = _tested_values(expression.text or "") if expression is not None else None
        if found is None:
            return False
        names.add(found[0])
        tested |= found[1]
    if len(names) != 1:
        return False
    enumerations = _enumerations(process, forms, names.pop())
    return bool(enumerations) and all(values and values <= tested for values in enumerations)


# --------------------------------------------------------------------------------------------
# Loops without a bound

def loop_problems(process) -> list[Problem]:
    """Standard loops need loopMaximum; multi-instance activities need a cardinality or a collection."""
    found = []
    for loop in process.iter(BPMN + "standardLoopCharacteristics"):
        maximum = (loop.get("loopMaximum") or "").strip()
        if not maximum.isdigit() or int(maximum) < 1:
            found.append(problem("boucle-bornee", loop.getparent(), "la tâche se répète (boucle standard) sans nombre "
                                 "maximal d'itérations : si sa condition reste vraie, le dossier tourne sans fin",
                                 "Renseignez « loopMaximum » (par exemple 10) sur la boucle, ou retirez-la."))
    for loop in process.iter(BPMN + "multiInstanceLoopCharacteristics"):
        if loop.find(BPMN + "loopCardinality") is None and loop.find(BPMN + "loopDataInputRef") is None:
            found.append(problem("boucle-bornee", loop.getparent(), "la tâche multi-instance n'a ni nombre "
                                 "d'instances ni collection à parcourir : rien ne borne ses répétitions",
                                 "Renseignez « loopCardinality » ou la collection d'entrée (« loopDataInputRef »)."))
    return found


def _waits(element) -> bool:
    if element.tag in WAIT_STATES:
        return True
    if element.tag in (BPMN + "intermediateCatchEvent", BPMN + "boundaryEvent"):
        return any(element.find(tag) is not None for tag in CATCH_WAITS)
    return False


def _cycles(nodes: dict, edges: dict) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan, iterative), each as its node ids in document order."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    order = list(nodes)
    for root in order:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in nodes:
                    continue
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component, key=order.index))
    return found


def cycle_problems(container) -> list[Problem]:
    """Cycles of the process (and of each sub-process) that pass by no wait state."""
    nodes = {el.get("id"): el for el in container if el.tag in FLOW_TAGS}
    edges: dict = {}
    for flow in container.iterfind(BPMN + "sequenceFlow"):
        edges.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    found = []
    for cycle in _cycles(nodes, edges):
        if any(_waits(nodes[i]) for i in cycle):
            continue
        others = ", ".join(label(nodes[i]) for i in cycle[1:])
        found.append(problem("boucle-sans-attente", nodes[cycle[0]], "cette boucle ne passe par aucune attente (tâche "
                             "utilisateur, minuteur ou message)" + (f" ; elle passe aussi par {others}" if others else "")
                             + " : le moteur y tournerait sans fin",
                             "Faites passer la boucle par une tâche utilisateur ou un événement d'attente, ou "
                             "supprimez le flux qui revient en arrière."))
    for sub in container:
        if sub.tag == BPMN + "subProcess":
            found += cycle_problems(sub)
    return found
