"""Parsing BPMN into specs, and refusing at deployment the expressions the restricted environment would refuse."""
from __future__ import annotations

from pathlib import Path

from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.expressions import ExpressionRefused, check

MAX_BPMN_BYTES = 1024 * 1024  # the shipped process is about 150 KB


def safe_parser() -> etree.XMLParser:
    """An lxml parser that reads the document alone: no entity resolution, DTD, network or huge trees."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=False, remove_pis=True, strip_cdata=False,
                           collect_ids=False)


def parse_xml(xml_text: str):
    """Parse BPMN text with the safe parser; refuse a document type declaration and oversized files."""
    data = xml_text.encode("utf-8")
    if len(data) > MAX_BPMN_BYTES:
        raise ValueError(f"fichier trop volumineux ({len(data) // 1024} Kio, {MAX_BPMN_BYTES // 1024} Kio au plus)")
    root = etree.fromstring(data, parser=safe_parser())
    if root.getroottree().docinfo.doctype:
        raise ValueError("déclaration de type de document (DOCTYPE) interdite : retirez-la du fichier")
    return root


def parse_bpmn(xml_text: str, process_id: str | None = None):
    """Parse BPMN text into (spec, subprocess_specs); the first executable process by default."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(parse_xml(xml_text), filename="process.bpmn")
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


def owner_element(element):
    """The enclosing BPMN element (task, flow, event) of an expression or extension, or None."""
    while element is not None and (element.get("id") is None or not element.tag.startswith(_BPMN_MODEL)
                                   or element.tag.endswith("EventDefinition")):
        element = element.getparent()
    return element


def _element_label(element) -> str:
    """« id » (name) of the enclosing BPMN element (task, flow, event) that holds an expression."""
    element = owner_element(element)
    if element is None:
        return "« ? »"
    name = element.get("name")
    return f"« {element.get('id')} »" + (f" ({name})" if name else "")


def expression_refusals(root):
    """(element, refusal message) for every expression or script the interpreter would refuse."""
    found = [(mode, el.text or "", el) for mode, tags in _EXPRESSIONS.items() for el in root.iter(*tags)]
    found += [("eval", el.get("value") or "", el) for el in root.iter("{*}parameter")]
    for mode, source, element in found:
        if not source.strip():
            continue
        try:
            check(source, mode)
        except ExpressionRefused as exc:
            yield element, str(exc)


def check_expressions(xml_text: str) -> None:
    """Refuse, at deployment, BPMN whose expressions or scripts the interpreter would refuse."""
    for element, message in expression_refusals(parse_xml(xml_text)):
        raise ExpressionRefused(f"{message} (élément {_element_label(element)})")


def load_bpmn_file(path: str | Path) -> str:
    """Read a BPMN file as text."""
    return Path(path).read_text(encoding="utf-8")
