"""The shipped process reads as annex 1: every task quotes the annex's task it carries out, and the phases are
BPMN groups labelled with the annex's phase names, laid out left to right in the annex's order."""
from __future__ import annotations

from pathlib import Path

from lxml import etree

PROCESS = Path(__file__).resolve().parent.parent / "processes" / "signalement_incident_ssi.bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC"}
TASKS = ("userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask", "businessRuleTask", "task")
PHASES = ["Phase 1 : Signalement de l'incident de sécurité",
          "Phase 2 : Communication et prise en compte du signalement par l'ARS et la Cellule ACSS",
          "Phase 3 : Qualification du signalement", "Phase 4 : Appui au traitement des incidents graves",
          "Phase 5 : Clôture du dossier de traitement", "Phase 6 : Retour d'expérience"]
ROOT = etree.parse(str(PROCESS)).getroot()


def bounds(element_id: str) -> tuple[float, float, float, float]:
    b = ROOT.find(f".//bpmndi:BPMNShape[@bpmnElement='{element_id}']/dc:Bounds", NS)
    return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))


def groups() -> dict[str, str]:
    """{phase label: group id}."""
    labels = {v.get("id"): v.get("value") for v in ROOT.iterfind(".//bpmn:categoryValue", NS)}
    return {labels[g.get("categoryValueRef")]: g.get("id") for g in ROOT.iterfind(".//bpmn:group", NS)}


def test_every_task_quotes_the_annex():
    tasks = [el for name in TASKS for el in ROOT.iterfind(f".//bpmn:{name}", NS)]
    assert len(tasks) > 60
    for task in tasks:
        doc = task.find("bpmn:documentation", NS)
        assert doc is not None and doc.text, task.get("id")
        assert doc.text.startswith(("Annexe 1, phase", "Instruction, 2.2")) and "«" in doc.text, task.get("id")


def test_the_phases_are_groups_named_as_in_the_annex_from_left_to_right():
    found = groups()
    assert set(PHASES) <= set(found)
    assert "Phase 4 bis : Appui au traitement de l'incident significatif" in found
    lefts = [bounds(found[label])[0] for label in PHASES]
    assert lefts == sorted(lefts)
    # Each group surrounds the tasks of its phase (ids carry the phase: p1_, p2_, …).
    for label, prefix in zip(PHASES, ("p1_", "p2_", "p3_", "p4_", "p5_", "p6_")):
        gx, gy, gw, gh = bounds(found[label])
        for name in TASKS:
            for task in ROOT.iterfind(f".//bpmn:{name}", NS):
                if task.get("id").startswith(prefix):
                    x, y, w, h = bounds(task.get("id"))
                    assert gx <= x and x + w <= gx + gw and gy <= y and y + h <= gy + gh, (label, task.get("id"))
