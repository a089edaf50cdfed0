"""Data the BPMN cannot touch (engine/protected.py): no script, pre/post script, expression, service result
or form field of a process version may write the start data or the fields that decide who reads a dossier.

A write is found on the syntax tree of the text as Python would read it, before the interpreter's
grammar (which refuses most of these forms anyway, with a message that does not say why it matters):
assignment, augmented or annotated assignment, unpacking, `del`, an item or attribute assignment on
the protected value (`declarant["email"] = ...`, `declarant.email = ...`), `:=`, and a call of a
method that would change it in place (`declarant.update(...)`).
"""
from __future__ import annotations

import ast

from engine import protected
from engine.expression_library import METHOD_NAMES
from validation.elements import properties
from validation.problems import BPMN, SPIFF, Problem, problem
from validation.variables import form_fields

_SCRIPTS = {BPMN + "script": "le script", SPIFF + "preScript": "le pré-script", SPIFF + "postScript": "le post-script"}
# Every element whose text (or, for a parameter, value) SpiffWorkflow evaluates (engine/parsing.py lists them too).
_EXPRESSIONS = ("{*}conditionExpression", "{*}timeDuration", "{*}timeDate", "{*}timeCycle", "{*}loopCardinality",
                "{*}loopCondition", "{*}completionCondition", "{*}condition", "{*}formalExpression",
                "{*}messagePayload", "{*}expression", SPIFF + "parameter")
_HINT = ("Retirez cette écriture : le processus peut lire ces données, jamais les modifier "
         "(utilisez un autre nom pour une valeur calculée).")


def _root(node) -> str | None:
    """The name at the root of `a`, `a["k"]`, `a.b[0]`..., or None."""
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def written_names(tree) -> set[str]:
    """Every name a syntax tree writes, deletes or changes in place (item, attribute, mutating method)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)) and not isinstance(node, (ast.Tuple, ast.List)):
            found.add(_root(node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr not in METHOD_NAMES:
            found.add(_root(node.func.value))
        elif isinstance(node, ast.alias):
            found.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
    found.discard(None)
    return found


def _parsed(source: str, mode: str):
    try:
        return ast.parse(source if mode == "exec" else source.strip(), mode=mode)  # parse only, never run
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # reported by the expression rule


def _write_problems(process) -> list[Problem]:
    found = []
    sources = [(el, el.text or "", "exec", _SCRIPTS[el.tag]) for el in process.iter(*_SCRIPTS)]
    sources += [(el, (el.get("value") if el.tag == SPIFF + "parameter" else el.text) or "", "eval", "l'expression")
                for el in process.iter(*_EXPRESSIONS)]
    for element, source, mode, what in sources:
        tree = _parsed(source, mode) if source.strip() else None
        for name in sorted(written_names(tree) & protected.PROTECTED) if tree is not None else []:
            found.append(problem("donnee_protegee", element, f"{what} écrit {protected.describe(name)}, une donnée "
                                 "fixée par l'application que le processus ne peut pas modifier", _HINT))
    return found


def _result_problems(process) -> list[Problem]:
    found = []
    for operator in process.iter(SPIFF + "serviceTaskOperator"):
        name = operator.get("resultVariable")
        if name in protected.PROTECTED:
            found.append(problem("donnee_protegee", operator, f"la tâche de service enregistre son résultat sous "
                                 f"{protected.describe(name)}, une donnée fixée par l'application que le processus "
                                 "ne peut pas modifier", "Choisissez un autre nom de résultat (resultVariable)."))
    return found


def _form_problems(process, forms: dict) -> list[Problem]:
    """A form field named like the start data would overwrite it when the task is completed."""
    found = []
    for task in process.iter(BPMN + "userTask"):
        name = properties(task).get("formJsonSchemaFilename")
        for field in sorted(form_fields(forms.get(name)) & set(protected.START_DATA)):
            found.append(problem("donnee_protegee", task, f"le formulaire « {name} » a un champ "
                                 f"{protected.describe(field)}, une donnée fixée par l'application au début du "
                                 "dossier que le processus ne peut pas modifier", "Renommez ce champ du formulaire."))
    return found


_DATA_ELEMENTS = (BPMN + "dataObject", BPMN + "dataStore", BPMN + "dataInput", BPMN + "dataOutput")


def _data_object_problems(process) -> list[Problem]:
    """A data object (or store, input, output) reads and writes the task data under its id: a data output removes
    the value from the task data, a data input puts the object's value there."""
    found = []
    for element in process.iter(*_DATA_ELEMENTS):
        if element.get("id") in protected.PROTECTED:
            found.append(problem("donnee_protegee", element, f"l'objet de données « {element.get('id')} » lirait et "
                                 f"écrirait {protected.describe(element.get('id'))}, une donnée fixée par "
                                 "l'application que le processus ne peut pas modifier",
                                 "Donnez un autre identifiant à l'objet de données."))
    return found


def protected_data_problems(process, forms: dict) -> list[Problem]:
    """Every write of data the application sets, by a script, an expression, a service result, a form or a data
    object."""
    return (_write_problems(process) + _result_problems(process) + _form_problems(process, forms)
            + _data_object_problems(process))
