"""Names that conditions, scripts and parameters read must be defined: by a form, a service result,
a script, or the data a dossier starts with."""
from __future__ import annotations

import ast
import difflib

from engine import protected
from engine.expression_library import FUNCTIONS
from engine.expressions import ExpressionRefused, parse
from validation.elements import properties
from validation.problems import BPMN, SPIFF, Problem, problem

# What workflow.commands.start_dossier puts in the start data (a test keeps the two in step).
START_DATA = frozenset(protected.START_DATA)
_COMBINERS = ("allOf", "anyOf", "oneOf", "then", "else")
_SCRIPTS = (BPMN + "script", SPIFF + "preScript", SPIFF + "postScript")


def form_fields(schema) -> set:
    """Top-level field names of a form, including those of its allOf/anyOf/oneOf/then/else branches."""
    if not isinstance(schema, dict):
        return set()
    names = set(schema.get("properties") or {})
    for key in _COMBINERS:
        branches = schema.get(key) or []
        for branch in branches if isinstance(branches, list) else [branches]:
            names |= form_fields(branch)
    return names


def _tree(source: str, mode: str):
    try:
        return parse(source.strip() if mode == "eval" else source, mode)
    except ExpressionRefused:
        return None  # reported with the refused expressions


def _assigned(tree) -> set:
    targets = [s.targets[0] for s in tree.body]
    return {t.id if isinstance(t, ast.Name) else t.value.id for t in targets}


def _read(tree) -> set:
    """Names an expression or script reads (function names aside)."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    roots = [tree] if not isinstance(tree, ast.Module) else [s.value for s in tree.body]
    return {n.id for root in roots for n in ast.walk(root) if isinstance(n, ast.Name)
            and not (id(n) in called and n.id in FUNCTIONS)}


def defined_names(process, forms: dict) -> set:
    """Every name the task data can hold: start data, form fields, service results, script assignments."""
    names = set(START_DATA)
    for task in process.iter(BPMN + "userTask"):
        names |= form_fields(forms.get(properties(task).get("formJsonSchemaFilename")))
    names |= {op.get("resultVariable") for op in process.iter(SPIFF + "serviceTaskOperator") if op.get("resultVariable")}
    for element in process.iter(*_SCRIPTS):
        tree = _tree(element.text or "", "exec")
        names |= _assigned(tree) if tree is not None else set()
    return names


def _readers(process):
    """(element, source, mode) of every condition, script and service parameter."""
    yield from ((el, el.text or "", "eval") for el in process.iter(BPMN + "conditionExpression"))
    yield from ((el, el.text or "", "exec") for el in process.iter(*_SCRIPTS))
    yield from ((el, el.get("value") or "", "eval") for el in process.iter(SPIFF + "parameter"))


def variable_problems(process, defined: set) -> list[Problem]:
    """Conditions, scripts and parameters reading a name nothing defines."""
    found = []
    for element, source, mode in _readers(process):
        tree = _tree(source, mode) if source.strip() else None
        for name in sorted(_read(tree) - defined) if tree is not None else []:
            close = difflib.get_close_matches(name, sorted(defined), n=1)
            found.append(problem("variable", element, f"« {name} » n'est défini par aucun formulaire, résultat de "
                                 "service, script ni donnée de départ du dossier",
                                 (f"Vouliez-vous dire « {close[0]} » ? " if close else "")
                                 + "Corrigez le nom, ou ajoutez le champ au formulaire qui le fournit."))
    return found
