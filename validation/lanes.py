"""Roles by lane identity: each lane declares its role as a spiffworkflow property, never by its label.

A lane carries `<spiffworkflow:property name="role" value="ars"/>` in its extension elements, so a
lane renamed in a modeller keeps its role. Versions deployed before this rule (no lane declares a role)
are read by their lane labels, as they were then; the validator refuses such files now.
"""
from __future__ import annotations

from referentiel import LANE_ROLE_CODES, LEGACY_LANE_LABELS
from validation.problems import BPMN, SPIFF, Problem, problem

ROLE_PROPERTY = "role"
HUMAN_TASKS = {BPMN + "userTask", BPMN + "manualTask"}


def declared_role(lane) -> str | None:
    """The role a lane declares in its extension elements, or None."""
    for prop in lane.iterfind(f"{BPMN}extensionElements/{SPIFF}properties/{SPIFF}property"):
        if prop.get("name") == ROLE_PROPERTY:
            return (prop.get("value") or "").strip()
    return None


def element_roles(root) -> dict[str, str]:
    """{element id: role code} for every element in a lane whose role is known."""
    lanes = list(root.iter(BPMN + "lane"))
    legacy = all(declared_role(lane) is None for lane in lanes)
    roles = {}
    for lane in lanes:
        role = LEGACY_LANE_LABELS.get(lane.get("name") or "") if legacy else declared_role(lane)
        if role in LANE_ROLE_CODES:
            roles.update({ref.text.strip(): role for ref in lane.iterfind(BPMN + "flowNodeRef") if ref.text})
    return roles


def lane_problems(process) -> list[Problem]:
    """Lanes without a known role, and human tasks outside any lane with a role."""
    codes = ", ".join(LANE_ROLE_CODES)
    hint = f"Ajoutez à la voie la propriété spiffworkflow « {ROLE_PROPERTY} » avec l'un des rôles : {codes}."
    found, laned = [], set()
    for lane in process.iter(BPMN + "lane"):
        role = declared_role(lane)
        if role is None:
            found.append(problem("role-voie", lane, "la voie ne déclare pas de rôle", hint))
        elif role not in LANE_ROLE_CODES:
            found.append(problem("role-voie", lane, f"le rôle « {role} » n'existe pas", hint))
        laned |= {ref.text.strip() for ref in lane.iterfind(BPMN + "flowNodeRef") if ref.text}
    for task in process:
        if task.tag in HUMAN_TASKS and task.get("id") not in laned:
            found.append(problem("role-voie", task, "la tâche n'est dans aucune voie : personne ne pourrait la "
                                 "traiter", "Placez-la dans la voie de l'acteur qui doit la traiter."))
    return found
