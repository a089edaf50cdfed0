"""BPMN expressions and scripts are data, never code (DESIGN.md decision 8).

Gateway conditions, service-task parameters, timer expressions and the few scripts are text written
by process owners. That text never reaches Python's `eval`, `exec` or `compile` (other than the
parse-only `ast.parse`): it is parsed into a syntax tree, checked against a small grammar, then
interpreted node by node by simpleeval, wrapped with our allow-lists and bounds:

- literals (text, numbers, booleans, None, list/tuple/dict/set displays), names of task data,
  subscripts and slices, comparisons (`is` only with None/True/False), `and`/`or`/`not`,
  `+ - * / // % **` with bounds, `a if c else b`;
- calls of the functions in FUNCTIONS by name, and of the methods in METHODS on plain data
  (`texte.lower()`, `d.get("k")`); no other attribute access, no keyword arguments;
- nothing else: no comprehensions, generators, lambdas, `:=`, f-strings, `*`/`**` unpacking,
  and `%` only between numbers (no text formatting);
- values seen and built are plain data (str, int, float, bool, None, list, tuple, dict, set),
  bounded in size; a script is a sequence of `name = expression` or `name["key"] = expression`.

A refusal is ExpressionRefused with a French message naming the construct. `check` runs at
deployment the same grammar as evaluation, and evaluates the parts that do not depend on task data
(`10**10**7`), so a process owner learns of a refusal before any dossier runs into it.
"""
from __future__ import annotations

import ast
import functools

import simpleeval
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.expression_library import (CONTAINERS, SCALARS, TYPE_LABELS, FUNCTIONS, MAX_DEPTH, MAX_INT_BITS,
                                MAX_ITEMS, MAX_NESTING, MAX_NODES, MAX_SOURCE, MAX_STORED, MAX_STRING,
                                MAX_WEIGHT, METHOD_NAMES, METHODS, OPERATORS, ExpressionRefused, refuse)


# --------------------------------------------------------------------------------------------
# The grammar, checked on the syntax tree before anything runs.

_LABELS = {
    ast.Lambda: "lambda", ast.ListComp: "compréhension de liste", ast.SetComp: "compréhension d'ensemble",
    ast.DictComp: "compréhension de dictionnaire", ast.GeneratorExp: "générateur",
    ast.NamedExpr: "affectation « := »", ast.JoinedStr: "f-string", ast.FormattedValue: "f-string",
    ast.Starred: "dépaquetage « * »", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
    ast.Import: "import", ast.ImportFrom: "import", ast.FunctionDef: "définition de fonction",
    ast.AsyncFunctionDef: "définition de fonction", ast.ClassDef: "définition de classe",
    ast.For: "boucle for", ast.AsyncFor: "boucle for", ast.While: "boucle while", ast.If: "instruction if",
    ast.With: "with", ast.AsyncWith: "with", ast.Try: "try", ast.Raise: "raise", ast.Delete: "del",
    ast.Global: "global", ast.Nonlocal: "nonlocal", ast.AugAssign: "affectation augmentée (« += »…)",
    ast.AnnAssign: "affectation annotée", ast.Expr: "expression sans affectation", ast.Return: "return",
    ast.Pass: "pass", ast.Assert: "assert", ast.Break: "break", ast.Continue: "continue",
    ast.Match: "match", ast.BitAnd: "opérateur « & »", ast.BitOr: "opérateur « | »",
    ast.BitXor: "opérateur « ^ »", ast.LShift: "opérateur « << »", ast.RShift: "opérateur « >> »",
    ast.Invert: "opérateur « ~ »", ast.MatMult: "opérateur « @ »",
}
_EXPRESSION_NODES = (ast.Constant, ast.Name, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Subscript,
                     ast.Slice, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call)
_OPERATOR_NODES = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)


def _label(node) -> str:
    return _LABELS.get(type(node), type(node).__name__)


def _check_name(name: str) -> None:
    if name.startswith("_"):
        refuse(f"nom interdit « {name} » (les noms commençant par « _ » sont réservés)")


def _check_call(node: ast.Call) -> list:
    """Check a call and return the sub-expressions to walk."""
    if node.keywords:
        refuse("argument nommé dans un appel")
    if isinstance(node.func, ast.Name):
        if node.func.id not in FUNCTIONS:
            refuse(f"fonction non autorisée « {node.func.id} »")
        return list(node.args)
    if isinstance(node.func, ast.Attribute):
        if node.func.attr not in METHOD_NAMES:
            refuse(f"méthode non autorisée « .{node.func.attr} »")
        return [node.func.value, *node.args]
    refuse("appel d'autre chose qu'une fonction autorisée")


def _check_expression(node) -> list:
    """Check one expression node against the grammar and return its sub-expressions."""
    if isinstance(node, ast.Call):
        return _check_call(node)
    if isinstance(node, ast.Attribute):
        refuse(f"accès à l'attribut « .{node.attr} »")
    if not isinstance(node, _EXPRESSION_NODES):
        refuse(f"construction interdite : {_label(node)}")
    if isinstance(node, ast.Constant) and type(node.value) not in SCALARS:
        refuse(f"constante non autorisée : {node.value!r:.40}")
    if isinstance(node, ast.Name):
        _check_name(node.id)
    if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        refuse("dépaquetage « ** »")
    if isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) not in OPERATORS:
        refuse(f"construction interdite : {_label(node.op)}")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
            and type(node.left.value) is str:
        refuse("« % » n'est permis qu'entre nombres (pas de formatage de texte)")
    if isinstance(node, ast.Compare):
        for operation, right in zip(node.ops, node.comparators):
            if isinstance(operation, (ast.Is, ast.IsNot)) and not (
                    isinstance(right, ast.Constant) and right.value in (None, True, False)
                    and type(right.value) in (bool, type(None))):
                refuse("« is » ne se compare qu'à None, True ou False")
    return [child for child in ast.iter_child_nodes(node) if not isinstance(child, _OPERATOR_NODES)]


def _check_statement(node) -> list:
    """A script statement is `name = expression` or `name["key"] = expression`."""
    if not isinstance(node, ast.Assign):
        refuse(f"instruction non autorisée dans un script : {_label(node)} "
               "(seules les affectations « nom = expression » sont permises)")
    if len(node.targets) != 1:
        refuse("une seule cible par affectation")
    target = node.targets[0]
    if isinstance(target, ast.Name):
        _check_name(target.id)
    elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
          and isinstance(target.slice, ast.Constant) and type(target.slice.value) in (str, int)):
        _check_name(target.value.id)
    else:
        refuse("cible d'affectation non autorisée (seulement « nom » ou « nom[\"clé\"] »)")
    return [node.value]


@functools.lru_cache(maxsize=2048)
def parse(source: str, mode: str = "eval"):
    """The checked syntax tree of an expression (mode "eval") or a script ("exec")."""
    if not isinstance(source, str):
        refuse("le texte de l'expression est manquant")
    if len(source) > MAX_SOURCE:
        refuse(f"texte trop long ({len(source)} caractères, {MAX_SOURCE} au plus)")
    try:
        tree = ast.parse(source, mode=mode)  # parse only: compile(..., PyCF_ONLY_AST)
    except SyntaxError as exc:
        refuse(f"syntaxe invalide ({exc.msg})")
    except (RecursionError, MemoryError, ValueError):
        refuse("texte trop imbriqué ou illisible")
    roots = [tree.body] if mode == "eval" else []
    if mode == "exec":
        for statement in tree.body:
            roots.extend(_check_statement(statement))
    stack, count = [(node, 1) for node in roots], len(tree.body) if mode == "exec" else 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            refuse(f"expression trop longue (plus de {MAX_NODES} éléments)")
        if depth > MAX_DEPTH:
            refuse(f"expression trop imbriquée (plus de {MAX_DEPTH} niveaux)")
        stack.extend((child, depth + 1) for child in _check_expression(node))
    return tree


def check(source: str, mode: str = "eval") -> None:
    """Refuse, before anything runs, what evaluation would refuse whatever the task data."""
    tree = parse(source.strip() if mode == "eval" and isinstance(source, str) else source, mode)
    for root in [tree.body] if mode == "eval" else [statement.value for statement in tree.body]:
        _fold(root)


def _fold(node) -> None:
    """Evaluate, once each, the largest parts that use no task data (`10**10**7`); refusals propagate."""
    if isinstance(node, ast.Slice) or _uses_data(node):
        for child in _check_expression(node):
            _fold(child)
        return
    try:
        Interpreter(()).run(node)
    except ExpressionRefused:
        raise
    except Exception:  # noqa: BLE001 - 1/0 and the like are reported when the dossier runs
        pass


def _uses_data(node) -> bool:
    """Whether an expression looks up a name of task data (function names are not data)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name):
            return True
        stack.extend(_check_expression(current))
    return False


# --------------------------------------------------------------------------------------------
# The interpreter.

# What SimpleEval.__init__ would refuse for every interpreter, checked once (the functions never change).
if any(function in simpleeval.DISALLOW_FUNCTIONS for function in FUNCTIONS.values()):
    raise simpleeval.FeatureNotAvailable("a function of the expression library is forbidden by simpleeval")


class Interpreter(simpleeval.SimpleEval):
    """simpleeval restricted to our grammar, with bounded plain values; one per evaluation."""

    def __init__(self, scopes):
        # SimpleEval.__init__ sets these attributes, builds a node table replaced just below and checks the
        # functions against its forbidden list under a warnings filter: one interpreter is made per gateway
        # condition and per script, so its own set-up is done here, and the check once, at import.
        self.operators, self.functions, self.names, self.allowed_attrs = OPERATORS, FUNCTIONS, {}, None
        self.ATTR_INDEX_FALLBACK = simpleeval.ATTR_INDEX_FALLBACK
        self.scopes = scopes  # mappings of names looked up in order (none at deployment)
        self.sizes: dict = {}  # id -> (value, weight, height) of the containers measured
        self.nodes = {
            ast.Constant: self._eval_constant, ast.Name: self._eval_name, ast.List: self._eval_list,
            ast.Tuple: self._eval_tuple, ast.Set: self._eval_set, ast.Dict: self._eval_dict,
            ast.Subscript: self._eval_subscript, ast.BinOp: self._eval_binop,
            ast.UnaryOp: self._eval_unaryop, ast.BoolOp: self._eval_boolop,
            ast.Compare: self._eval_compare, ast.IfExp: self._eval_ifexp, ast.Call: self._eval_call,
        }

    def run(self, node):
        """The value of one checked expression node."""
        return self._eval(node)

    def _eval(self, node):
        handler = self.nodes.get(type(node))
        if handler is None:
            refuse(f"construction interdite : {_label(node)}")
        value = handler(node)
        if type(node) not in (ast.Name, ast.Subscript, ast.IfExp, ast.BoolOp):  # those pass values on
            self.admit(value)
        return value

    def admit(self, value) -> None:
        """Refuse a value built by an expression unless it is plain data within the bounds."""
        kind = type(value)
        if kind is str and len(value) > MAX_STRING:
            refuse(f"texte trop long (plus de {MAX_STRING} caractères)")
        if kind is int and value.bit_length() > MAX_INT_BITS:
            refuse("nombre trop grand")
        if kind in CONTAINERS and len(value) > MAX_ITEMS:
            refuse(f"liste trop longue (plus de {MAX_ITEMS} éléments)")
        if self.measure(value)[0] > MAX_WEIGHT:
            refuse("valeur trop grande")

    def measure(self, value, level: int = 0) -> tuple[int, int]:
        """(weight, height) of a plain value; anything else is refused."""
        kind = type(value)
        if kind is str:
            return len(value) + 1, 0
        if kind is int:
            return 1 + value.bit_length() // 64, 0
        if kind in SCALARS:
            return 1, 0
        if kind not in CONTAINERS:
            refuse(f"valeur qui n'est pas une donnée simple ({kind.__name__})")
        known = self.sizes.get(id(value))
        if known is not None:
            return known[1], known[2]
        if level > MAX_NESTING:
            refuse(f"données trop imbriquées (plus de {MAX_NESTING} niveaux)")
        weight, height = 1 + len(value), 0
        for part in ([*value.keys(), *value.values()] if kind is dict else value):
            part_weight, part_height = self.measure(part, level + 1)
            weight, height = weight + part_weight, max(height, part_height)
        if height + 1 > MAX_NESTING:
            refuse(f"données trop imbriquées (plus de {MAX_NESTING} niveaux)")
        self.sizes[id(value)] = (value, weight, height + 1)  # the value is kept so its id stays its own
        return weight, height + 1

    def _eval_name(self, node):
        for scope in self.scopes:
            if node.id in scope:
                value = scope[node.id]
                self.measure(value)  # task data reaches expressions only as plain data
                return value
        raise NameError(f"« {node.id} » n'est pas défini dans les données du dossier", name=node.id)

    def _eval_list(self, node):
        return [self._eval(item) for item in node.elts]

    def _eval_tuple(self, node):
        return tuple(self._eval(item) for item in node.elts)

    def _eval_set(self, node):
        return {self._eval(item) for item in node.elts}

    def _eval_dict(self, node):
        return {self._eval(key): self._eval(value) for key, value in zip(node.keys, node.values)}

    def _eval_subscript(self, node):
        container = self._eval(node.value)
        if type(container) not in (str, list, tuple, dict):
            refuse(f"indice sur une valeur de type {TYPE_LABELS.get(type(container), '?')}")
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            return container[slice(*(None if part is None else self._eval(part) for part in parts))]
        return container[self._eval(node.slice)]

    def _eval_call(self, node):
        if isinstance(node.func, ast.Attribute):
            target = self._eval(node.func.value)
            method = METHODS.get(type(target), {}).get(node.func.attr)
            if method is None:
                kind = TYPE_LABELS.get(type(target), "?")
                refuse(f"méthode « .{node.func.attr} » non autorisée sur une valeur de type {kind}")
            return method(target, *(self._eval(arg) for arg in node.args))
        function = FUNCTIONS.get(node.func.id) if isinstance(node.func, ast.Name) else None
        if function is None or node.keywords:
            refuse("appel non autorisé")
        return function(*(self._eval(arg) for arg in node.args))


# --------------------------------------------------------------------------------------------
# Scripts and the SpiffWorkflow environment.

def run_script(tree: ast.Module, context: dict, external_context: dict | None = None) -> dict:
    """Run a checked script's assignments; return the names assigned with their plain values."""
    assigned: dict = {}
    interpreter = Interpreter((assigned, context, external_context or {}))
    for statement in tree.body:
        value = interpreter.run(statement.value)
        target = statement.targets[0]
        if isinstance(target, ast.Name):
            assigned[target.id] = value
            continue
        container, key = interpreter.run(target.value), target.slice.value
        if type(container) is dict and type(key) is str:
            updated = dict(container)  # a new value: nothing measured before is changed in place
        elif type(container) is list and type(key) is int:
            updated = list(container)
        else:
            refuse("« nom[clé] = … » ne s'applique qu'à un dictionnaire (clé texte) ou à une liste (indice entier)")
        updated[key] = value
        interpreter.admit(updated)
        assigned[target.value.id] = updated
    spent = [0]
    return {name: _storable(value, spent) for name, value in assigned.items()}


def _storable(value, spent: list, level: int = 0):
    """A fresh JSON-like copy of a value a script stores in the task data, within MAX_STORED."""
    kind = type(value)
    spent[0] += 1 + (len(value) if kind is str else 0)
    if spent[0] > MAX_STORED:
        refuse("valeur trop grande pour être enregistrée dans les données du dossier")
    if kind in SCALARS:
        return value
    if level > MAX_NESTING:
        refuse(f"données trop imbriquées (plus de {MAX_NESTING} niveaux)")
    if kind in (list, tuple):
        return [_storable(item, spent, level + 1) for item in value]
    if kind is dict and all(type(key) is str for key in value):
        return {key: _storable(item, spent, level + 1) for key, item in value.items()}
    refuse(f"un {TYPE_LABELS.get(kind, kind.__name__)} (ou un dictionnaire à clés non textuelles) "
           "ne peut pas être enregistré dans les données du dossier")


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow's script environment, served by the interpreter above: no eval, no exec."""

    def __init__(self):
        super().__init__({})

    def evaluate(self, expression, context, external_context=None):
        """The value of an expression over the task data; the task data is never modified."""
        tree = parse(expression.strip() if isinstance(expression, str) else expression, "eval")
        return Interpreter((context, external_context or {})).run(tree.body)

    def execute(self, script, context, external_context=None):
        """Run a script's assignments; only the plain values it assigns enter the task data."""
        context.update(run_script(parse(script, "exec"), context, external_context))
        return True

    def call_service(self, context, operation_name=None, operation_params=None, **kwargs):
        """Service calls go through the engine, which records and dispatches them."""
        raise NotImplementedError("service calls are dispatched by the engine's script engine")
