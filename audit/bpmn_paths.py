"""BPMN helpers for the diagram: element names, and the sequence flows a dossier took.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

from lxml import etree


BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


# --------------------------------------------------------------------------------------------
# BPMN helpers for the diagram

NOT_ELEMENTS = {"definitions", "process", "collaboration", "laneSet", "lane", "participant", "documentation"}


@lru_cache(maxsize=16)
def _bpmn_index(xml_text: str) -> tuple[dict, dict, dict]:
    """(names by element id, flows by (source, target) -> flow id, kinds by element id) of a BPMN text."""
    root = etree.fromstring(xml_text.encode("utf-8"))
    names, flows, kinds = {}, {}, {}
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith("{%s}" % BPMN_NS):
            continue
        local = etree.QName(element).localname
        if local == "sequenceFlow":
            flows[(element.get("sourceRef"), element.get("targetRef"))] = element.get("id")
        elif element.get("id") and local not in NOT_ELEMENTS:
            names[element.get("id")] = element.get("name") or ""
            kinds[element.get("id")] = local
    return names, flows, kinds


def task_names(xml_text: str) -> dict:
    """BPMN task id -> name (user, service, script... tasks): the activities of process mining."""
    names, _, kinds = _bpmn_index(xml_text)
    return {eid: names[eid] or eid for eid, kind in kinds.items() if kind.endswith("Task") or kind == "task"}


@lru_cache(maxsize=16)
def activity_names(xml_text: str) -> dict:
    """BPMN element id -> activity of process mining: tasks and events, a name shared by several made unique.

    Two elements with one name (« Informer l'ARS de la qualification » in B1 and after B2) get their id
    appended, « Informer l'ARS de la qualification (p3_b1_ars) »; an element without a name is its id.
    """
    names, _, kinds = _bpmn_index(xml_text)
    ids = [eid for eid, kind in kinds.items() if kind.endswith(("Task", "Event")) or kind == "task"]
    shared = Counter(names[eid] for eid in ids if names[eid])
    return {eid: (f"{names[eid]} ({eid})" if shared[names[eid]] > 1 else names[eid]) if names[eid] else eid
            for eid in ids}


def element_names(xml_text: str) -> dict:
    """BPMN element id -> name (tasks, events, gateways)."""
    return _bpmn_index(xml_text)[0]


def taken_flows(xml_text: str, visited: list, active: list = ()) -> list[str]:
    """Sequence flows taken, derived from consecutive visited elements connected in the BPMN.

    With `active`, the flow each waiting token arrived by is included too: from the latest visited
    element connected to it.
    """
    names, flows, _ = _bpmn_index(xml_text)
    path = [v for v in visited if v in names]
    taken = []
    for source, target in zip(path, path[1:]):
        flow = flows.get((source, target))
        if flow and flow not in taken:
            taken.append(flow)
    for target in active:
        for source in reversed(path):
            flow = flows.get((source, target))
            if flow:
                if flow not in taken:
                    taken.append(flow)
                break
    return taken
