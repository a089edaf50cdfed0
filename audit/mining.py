"""The history exported for process mining: XES (IEEE 1849-2016) and CSV.

One activity per BPMN task or event (the element's name, with its id where several share it), so the
log replays on the model converted to a Petri net; the lifecycle extension's standard transitions
(schedule, assign, start, complete, ate_abort) carry the task rows' offer, claim and completion times.
"""
from __future__ import annotations

import csv
import io
from bisect import bisect_right
from datetime import datetime, timezone
from itertools import accumulate

from lxml import etree
from sqlalchemy import select

from audit.bpmn_paths import activity_names
from audit.hash_chain import events_of
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, Structure, TaskRow, User, db
from referentiel import ROLES, spreadsheet_cell


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
SYSTEM_LABEL = ROLE_LABELS[SYSTEM_ROLE]


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
    """The dossier's process-mining events in history order: lifecycle transitions of every task and event.

    Tasks, events and their completions come from the audit events' `visited` lists (every element a
    command passed). A user task also gets `schedule` when offered to its lane (its row's creation),
    `assign` and `start` when claimed, and `ate_abort` when a boundary event interrupted it. Claims are
    not commands, so they are not in the audit chain: their time comes from the task rows (latest claim).
    """
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    names = activity_names(definition.bpmn_xml)
    events = events_of(instance.id)
    keyed = [(key, row) for event in events for key, row in _visited_events(event, names, personal_data)]
    users = _claimers(instance.id, personal_data)
    keyed += _task_row_events(instance.id, events, names, users)
    keyed.sort(key=lambda item: item[0])
    return [dict(row, case=dossier.number) for _, row in keyed]


def _visited_events(event: AuditEvent, names: dict, personal_data: bool) -> list[tuple]:
    """((seq, slot, index), row) of each task or event a command passed: `complete` for each."""
    found = []
    for index, element in enumerate(e for e in event.visited or [] if e in names):
        # The person acted on the first element (the user task completed, the start event); the rest ran alone.
        by_person = index == 0 and event.command in ("complete", "start")
        role = event.actor_role if by_person else SYSTEM_ROLE
        resource = event.actor if personal_data and by_person else ROLE_LABELS.get(role, role)
        found.append(((event.seq, 1, index), _row(names, element, event.at, "complete", resource, role,
                                                  event.seq, event.command)))
    return found


def _task_row_events(instance_id: int, events: list, names: dict, users: dict) -> list[tuple]:
    """((seq, slot, 0), row) of the user tasks' schedule, assign, start and ate_abort, after the command they follow.

    Work starts when someone takes the task (its claim) or, for a task nobody claims (the declarant's
    steps), when it is offered: the application records no other moment when a person opens a form.
    """
    completed_by = {e.payload.get("task_id"): e.seq for e in events if e.command == "complete"}
    times = list(accumulate((e.at for e in events), max))
    found = []
    for task in db.session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id)):
        if task.spec_name not in names:
            continue
        team = ROLE_LABELS.get(task.role, task.role)
        held, since = users.get(task.claimed_by, team), task.claimed_at or task.created_at
        bound = completed_by.get(task.id)
        seq = _seq_at(events, times, task.created_at, bound)
        found.append(((seq, 2, 0), _row(names, task.spec_name, task.created_at, "schedule", team, task.role, seq)))
        seq = _seq_at(events, times, since, bound)
        if task.claimed_at is not None:
            found.append(((seq, 3, 0), _row(names, task.spec_name, since, "assign", held, task.role, seq)))
        found.append(((seq, 4, 0), _row(names, task.spec_name, since, "start", held if task.claimed_at else team,
                                        task.role, seq)))
        if task.status == "cancelled" and task.completed_at is not None:
            seq = _seq_at(events, times, task.completed_at, None)
            found.append(((seq, 0, 0), _row(names, task.spec_name, task.completed_at, "ate_abort", SYSTEM_LABEL,
                                            SYSTEM_ROLE, seq, events[seq - 1].command if seq else "")))
    return found


def _seq_at(events: list, times: list, when: datetime, before: int | None) -> int:
    """The step of the latest event at or before `when` (and before step `before`, when given)."""
    position = bisect_right(times, when)
    if before is not None:
        position = min(position, before - 1)
    return events[position - 1].seq if position > 0 else 0


def _claimers(instance_id: int, personal_data: bool) -> dict:
    """{user id: resource} of the people holding the instance's task rows (e-mail or role label)."""
    query = select(User.id, User.email, User.role).join(TaskRow, TaskRow.claimed_by == User.id).where(
        TaskRow.instance_id == instance_id)
    return {uid: email if personal_data else ROLE_LABELS.get(role, role)
            for uid, email, role in db.session.execute(query.distinct())}


def _row(names: dict, element: str, at: datetime, lifecycle: str, resource: str, role: str,
         step: int, command: str = "") -> dict:
    """One exported event (the case is added by the caller)."""
    return {"activity": names[element], "element": element, "timestamp": at, "lifecycle": lifecycle,
            "resource": resource, "role": role, "step": step, "command": command}


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
    """An XES (IEEE 1849) log: one trace per dossier, one event per lifecycle transition (standard model)."""
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
    _xes_attribute(log, "lifecycle:model", "standard")
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
            line = {"case:concept:name": row["case"], "concept:name": row["activity"],
                    "time:timestamp": _iso(row["timestamp"]), "lifecycle:transition": row["lifecycle"],
                    "org:resource": row["resource"], "org:role": row["role"], "element": row["element"],
                    "etape": row["step"], "commande": row["command"], **case}
            writer.writerow({column: spreadsheet_cell(value) for column, value in line.items()})
    return out.getvalue()
