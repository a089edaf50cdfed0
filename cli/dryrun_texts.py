"""The dry run's words: SpiffWorkflow's English errors and the scenarios' failures told in French, naming each
element by its label (never a Python list, never a server path), and the steps of a path with their roles.
"""
from __future__ import annotations

import re

from referentiel import ROLES

# SpiffWorkflow's messages we know, with the element id they name (group "id" when they name one).
_NO_CONDITION = re.compile(r"No conditions satisfied (?:for (?P<id>[\w.-]*[\w-])|on gateway)")
_EXPRESSION = re.compile(r"Error evaluating expression '(?P<expr>.*)'", re.S)
_PYTHON_LIST = re.compile(r"\[('[^']*'(?:, '[^']*')*)?\]")


def named(ident: str, names: dict) -> str:
    """« Label » (id) of an element, or « id » when it has no label in this version."""
    name = names.get(ident)
    return f"« {name} » ({ident})" if name and name != ident else f"« {ident} »"


def _unlist(text: str, names: dict) -> str:
    """Python lists of element ids, as the engine prints them, become labelled French enumerations."""
    def spell(match):
        inner = match.group(1) or ""
        items = [item.strip("'") for item in inner.split(", ") if item]
        return ", ".join(named(item, names) for item in items) if items else "aucune"
    return _PYTHON_LIST.sub(spell, text)


def engine_error(text: str, names: dict, element: str | None = None) -> str:
    """A refusal of the engine in French: the known SpiffWorkflow errors translated, the element named."""
    found = _NO_CONDITION.search(text)
    if found:
        ident = found.group("id") or element or ""
        return (f"Aucune condition n'est remplie à la passerelle {named(ident, names)} et elle n'a pas de flux "
                "par défaut")
    text = text.removeprefix("Le processus n'a pas pu avancer : ")
    found = _EXPRESSION.search(text)
    if found:
        where = f" à {named(element, names)}" if element else ""
        return f"L'expression « {found.group('expr')} » n'a pas pu être évaluée{where}"
    if text.isascii() and element:  # an English message we do not know: say where, keep it as detail
        return f"Le processus n'a pas pu avancer à {named(element, names)} ({_unlist(text, names)})"
    return _unlist(text, names)


def over_steps(scenario: str, steps: int, element: str, names: dict) -> str:
    """The scenario ran out of engine steps, looping on an element."""
    return f"Le scénario {scenario} dépasse son budget ({steps} étapes) : boucle sur {named(element, names)}"


def over_time(scenario: str, seconds: float, element: str | None, names: dict) -> str:
    """The scenario ran out of time and its process was stopped."""
    where = f" : arrêté alors qu'il tournait sur {named(element, names)}" if element else " et a été arrêté"
    return f"Le scénario {scenario} dépasse son budget ({seconds:g} s){where}"


def not_open(expected: str, waiting: list, names: dict) -> str:
    """The scenario's next task is not open: what the dossier waits on instead."""
    text = f"pas de tâche {named(expected, names)} ouverte"
    return text + (f" ; le dossier est en attente de {', '.join(named(w, names) for w in waiting)}" if waiting
                   else " ; le dossier n'attend plus rien")


def stuck(scenario: str, last: str | None, names: dict) -> str:
    """The dossier is neither finished nor waiting on anything: it is stuck."""
    after = f" après {named(last, names)}" if last else ""
    return f"Le scénario {scenario} reste bloqué{after} : le dossier n'est pas terminé et n'attend ni tâche ni minuteur"


def not_run(reason: str) -> str:
    """A scenario that could not be run at all."""
    return f"non exécuté : {reason}"


def steps(path: list, roles: list, names: dict) -> list[dict]:
    """The steps of a path as the report shows them: id, label and, for human tasks, the role that works them."""
    return [{"id": ident, "nom": names.get(ident) or ident, "role": role, "role_nom": ROLES.get(role, role)}
            for ident, role in zip(path, roles)]
