"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of what the API returns, and the functions that
build those bodies from rows: the document and the answers come from the same place."""
from __future__ import annotations

from models import Dossier, OutboxMessage, TaskRow, User
from web import access


def ref(name: str) -> dict:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


STAMP = _nullable("string", format="date-time")
TEXT = {"type": "string"}
# What a request's texts may hold, as the server checks it (web/api/spec.py): no NUL character (no text
# column can hold one), and for a required text at least one character that is not a space. The lazy first
# star keeps the match linear on long texts without a NUL (a text with one is refused before).
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = "^[^\\u0000]*?[^\\s\\u0000][^\\u0000]*$"


def request_text(max_length: int, required: bool = True, **extra) -> dict:
    """A text member of a request body: bounded, without NUL, and not blank when required."""
    if required:
        return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NOT_BLANK, **extra}
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL, **extra}


def without_nul(schema):
    """A copy of a form's JSON Schema whose free texts (strings without enum, const, format or pattern)
    refuse the NUL character, as the server does: the document says what the server refuses."""
    if isinstance(schema, list):
        return [without_nul(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: value if key in ("const", "enum", "default", "examples") else without_nul(value)
            for key, value in schema.items()}
    kinds = schema.get("type")
    is_text = kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
    if is_text and not any(key in schema for key in ("enum", "const", "format", "pattern")):
        copy["pattern"] = NO_NUL
    return copy


COMPONENTS = {
    "Problem": {
        "type": "object", "description": "RFC 9457 problem details; `errors` lists field errors (422).",
        "required": ["type", "title", "status", "detail"],
        "properties": {"type": TEXT, "title": TEXT, "status": {"type": "integer"}, "detail": TEXT, "instance": TEXT,
                       "errors": {"type": "array", "items": {
                           "type": "object", "required": ["field", "detail"],
                           "properties": {"field": TEXT, "detail": TEXT}}}}},
    "Me": {
        "type": "object", "required": ["id", "email", "name", "role", "region", "structure_id", "token"],
        "properties": {"id": {"type": "integer"}, "email": TEXT, "name": TEXT, "role": TEXT,
                       "region": _nullable("string"), "structure_id": _nullable("integer"),
                       "token": {"type": "object", "required": ["name", "read_only"],
                                 "properties": {"name": TEXT, "read_only": {"type": "boolean"}}}}},
    "DossierItem": {
        "type": "object", "description": "A dossier in a list; `summary` ones (a military hospital's, for its "
                                         "region's ARS) carry only their number, state and the structure's name, "
                                         "FINESS and département (as the standard message names it).",
        "required": ["id", "number", "state", "summary"],
        "properties": {"id": {"type": "integer"}, "number": TEXT, "state": TEXT, "summary": {"type": "boolean"},
                       "structure": ref("SummaryStructure"),
                       "title": TEXT, "region": TEXT, "qualification": _nullable("string"),
                       "military": {"type": "boolean"}, "priority": {"type": "integer"}, "created_at": STAMP,
                       "declared_at": STAMP, "href": TEXT}},
    "SummaryStructure": {
        "type": "object", "description": "The structure as the ARS's standard message names it.",
        "required": ["name", "finess_et", "department"], "additionalProperties": False,
        "properties": {"name": TEXT, "finess_et": TEXT, "department": TEXT}},
    "DossierList": {
        "type": "object", "required": ["items", "total", "page", "pages"],
        "properties": {"items": {"type": "array", "items": ref("DossierItem")}, "total": {"type": "integer"},
                       "page": {"type": "integer"}, "pages": {"type": "integer"}}},
    "TimelineEntry": {
        "type": "object", "required": ["seq", "at", "actor", "role", "title", "entered", "states", "messages"],
        "properties": {"seq": {"type": "integer"}, "at": STAMP, "actor": TEXT, "role": TEXT, "title": TEXT,
                       "entered": {"type": "array", "items": {"type": "object", "required": ["label", "value"],
                                                              "properties": {"label": TEXT, "value": {}}}},
                       "states": {"type": "array"}, "messages": {"type": "array", "items": ref("MessageItem")}}},
    "MessageItem": {
        "type": "object", "required": ["id", "kind", "subject", "status", "created_at", "sent_at"],
        "properties": {"id": {"type": "integer"}, "kind": TEXT, "subject": TEXT, "status": TEXT,
                       "created_at": STAMP, "sent_at": STAMP, "attempts": {"type": "integer"},
                       "dossier_id": _nullable("integer"), "recipient_roles": {"type": "array", "items": TEXT},
                       "last_error": _nullable("string"), "smtp_stage": _nullable("string")}},
    "TaskItem": {
        "type": "object", "required": ["id", "dossier_id", "dossier_number", "title", "spec_name", "role", "status"],
        "properties": {"id": TEXT, "dossier_id": {"type": "integer"}, "dossier_number": TEXT, "title": TEXT,
                       "spec_name": TEXT, "role": TEXT, "status": TEXT, "due_at": STAMP, "created_at": STAMP,
                       "claimed_by": _nullable("integer"), "completed_at": STAMP, "priority": {"type": "integer"},
                       "href": TEXT}},
    "TaskList": {
        "type": "object", "required": ["items", "total", "page", "pages"],
        "properties": {"items": {"type": "array", "items": ref("TaskItem")}, "total": {"type": "integer"},
                       "page": {"type": "integer"}, "pages": {"type": "integer"}}},
    "Dossier": {
        "type": "object", "description": "A dossier read in full (`summary` false) with its timeline, or the "
                                         "summary a military hospital's region's ARS sees (`summary` true).",
        "required": ["id", "number", "state", "summary"],
        "properties": {"id": {"type": "integer"}, "number": TEXT, "state": TEXT, "summary": {"type": "boolean"},
                       "message": TEXT, "care_alert": _nullable("string"),
                       "care_alert_action": _nullable("string"), "title": TEXT, "phase": TEXT,
                       "region": TEXT, "structure": {"type": "object"}, "military": {"type": "boolean"},
                       "qualification": _nullable("string"), "incident_types": {"type": "array", "items": TEXT},
                       "urgent_help": {"type": "boolean"}, "care_impact": _nullable("string"),
                       "off_hours": {"type": "boolean"}, "priority": {"type": "integer"}, "created_at": STAMP,
                       "declared_at": STAMP, "qualified_at": STAMP, "closed_at": STAMP, "updated_at": STAMP,
                       "open_tasks": {"type": "array", "items": ref("TaskItem")},
                       "timeline": {"type": "array", "items": ref("TimelineEntry")},
                       "entites_alertees": {"type": "array", "items": TEXT}}},
    "Task": {
        "type": "object", "required": ["task", "form_schema"],
        "properties": {"task": ref("TaskItem"), "form_schema": {"type": "object"}}},
    "Completion": {
        "type": "object", "required": ["task", "dossier", "next_tasks"],
        "properties": {"task": ref("TaskItem"), "dossier": ref("DossierItem"),
                       "next_tasks": {"type": "array", "items": ref("TaskItem")}}},
    "Outbox": {
        "type": "object", "required": ["counts", "items", "total", "page", "pages"],
        "properties": {"counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                       "items": {"type": "array", "items": ref("MessageItem")}, "total": {"type": "integer"},
                       "page": {"type": "integer"}, "pages": {"type": "integer"}}},
    "OutboxMessage": {
        "type": "object", "required": ["message", "hidden", "body_text"],
        "properties": {"message": ref("MessageItem"), "hidden": {"type": "boolean"},
                       "recipients": {"type": "array", "items": TEXT}, "body_text": _nullable("string"),
                       "body_html": _nullable("string")}},
}


def stamp(value) -> str | None:
    """An instant as ISO 8601 (UTC), or None."""
    return value.isoformat() if value is not None else None


def dossier_item(dossier: Dossier, full: bool) -> dict:
    """A dossier in a list: in full, or number, state and the structure's name, FINESS, département for a summary."""
    item = {"id": dossier.id, "number": dossier.number, "state": dossier.state, "summary": not full,
            "href": f"/api/v1/dossiers/{dossier.id}"}
    if not full:
        item["structure"] = access.summary_structure(dossier)
    if full:
        item.update(title=dossier.title or "", region=dossier.region, qualification=dossier.qualification,
                    military=bool(dossier.military), priority=dossier.priority or 0,
                    created_at=stamp(dossier.created_at), declared_at=stamp(dossier.declared_at))
    return item


def task_item(row: TaskRow, number: str) -> dict:
    """A task row."""
    return {"id": row.id, "dossier_id": row.dossier_id, "dossier_number": number, "title": row.title,
            "spec_name": row.spec_name, "role": row.role, "status": row.status, "due_at": stamp(row.due_at),
            "created_at": stamp(row.created_at), "claimed_by": row.claimed_by, "completed_at": stamp(row.completed_at),
            "priority": row.priority or 0, "href": f"/api/v1/tasks/{row.id}"}


def message_item(message: OutboxMessage) -> dict:
    """An outbox row's metadata (never its bodies)."""
    return {"id": message.id, "kind": message.kind, "subject": message.subject, "status": message.status,
            "created_at": stamp(message.created_at), "sent_at": stamp(message.sent_at),
            "attempts": message.attempts or 0, "dossier_id": message.dossier_id,
            "recipient_roles": list(message.recipient_roles or []), "last_error": message.last_error,
            "smtp_stage": message.smtp_stage}


def me(user: User, token) -> dict:
    """Who the token acts as."""
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role, "region": user.region,
            "structure_id": user.structure_id, "token": {"name": token.name, "read_only": bool(token.read_only)}}
