"""What BPMN expressions may use: bounds, plain functions, methods on plain data, bounded operators.

The interpreter in expressions.py offers nothing else to the text written by process owners. Each
function returns plain data; none reaches an object, a module or Python's evaluator.
"""
from __future__ import annotations

import ast
import operator as op

MAX_SOURCE = 2_000  # characters of one expression or script
MAX_NODES = 400  # syntax-tree nodes of one expression or script
MAX_DEPTH = 32  # nesting of the syntax tree
MAX_STRING = 100_000  # characters of a text built by an expression
MAX_ITEMS = 10_000  # items of a list, tuple, set or dict built by an expression
MAX_WEIGHT = 200_000  # size of a value built, shared parts counted each time they appear
MAX_NESTING = 32  # nesting of lists and dicts in a value
MAX_INT_BITS = 4_096  # about 1,230 decimal digits
MAX_STORED = 1_000_000  # size of a value a script stores in the task data


class ExpressionRefused(ValueError):
    """A BPMN expression or script uses something the interpreter does not allow (French message)."""


def refuse(what: str):
    """Raise ExpressionRefused naming what was refused, in French."""
    raise ExpressionRefused(f"Expression refusée : {what}")


# --------------------------------------------------------------------------------------------
# Plain functions and methods offered to expressions.

def _round(number, ndigits=None):
    if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > 100):
        refuse("round() accepte au plus 100 décimales")
    return round(number) if ndigits is None else round(number, ndigits)


def _sum(values, start=0):
    items = list(values) + [start]
    if any(type(v) not in (int, float, bool) for v in items):
        refuse("sum() n'additionne que des nombres")
    return sum(values, start)


FUNCTIONS = {
    "len": len, "abs": abs, "bool": bool, "min": min, "max": max, "round": _round,
    "sorted": sorted, "sum": _sum, "any": any, "all": all, "str": str, "int": int,
    "float": float, "list": list,
}


def _str_methods(*names):
    return {name: getattr(str, name) for name in names}


METHODS = {
    str: _str_methods("lower", "upper", "casefold", "capitalize", "title", "strip", "lstrip",
                      "rstrip", "startswith", "endswith", "removeprefix", "removesuffix", "count",
                      "find", "split", "isdigit", "isalpha", "isalnum", "isspace", "isdecimal"),
    dict: {"get": dict.get, "keys": lambda d: list(d), "values": lambda d: list(d.values()),
           "items": lambda d: list(d.items())},
    list: {"count": list.count, "index": list.index},
    tuple: {"count": tuple.count, "index": tuple.index},
    set: {"union": set.union, "intersection": set.intersection, "difference": set.difference,
          "issubset": set.issubset, "issuperset": set.issuperset, "isdisjoint": set.isdisjoint},
}
METHOD_NAMES = frozenset(name for table in METHODS.values() for name in table)

TYPE_LABELS = {str: "texte", int: "entier", float: "nombre", bool: "booléen", type(None): "None",
                list: "liste", tuple: "tuple", dict: "dictionnaire", set: "ensemble"}
SCALARS = (str, int, float, bool, type(None))
CONTAINERS = (list, tuple, dict, set)


# --------------------------------------------------------------------------------------------
# Bounded operators.

def _is_number(value) -> bool:
    return type(value) in (int, float, bool)


def _limit(value):
    return MAX_STRING if type(value) is str else MAX_ITEMS


def _add(a, b):
    if type(a) in (str, list, tuple) and type(b) is type(a) and len(a) + len(b) > _limit(a):
        refuse("texte ou liste trop long")
    return a + b


def _mult(a, b):
    if type(b) in (str, list, tuple):
        a, b = b, a
    if type(a) in (str, list, tuple) and type(b) in (int, bool):
        if len(a) * max(b, 0) > _limit(a):
            refuse("texte ou liste trop long")
    elif type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        refuse("nombre trop grand")
    return a * b


def _pow(a, b):
    if not (_is_number(a) and _is_number(b)):
        refuse("« ** » n'est permis qu'entre nombres")
    # (bits - 1) * b is a lower bound of the result's size: what passes is at most twice the
    # bound, cheap to compute, and then refused by the interpreter if it is still too large.
    if type(b) is int and b > 0 and type(a) is int and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
        refuse("nombre trop grand")
    try:
        return a ** b
    except OverflowError:
        refuse("nombre trop grand")


def _mod(a, b):
    if not (_is_number(a) and _is_number(b)):
        refuse("« % » n'est permis qu'entre nombres (pas de formatage de texte)")
    return a % b


def _is(a, b):
    return a is b


def _is_not(a, b):
    return a is not b


OPERATORS = {
    ast.Add: _add, ast.Sub: op.sub, ast.Mult: _mult, ast.Div: op.truediv, ast.FloorDiv: op.floordiv,
    ast.Mod: _mod, ast.Pow: _pow, ast.USub: op.neg, ast.UAdd: op.pos, ast.Not: op.not_,
    ast.Eq: op.eq, ast.NotEq: op.ne, ast.Lt: op.lt, ast.LtE: op.le, ast.Gt: op.gt, ast.GtE: op.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b, ast.Is: _is, ast.IsNot: _is_not,
}
