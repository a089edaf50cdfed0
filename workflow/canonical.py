"""The canonical form of a BPMN file: what the process means, one element at a time, with everything that
does not change what runs set aside, so that two saves of one process compare equal.

Set aside: the diagram (bpmndi, colours), namespace prefixes (`bpmn:` or `semantic:` or none), the order of
attributes and of sibling elements, blank text, the exporter, and every attribute written at its BPMN
default (`cancelActivity="true"` on a boundary event, `isInterrupting="true"` on a start event,
`isExecutable="true"` as SpiffWorkflow reads it, `startQuantity="1"` ...): bpmn-js drops some of them.

Each element with a BPMN id becomes one entry {type, name, parent, fields}; `fields` flattens what the
element carries without an id of its own (documentation, condition, timer expression, extension
properties, service operator and its parameters, scripts, references) under stable keys, which the
deployment's equality (workflow/deployment.py same_meaning) and the value-by-value differences
(workflow/differences.py) both read.
"""
from __future__ import annotations

import json

from lxml import etree

from engine import parsing

MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
LAYOUT = {"http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
          "http://www.omg.org/spec/DD/20100524/DI", "http://bpmn.io/schema/bpmn/biocolor/1.0",
          "http://www.omg.org/spec/BPMN/non-normative/color/1.0"}
PREFIXES = {MODEL: "bpmn", SPIFF: "spiffworkflow", XSI: "xsi"}  # one spelling of each namespace, whatever the file's

# Attributes at these values say nothing: the BPMN 2.0 schema's defaults (and SpiffWorkflow's for isExecutable).
DEFAULTS = {
    "isForCompensation": "false", "startQuantity": "1", "completionQuantity": "1", "cancelActivity": "true",
    "isInterrupting": "true", "parallelMultiple": "false", "gatewayDirection": "Unspecified",
    "isExecutable": "true", "isClosed": "false", "processType": "None", "triggeredByEvent": "false",
    "cancelRemainingInstances": "true", "instantiate": "false", "eventGatewayType": "Exclusive",
    "isCollection": "false", "isUnlimited": "true", "textFormat": "text/plain", "mustUnderstand": "false",
    "waitForCompletion": "true", "isSequential": "false", "behavior": "All", "testBefore": "false",
    "associationDirection": "None", "itemKind": "Information", "method": "##Compensate", "isReference": "false",
}
TYPE_DEFAULTS = {
    "serviceTask": {"implementation": "##WebService"}, "sendTask": {"implementation": "##WebService"},
    "receiveTask": {"implementation": "##WebService"}, "participantMultiplicity": {"minimum": "0", "maximum": "1"},
}
UNSPECIFIED = {"implementation": "##unspecified"}
BOOLEANS = {name for name, value in DEFAULTS.items() if value in ("true", "false")} | {"isImmediate", "isHorizontal"}
QNAME_VALUES = {"xsi:type"}
# Children whose order means nothing and whose repeated values form a set.
SETS = {"incoming", "outgoing", "flowNodeRef", "sourceRef", "targetRef", "dataInputRefs", "dataOutputRefs"}
TRANSPARENT = {"extensionElements", "properties", "parameters"}  # containers told by what they hold
TIMERS = {"timeDuration", "timeDate", "timeCycle"}
SCRIPTS = {"script", "preScript", "postScript"}
EXPRESSIONS = TIMERS | SCRIPTS | {"documentation", "conditionExpression"}  # their text is the value


def _split(tag) -> tuple[str, str]:
    name = etree.QName(tag)
    return name.namespace or "", name.localname


def _spelled(namespace: str, local: str) -> str:
    if not namespace:
        return local
    return f"{PREFIXES[namespace]}:{local}" if namespace in PREFIXES else f"{{{namespace}}}{local}"


def _qname_value(element, value: str) -> str:
    """`prefix:local` written with the namespace's one spelling (xsi:type="semantic:tFormalExpression")."""
    prefix, _, local = value.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    return _spelled(namespace, local) if namespace else value.strip()


def _text(element) -> str:
    return (element.text or "").replace("\r\n", "\n").strip()


def attributes(element) -> dict[str, str]:
    """An element's attributes by their one spelling, those at their default left out."""
    namespace, local = _split(element.tag)
    defaults = {**DEFAULTS, **TYPE_DEFAULTS.get(local, UNSPECIFIED)} if namespace == MODEL else {}
    found = {}
    for key, value in element.attrib.items():
        attr_namespace, attr_local = _split(key)
        if attr_namespace in LAYOUT:
            continue
        name = _spelled(attr_namespace, attr_local)
        value = _qname_value(element, value) if name in QNAME_VALUES else value.strip()
        if name in BOOLEANS:
            value = {"1": "true", "0": "false"}.get(value, value.lower())
        if defaults.get(name) == value:
            continue
        found[name] = value
    return found


def _is_element(node) -> bool:
    """A BPMN element compared on its own: one with an id in the BPMN namespace."""
    return isinstance(node.tag, str) and bool(node.get("id")) and _split(node.tag)[0] == MODEL


def _add(fields: dict, key: str, value, is_set: bool = False) -> None:
    if is_set:
        fields[key] = sorted({*fields.get(key, []), value})
    elif key in fields:  # a value given twice (two properties of one name ...): both, in one order
        fields[key] = " | ".join(sorted([fields[key], value]))
    else:
        fields[key] = value


def _children(node):
    return [child for child in node if isinstance(child.tag, str) and _split(child.tag)[0] not in LAYOUT
            and not _is_element(child)]


def _flatten(node, path: str, fields: dict) -> None:
    """The fields a child without an id carries, under stable keys (see the module docstring)."""
    namespace, local = _split(node.tag)
    attrs, text = attributes(node), _text(node)
    if namespace == SPIFF and local in ("property", "parameter"):
        ident = attrs.pop("name" if local == "property" else "id", "")
        _add(fields, f"{local}:{ident}", attrs.pop("value", text))
        for name, value in attrs.items():
            _add(fields, f"{local}:{ident}@{name}", value)
        return
    if local in SETS and not path:
        _add(fields, local, text, is_set=True)
        return
    if namespace == SPIFF and local == "serviceTaskOperator":
        _add(fields, "operator", attrs.pop("id", ""))
        key = "operator"
    elif local in TRANSPARENT:
        key = path
    elif local in EXPRESSIONS:
        key = local
    else:
        key = f"{path}/{local}" if path else local
    if text:
        _add(fields, key if local in EXPRESSIONS else f"{key}#text", text)
    for name, value in attrs.items():
        _add(fields, f"{key}@{name}", value)
    for child in _children(node):
        _flatten(child, key, fields)


def _owner(node) -> str | None:
    parent = node.getparent()
    while parent is not None and not _is_element(parent):
        parent = parent.getparent()
    return parent.get("id") if parent is not None else None


def canonical_form(xml: str) -> dict[str, dict]:
    """{element id: {type, name, parent, fields}} of every BPMN element of a file, in its canonical form."""
    root = parsing.parse_xml(xml)
    found = {}
    for node in root.iter():
        if node is root or not _is_element(node):
            continue
        local = _split(node.tag)[1]
        attrs = attributes(node)
        ident, name = attrs.pop("id"), attrs.pop("name", "")
        fields: dict = {f"@{k}": v for k, v in attrs.items()}
        for child in _children(node):
            _flatten(child, "", fields)
        while ident in found:  # an id used twice (the validator refuses it): both kept
            ident += "'"
        found[ident] = {"type": local, "name": name.strip(), "parent": _owner(node), "fields": fields}
    return found


def canonical_text(xml: str) -> str:
    """The canonical form as one text: equal for two files that mean the same process."""
    return json.dumps(canonical_form(xml), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
