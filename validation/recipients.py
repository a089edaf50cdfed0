"""Mail recipients are roles: a notifier task names who receives its message (« declarant », « ars »...),
and the mail layer finds the addresses (accounts, structures, the MAILBOXES setting), never the process.

The `destinataires` parameter of a `notifier` task is read on its syntax tree: a role written out, a list
of them, lists joined with `+`, or `a if condition else b` between such values. Anything else (an address,
an unknown role, a name of task data such as `declarant["email"]`, a call) is refused, naming the element.
"""
from __future__ import annotations

import ast

from mail.notifications import RECIPIENT_ROLES
from validation.problems import BPMN, SPIFF, Problem, problem

NOTIFIER = "notifier"
PARAMETER = "destinataires"
_HINT = ("Nommez des rôles écrits en toutes lettres, par exemple ['declarant'] ou ['ars', 'acss'] ; rôles possibles : "
         + ", ".join(sorted(RECIPIENT_ROLES)) + ". L'application trouve elle-même les adresses (comptes, structures, "
         "boîtes fonctionnelles).")


def _values(node, source: str) -> list[str]:
    """Why each part of a recipients expression is not a role (empty when every part is one)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if "@" in node.value:
            return [f"« {node.value[:80]} » est une adresse, pas un rôle"]
        return [] if node.value in RECIPIENT_ROLES else [f"« {node.value[:80]} » n'est pas un rôle destinataire connu"]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [reason for item in node.elts for reason in _values(item, source)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _values(node.left, source) + _values(node.right, source)
    if isinstance(node, ast.IfExp):
        return _values(node.body, source) + _values(node.orelse, source)
    text = (ast.get_source_segment(source, node) or "?")[:80]
    return [f"« {text} » n'est pas un rôle écrit en toutes lettres (une valeur calculée ou lue dans les données "
            "du dossier ne peut pas désigner un destinataire)"]


def recipient_problems(process) -> list[Problem]:
    """A notifier task whose recipients are not roles written out."""
    found = []
    for task in process.iter(BPMN + "serviceTask"):
        operator = task.find(f"{BPMN}extensionElements/{SPIFF}serviceTaskOperator")
        if operator is None or operator.get("id") != NOTIFIER:
            continue
        for parameter in operator.iter(SPIFF + "parameter"):
            if parameter.get("id") != PARAMETER:
                continue
            source = (parameter.get("value") or "").strip()
            try:
                tree = ast.parse(source, mode="eval")  # parse only, never run
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue  # reported by the expression rule
            for reason in _values(tree.body, source):
                found.append(problem("destinataire", task, f"destinataire refusé : {reason}", _HINT))
    return found
