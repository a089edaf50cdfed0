"""Targets of user tasks (timekeeping/deadlines.py): a usable ISO 8601 duration, a known calendar, a known
priority marker; placed on user tasks only."""
from __future__ import annotations

from referentiel import TASK_PRIORITY_WEIGHTS
from timekeeping import deadlines
from validation.elements import properties
from validation.problems import BPMN, Problem, problem

PRIORITY_PROPERTY = "priorityMarker"
HINT = ("Renseignez « targetDuration » avec une durée ISO 8601 (PT4H, PT30M, P2D) et « targetCalendar » avec "
        "« working » (heures ouvrées de la Cellule ACSS) ou « calendar » (heures calendaires).")


def target_problems(process) -> list[Problem]:
    """Every user task's target properties must be usable; other elements must not carry them."""
    found = []
    names = (deadlines.DURATION_PROPERTY, deadlines.CALENDAR_PROPERTY, PRIORITY_PROPERTY)
    for element in process.iter():
        if not isinstance(element.tag, str) or element.tag == BPMN + "lane":
            continue
        props = properties(element)
        if not any(name in props for name in names):
            continue
        if element.tag != BPMN + "userTask":
            found.append(problem("echeance", element, "seule une tâche utilisateur porte une échéance ou une "
                                 "priorité", "Retirez ces propriétés de cet élément."))
            continue
        try:
            deadlines.parse_target(props.get(deadlines.DURATION_PROPERTY), props.get(deadlines.CALENDAR_PROPERTY))
        except deadlines.TargetError as exc:
            found.append(problem("echeance", element, f"échéance inutilisable : {exc}", HINT))
        marker = props.get(PRIORITY_PROPERTY)
        if marker is not None and marker not in TASK_PRIORITY_WEIGHTS:
            known = ", ".join(f"« {k} »" for k in TASK_PRIORITY_WEIGHTS)
            found.append(problem("echeance", element, f"le marqueur de priorité « {marker} » est inconnu",
                                 f"Valeurs possibles : {known}."))
    return found
