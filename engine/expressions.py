"""Restricted evaluation of BPMN expressions and scripts (DESIGN.md decision 8).

Gateway conditions, service-task parameters, timer expressions and script tasks are Python
source written by process owners. They run here, not through SpiffWorkflow's default
`eval`/`exec`: the source is parsed first and refused if it imports, reaches for dunder
attributes or names, or calls anything outside a small allow-list; it then runs with a
builtins table that holds only harmless functions.
"""
from __future__ import annotations

import ast
import copy
import functools
import json
from datetime import date, datetime, timedelta, timezone

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

SAFE_BUILTINS = {
    "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "enumerate": enumerate,
    "float": float, "int": int, "isinstance": isinstance, "len": len, "list": list, "max": max,
    "min": min, "range": range, "round": round, "set": set, "sorted": sorted, "str": str,
    "sum": sum, "tuple": tuple, "zip": zip, "True": True, "False": False, "None": None,
}

HELPERS = {
    "date": date, "datetime": datetime, "timedelta": timedelta, "timezone": timezone,
    "json_dumps": functools.partial(json.dumps, ensure_ascii=False, sort_keys=True),
}

_FORBIDDEN_NODES = (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.AsyncFunctionDef,
                    ast.Await, ast.AsyncFor, ast.AsyncWith, ast.Yield, ast.YieldFrom, ast.ClassDef,
                    ast.Lambda, ast.FunctionDef, ast.Delete, ast.With, ast.Try, ast.Raise)


class ExpressionRefused(ValueError):
    """A BPMN expression uses something the restricted environment does not allow."""


@functools.lru_cache(maxsize=2048)
def _compile(source: str, mode: str):
    """Parse, check and compile once per distinct source text."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ExpressionRefused(f"Expression invalide : {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, _FORBIDDEN_NODES):
            raise ExpressionRefused(f"Construction interdite dans une expression : {type(node).__name__}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionRefused(f"Attribut interdit : {node.attr}")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionRefused(f"Nom interdit : {node.id}")
    return compile(tree, "<bpmn>", mode)


def check(source: str, mode: str = "eval") -> None:
    """Raise ExpressionRefused when the source would not be allowed to run."""
    _compile(source, mode)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that only evaluates checked code with safe builtins."""

    def __init__(self, service_caller=None):
        super().__init__(dict(HELPERS))
        self.service_caller = service_caller

    def _globals(self, context, external_context):
        scope = {"__builtins__": SAFE_BUILTINS}
        scope.update(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        return scope

    def evaluate(self, expression, context, external_context=None):
        """Evaluate an expression against task data; task data is never modified."""
        code = _compile(expression.strip(), "eval")
        return eval(code, self._globals(context, external_context))  # noqa: S307 - checked above

    def execute(self, script, context, external_context=None):
        """Run a script task; only plain data it assigns is kept in the task data."""
        code = _compile(script, "exec")
        scope = self._globals(copy.deepcopy(context), external_context)
        exec(code, scope)  # noqa: S102 - checked above
        for key, value in scope.items():
            if key == "__builtins__" or key in self.globals or callable(value):
                continue
            if external_context and key in external_context:
                continue
            context[key] = value
        return True

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        """Service calls go through the engine, which records and dispatches them."""
        raise NotImplementedError("service calls are dispatched by the engine's script engine")
