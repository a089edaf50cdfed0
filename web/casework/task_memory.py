"""Tasks that remember: a task that comes round again opens with its previous completion's values, and
people fields offer the users of a role, the person logged in first."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from models import AuditEvent, TaskRow, User, db
from web import forms

PEOPLE_MESSAGE = "Choisissez une personne de la liste."


@dataclass
class Previous:
    """The last completion of the same task in the same dossier: its typed values, when and by whom."""

    values: dict
    at: datetime
    by: str


def previous_completion(row: TaskRow, schema: dict) -> Previous | None:
    """The values submitted when this dossier last completed the same task (from the audit log), if any."""
    earlier = db.session.execute(
        select(TaskRow.id, TaskRow.completed_at).where(
            TaskRow.dossier_id == row.dossier_id, TaskRow.spec_name == row.spec_name,
            TaskRow.status == "completed", TaskRow.id != row.id)
        .order_by(TaskRow.completed_at.desc()).limit(1)).first()
    if earlier is None:
        return None
    # The completing event carries the row's completion instant; several events may share it (one instant
    # per command), so the one naming the task is picked among them.
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == row.instance_id, AuditEvent.command == "complete",
        AuditEvent.at == earlier.completed_at)).all()
    event = next((e for e in events if (e.payload or {}).get("task_id") == earlier.id), None)
    if event is None:
        return None
    fields = schema.get("properties", {})
    values = {key: value for key, value in ((event.payload or {}).get("data") or {}).items() if key in fields}
    return Previous(values=values, at=event.at, by=event.actor) if values else None


def completion_data(row: TaskRow) -> dict:
    """The data submitted when this task row was completed (from the audit log), or {}."""
    if row.status != "completed" or row.completed_at is None:
        return {}
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.instance_id == row.instance_id, AuditEvent.command == "complete",
        AuditEvent.at == row.completed_at)).all()
    event = next((e for e in events if (e.payload or {}).get("task_id") == row.id), None)
    return dict((event.payload or {}).get("data") or {}) if event is not None else {}


def people_fields(ui: dict) -> dict[str, str]:
    """{field: role} for the UI schema's people fields (`"ui:options": {"peopleRole": "<role>"}`)."""
    found = {}
    for name, options in ui.items():
        if isinstance(options, dict) and isinstance(options.get("ui:options"), dict):
            role = options["ui:options"].get("peopleRole")
            if isinstance(role, str):
                found[name] = role
    return found


# Built once (models/kept.py says why).
PEOPLE = select(User.name).where(User.role == bindparam("_role"), User.active.is_(True)).order_by(User.name)


def with_people(schema: dict, ui: dict) -> dict:
    """A copy of the schema whose people fields list the active users of their role as choices."""
    roles = people_fields(ui)
    if not roles:
        return schema
    schema = copy.deepcopy(schema)
    for name, role in roles.items():
        prop = schema.get("properties", {}).get(name)
        if prop is None:
            continue
        names = db.session.scalars(PEOPLE, {"_role": role}).all()
        prop["oneOf"] = [{"const": person, "title": person} for person in names]
    return schema


def default_people(ui: dict, user: User, values: dict) -> dict:
    """The form's values with each empty people field set to the person logged in, when of the right role."""
    values = dict(values)
    for name, role in people_fields(ui).items():
        if not values.get(name) and user.role == role:
            values[name] = user.name
    return values


def people_errors(schema: dict, ui: dict, data: dict) -> dict[str, str]:
    """{field: French message} for a people field whose value is not one of its choices."""
    errors = {}
    for name in people_fields(ui):
        choices = {option["const"] for option in schema.get("properties", {}).get(name, {}).get("oneOf", [])}
        if name in data and data[name] not in choices:
            errors[name] = PEOPLE_MESSAGE
    return errors


def opening_values(row: TaskRow, schema: dict, ui: dict, user: User, draft) -> tuple[dict, Previous | None]:
    """What a task's form shows when opened: the draft, else the previous completion, then people defaults."""
    if draft is not None:
        return draft.data, None
    previous = previous_completion(row, schema)
    values = forms.typed_to_raw(schema, _local_datetimes(schema, previous.values)) if previous else {}
    return default_people(ui, user, values), previous


def _local_datetimes(schema: dict, values: dict) -> dict:
    """Date-times as a datetime-local field shows them (Paris time, no offset)."""
    shown = dict(values)
    for name, prop in schema.get("properties", {}).items():
        if prop.get("format") == "date-time" and isinstance(shown.get(name), str):
            try:
                instant = datetime.fromisoformat(shown[name])
            except ValueError:
                continue
            local = instant.astimezone(forms.PARIS) if instant.tzinfo else instant
            shown[name] = local.strftime("%Y-%m-%dT%H:%M")
    return shown
