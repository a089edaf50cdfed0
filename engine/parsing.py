"""Parsing BPMN into specs, and refusing at deployment the expressions the restricted environment would refuse."""
from __future__ import annotations

from pathlib import Path

from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.expressions import ExpressionRefused, check


def parse_bpmn(xml_text: str, process_id: str | None = None):
    """Parse BPMN text into (spec, subprocess_specs); the first executable process by default."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(xml_text.encode("utf-8")), filename="process.bpmn")
    if process_id is None:
        process_id = parser.get_process_ids()[0]
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    return spec, subprocess_specs


_EXPRESSIONS = {  # every BPMN/spiff element whose text SpiffWorkflow 3.2.0 evaluates, and how
    "eval": ("{*}conditionExpression", "{*}timeDuration", "{*}timeDate", "{*}timeCycle",
             "{*}loopCardinality", "{*}loopCondition", "{*}completionCondition", "{*}condition",
             "{*}formalExpression", "{*}messagePayload", "{*}expression"),
    "exec": ("{*}script", "{*}preScript", "{*}postScript"),
}


_BPMN_MODEL = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def _element_label(element) -> str:
    """« id » (name) of the enclosing BPMN element (task, flow, event) that holds an expression."""
    while element is not None and (element.get("id") is None or not element.tag.startswith(_BPMN_MODEL)
                                   or element.tag.endswith("EventDefinition")):
        element = element.getparent()
    if element is None:
        return "« ? »"
    name = element.get("name")
    return f"« {element.get('id')} »" + (f" ({name})" if name else "")


def check_expressions(xml_text: str) -> None:
    """Refuse, at deployment, BPMN whose expressions or scripts the interpreter would refuse."""
    root = etree.fromstring(xml_text.encode("utf-8"))
    found = [(mode, el.text or "", el) for mode, tags in _EXPRESSIONS.items() for el in root.iter(*tags)]
    found += [("eval", el.get("value") or "", el) for el in root.iter("{*}parameter")]
    for mode, source, element in found:
        if not source.strip():
            continue
        try:
            check(source, mode)
        except ExpressionRefused as exc:
            raise ExpressionRefused(f"{exc} (élément {_element_label(element)})") from None


def load_bpmn_file(path: str | Path) -> str:
    """Read a BPMN file as text."""
    return Path(path).read_text(encoding="utf-8")
