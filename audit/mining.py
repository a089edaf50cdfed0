"""The history exported for process mining: XES (IEEE 1849-2016) and CSV.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from lxml import etree
from sqlalchemy import select

from audit.bpmn_paths import task_names
from audit.hash_chain import events_of
from models import Dossier, ProcessDefinition, ProcessInstance, Structure, db
from referentiel import ROLES


# --------------------------------------------------------------------------------------------
# Export for process mining (XES, IEEE 1849-2016) and CSV

XES_NS = "http://www.xes-standard.org/"
XES_EXTENSIONS = [("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
                  ("Time", "time", "http://www.xes-standard.org/time.xesext"),
                  ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
                  ("Organizational", "org", "http://www.xes-standard.org/org.xesext")]
CSV_COLUMNS = ["case:concept:name", "concept:name", "time:timestamp", "lifecycle:transition", "org:resource",
               "org:role", "element", "etape", "commande", "case:region", "case:type_structure",
               "case:qualification", "case:etat", "case:types_incident", "case:impact_sanitaire",
               "case:hors_heures", "case:militaire", "case:cree_le", "case:declare_le", "case:clos_le",
               "case:structure"]
SYSTEM_ROLE = "systeme"
ROLE_LABELS = dict(ROLES, **{SYSTEM_ROLE: "Système"})


def dossiers_between(start: datetime | None = None, end: datetime | None = None, scope=None) -> list[Dossier]:
    """Dossiers created in [start, end) and within `scope` (an SQL condition, e.g. a user's visibility)."""
    query = select(Dossier).order_by(Dossier.number)
    if scope is not None:
        query = query.where(scope)
    if start is not None:
        query = query.where(Dossier.created_at >= start)
    if end is not None:
        query = query.where(Dossier.created_at < end)
    return list(db.session.scalars(query))


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def case_attributes(dossier: Dossier, personal_data: bool = False) -> dict:
    """The main dossier attributes carried by each trace (no personal data unless asked)."""
    attrs = {"region": dossier.region, "type_structure": dossier.structure_kind,
             "qualification": dossier.qualification or "", "etat": dossier.state,
             "types_incident": ",".join(dossier.incident_types or []), "impact_sanitaire": bool(dossier.health_impact),
             "hors_heures": bool(dossier.off_hours), "militaire": bool(dossier.military),
             "cree_le": dossier.created_at, "declare_le": dossier.declared_at, "clos_le": dossier.closed_at}
    if personal_data:
        structure = db.session.get(Structure, dossier.structure_id)
        attrs["structure"] = structure.name if structure else ""
    return attrs


def activity_events(dossier: Dossier, personal_data: bool = False) -> list[dict]:
    """One process-mining event per BPMN task completed, in history order, from the audit events."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    tasks = task_names(definition.bpmn_xml)
    rows = []
    for event in events_of(instance.id):
        for index, element in enumerate(event.visited or []):
            if element not in tasks:
                continue
            # The person acted on the user task the command completed; the rest ran automatically.
            by_person = event.command == "complete" and index == 0
            role = event.actor_role if by_person else SYSTEM_ROLE
            if personal_data and by_person:
                resource = event.actor
            else:
                resource = ROLE_LABELS.get(role, role)
            rows.append({"case": dossier.number, "activity": tasks[element], "element": element,
                         "timestamp": event.at, "lifecycle": "complete", "resource": resource, "role": role,
                         "step": event.seq, "command": event.command})
    return rows


def _xes_attribute(parent, key: str, value) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        etree.SubElement(parent, "boolean", key=key, value="true" if value else "false")
    elif isinstance(value, datetime):
        etree.SubElement(parent, "date", key=key, value=_iso(value))
    elif isinstance(value, int):
        etree.SubElement(parent, "int", key=key, value=str(value))
    else:
        etree.SubElement(parent, "string", key=key, value=str(value))


def to_xes(dossiers: list[Dossier], personal_data: bool = False) -> bytes:
    """An XES (IEEE 1849) log: one trace per dossier, one event per task completed."""
    log = etree.Element("log", nsmap={None: XES_NS})
    log.set("xes.version", "1849-2016")
    for name, prefix, uri in XES_EXTENSIONS:
        etree.SubElement(log, "extension", name=name, prefix=prefix, uri=uri)
    for scope, keys in (("trace", [("string", "concept:name")]),
                        ("event", [("string", "concept:name"), ("date", "time:timestamp"),
                                   ("string", "lifecycle:transition"), ("string", "org:resource"),
                                   ("string", "org:role")])):
        glob = etree.SubElement(log, "global", scope=scope)
        for kind, key in keys:
            default = "1970-01-01T00:00:00.000+00:00" if kind == "date" else "__INVALID__"
            etree.SubElement(glob, kind, key=key, value=default)
    etree.SubElement(log, "classifier", name="Activité", keys="concept:name")
    etree.SubElement(log, "classifier", name="Activité et cycle de vie", keys="concept:name lifecycle:transition")
    _xes_attribute(log, "concept:name", "Signalement des incidents graves de sécurité des SI de santé")
    for dossier in dossiers:
        trace = etree.SubElement(log, "trace")
        _xes_attribute(trace, "concept:name", dossier.number)
        for key, value in case_attributes(dossier, personal_data).items():
            _xes_attribute(trace, key, value)
        for row in activity_events(dossier, personal_data):
            event = etree.SubElement(trace, "event")
            _xes_attribute(event, "concept:name", row["activity"])
            _xes_attribute(event, "time:timestamp", row["timestamp"])
            _xes_attribute(event, "lifecycle:transition", row["lifecycle"])
            _xes_attribute(event, "org:resource", row["resource"])
            _xes_attribute(event, "org:role", row["role"])
            _xes_attribute(event, "element", row["element"])
            _xes_attribute(event, "etape", row["step"])
            _xes_attribute(event, "commande", row["command"])
    return etree.tostring(log, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def to_csv(dossiers: list[Dossier], personal_data: bool = False) -> str:
    """The same events as the XES export, one CSV line each (pm4py's default column names)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for dossier in dossiers:
        case = {f"case:{k}": (_iso(v) if isinstance(v, datetime) else
                              ("oui" if v is True else "non" if v is False else ("" if v is None else v)))
                for k, v in case_attributes(dossier, personal_data).items()}
        for row in activity_events(dossier, personal_data):
            writer.writerow({"case:concept:name": row["case"], "concept:name": row["activity"],
                             "time:timestamp": _iso(row["timestamp"]), "lifecycle:transition": row["lifecycle"],
                             "org:resource": row["resource"], "org:role": row["role"], "element": row["element"],
                             "etape": row["step"], "commande": row["command"], **case})
    return out.getvalue()
