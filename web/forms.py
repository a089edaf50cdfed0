"""Turn a task's JSON Schema and UI schema into fields for the Jinja2 macros, and read the posts back."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select

from engine import runtime, serialization
from models import ProcessDefinition, ProcessInstance, db
from referentiel import INCIDENT_TYPES, QUALIFICATIONS, REGIONS, STRUCTURE_KINDS
from workflow import context, deployment, form_schemas

PARIS = ZoneInfo("Europe/Paris")
_NAIVE_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")

# Labels of keys inside context objects (structure, declarant) that no schema describes.
KEY_LABELS = {
    "nom": "Nom", "fonction": "Fonction", "finess_et": "FINESS établissement (ET)",
    "finess_ej": "FINESS entité juridique (EJ)", "type": "Type de structure", "region": "Région",
    "departement": "Département", "ville": "Ville", "oiv": "Opérateur d'importance vitale (OIV)",
    "telephone": "Téléphone", "email": "Adresse électronique", "numero": "Numéro",
}
# Internal keys of those objects that no person needs to read (a structure's row id).
HIDDEN_KEYS = {"id"}


@dataclass
class Field:
    """One form field ready for the macros: widget, label, options, raw value and error."""

    name: str
    title: str
    widget: str
    required: bool = False
    help: str = ""
    placeholder: str = ""
    options: list = field(default_factory=list)
    value: object = None
    error: str = ""
    input_type: str = "text"
    attrs: dict = field(default_factory=dict)
    subfields: list = field(default_factory=list)
    rows: list = field(default_factory=list)


def _options(prop: dict) -> list[tuple[str, str]]:
    if "oneOf" in prop:
        return [(_raw(c.get("const")), c.get("title", str(c.get("const")))) for c in prop["oneOf"] if "const" in c]
    if "enum" in prop:
        return [(_raw(v), str(v)) for v in prop["enum"]]
    return []


def _raw(value) -> str:
    """How a typed value travels in an HTML form."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _type(prop: dict) -> str | None:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind


def _widget(prop: dict, ui: dict) -> tuple[str, str]:
    """(macro widget, input type) for a property."""
    wanted = ui.get("ui:widget")
    kind = _type(prop)
    if kind == "array":
        items = prop.get("items", {}) if isinstance(prop.get("items"), dict) else {}
        if _type(items) == "object":
            return "objects", ""
        return ("checkboxes" if _options(items) else "lines"), ""
    if kind == "boolean":
        if prop.get("const") is True:
            return "checkbox", ""
        return ("select" if wanted == "select" else "radio"), ""
    if _options(prop):
        return ("select" if wanted == "select" or (wanted != "radio" and len(_options(prop)) > 6) else "radio"), ""
    if kind in ("integer", "number"):
        return "input", "number"
    fmt = prop.get("format")
    if fmt == "date" or wanted == "date":
        return "input", "date"
    if fmt == "date-time" or wanted == "date-time":
        return "input", "datetime-local"
    if fmt == "email" or wanted == "email":
        return "input", "email"
    if wanted == "textarea" or (prop.get("maxLength") or 0) > 1000:
        return "textarea", ""
    return "input", "text"


def build_fields(schema: dict, ui: dict | None, values: dict | None = None, errors: dict | None = None,
                 prefix: str = "") -> list[Field]:
    """Fields in display order, with the raw values the user typed and the French errors."""
    ui = ui or {}
    values = values or {}
    errors = errors or {}
    properties = schema.get("properties", {})
    order = [n for n in ui.get("ui:order", []) if n in properties] + \
        [n for n in properties if n not in ui.get("ui:order", [])]
    required = set(schema.get("required", []))
    fields = []
    for name in order:
        prop = properties[name]
        prop_ui = ui.get(name, {}) if isinstance(ui.get(name), dict) else {}
        if prop_ui.get("ui:widget") == "hidden":
            continue
        widget, input_type = _widget(prop, prop_ui)
        options = _options(prop.get("items", {}) if widget == "checkboxes" else prop)
        if widget == "checkbox":
            options = [("true", prop.get("title", name))]
        f = Field(name=prefix + name, title=prop.get("title", name), widget=widget, required=name in required,
                  help=" ".join(t for t in (prop.get("description", ""), prop_ui.get("ui:help", "")) if t),
                  placeholder=prop_ui.get("ui:placeholder", ""), options=options, input_type=input_type,
                  value=values.get(prefix + name), error=errors.get(name, ""))
        if input_type == "number":
            f.attrs = {k: prop[k] for k in ("minimum", "maximum") if k in prop}
            f.attrs["step"] = "1" if _type(prop) == "integer" else "any"
        if widget in ("input", "textarea") and isinstance(prop.get("maxLength"), int) and \
                input_type in ("", "text", "email"):
            # No maxlength attribute: it cuts pasted text silently. A counter shows the limit; the server refuses.
            f.attrs["data-limite"] = prop["maxLength"]
        if input_type in ("date", "datetime-local"):  # mirrored in app.js from form_schemas.date_errors
            if prop.get("x-notInFuture") is True:
                f.attrs["data-pas-futur"] = "1"
            if isinstance(prop.get("x-notAfter"), str) and isinstance(properties.get(prop["x-notAfter"]), dict):
                f.attrs["data-pas-apres"] = prefix + prop["x-notAfter"]
                f.attrs["data-pas-apres-titre"] = properties[prop["x-notAfter"]].get("title", prop["x-notAfter"])
        if widget == "objects":
            f.subfields = build_fields(prop["items"], prop_ui.get("items", {}), prefix=f"{prefix}{name}-__i__-")
            f.rows = _object_rows(prop["items"], prop_ui.get("items", {}), prefix + name, values)
        fields.append(f)
    return fields


def object_row_keys(name: str, keys) -> list[tuple[int, str, str]]:
    """(row index, sub-field, key) of the form keys of the array of objects `name` ("name-3-nom");
    the sub-field is empty for a row just added with « Ajouter une ligne »."""
    pattern = re.compile(rf"{re.escape(name)}-([0-9]{{1,4}})-(.*)")
    return [(int(m.group(1)), m.group(2), key) for key in keys if (m := pattern.fullmatch(key))]


def _object_rows(item_schema: dict, item_ui: dict, name: str, values: dict) -> list[list[Field]]:
    """One list of sub-fields per row of an array of objects (at least one empty row)."""
    indexes = sorted({index for index, _, _ in object_row_keys(name, values)})
    return [build_fields(item_schema, item_ui, values, prefix=f"{name}-{index}-") for index in indexes or [0]]


def raw_values(schema: dict, form) -> dict:
    """What the user typed, kept as strings (lists for multi-valued fields) to re-display and for drafts."""
    properties = schema.get("properties", {})
    kept = {}
    for key in form.keys():
        base = key.split("-", 1)[0]
        if base not in properties:
            continue
        values = form.getlist(key)
        # A row's sub-field ("indicateurs-0-type") is one value, not the array its base names.
        whole_array = _type(properties[base]) == "array" and key == base
        kept[key] = values if len(values) > 1 or whole_array else values[0]
    return kept


def coerce(schema: dict, form) -> dict:
    """Typed data for the schema: form_schemas.coerce, plus arrays of objects and Paris-time date-times."""
    data = form_schemas.coerce(schema, form)
    for name, prop in schema.get("properties", {}).items():
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        if _type(prop) == "array" and _type(items) == "object":
            rows = {}
            for index, sub_field, key in object_row_keys(name, form.keys()):
                if sub_field:
                    rows.setdefault(index, {})[sub_field] = form.getlist(key)
            typed = []
            for index in sorted(rows):
                row = form_schemas.coerce(items, _ListDict(rows[index]))
                if row:
                    typed.append(row)
            if typed:
                data[name] = typed
        elif prop.get("format") == "date-time" and isinstance(data.get(name), str):
            data[name] = _with_offset(data[name])
    return data


class _ListDict(dict):
    """A dict of lists with the getlist() of a form MultiDict."""

    def getlist(self, key):
        return self.get(key, [])


def _with_offset(text: str) -> str:
    """A datetime-local value ("2026-03-02T07:45") is Paris time: store it with its offset."""
    if not _NAIVE_DATETIME.fullmatch(text):
        return text
    try:
        return datetime.fromisoformat(text).replace(tzinfo=PARIS).isoformat()
    except ValueError:
        return text


def typed_to_raw(schema: dict, data: dict) -> dict:
    """Typed data (a resumed draft or earlier answers) as raw form values."""
    raw = {}
    for name, value in (data or {}).items():
        if isinstance(value, list):
            if value and isinstance(value[0], dict):
                for i, row in enumerate(value):
                    raw.update({f"{name}-{i}-{k}": _raw(v) for k, v in row.items()})
            else:
                raw[name] = [_raw(v) for v in value]
        else:
            raw[name] = _raw(value)
    return raw


# --------------------------------------------------------------------------------------------
# Labels and readable values

# Labels per definition content (a deployed definition never changes: a new content is a new version), so
# that a page does not load and walk the forms' JSON on every request.
_LABELS: dict[str, dict] = {}


def labels(definition: ProcessDefinition) -> dict:
    """{field: (title, {code: label})} gathered from every form of a definition (computed once per content;
    read-only: the same mapping serves every request)."""
    found = _LABELS.get(definition.content_hash) if definition.content_hash else None
    if found is None:
        found = _labels(definition)
        if definition.content_hash:
            _LABELS[definition.content_hash] = found
    return found


def _labels(definition: ProcessDefinition) -> dict:
    found = {"qualification": ("Qualification", dict(QUALIFICATIONS)),
             "types_incident": ("Types d'incident", dict(INCIDENT_TYPES)),
             "type": ("Type de structure", dict(STRUCTURE_KINDS))}
    for name, schema in (definition.forms or {}).items():
        if not name.endswith(".schema.json"):
            continue
        for prop_name, prop in schema.get("properties", {}).items():
            opts = dict(_options(prop.get("items", {}) if _type(prop) == "array" else prop))
            title, known = found.get(prop_name, (prop.get("title", prop_name), {}))
            found[prop_name] = (title, {**opts, **known})
            items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
            for sub_name, sub in (items.get("properties") or {}).items():  # a row's fields: "name.sub"
                if isinstance(sub, dict):
                    found[f"{prop_name}.{sub_name}"] = (sub.get("title", sub_name), dict(_options(sub)))
    return found


def _scoped(label_map: dict, name: str) -> dict:
    """The labels inside the rows of the array `name`: its items' own fields first (« Type d'indicateur »
    for an indicator's `type`, not the structure's « Type de structure »)."""
    prefix = f"{name}."
    scoped = {key[len(prefix):]: value for key, value in label_map.items() if key.startswith(prefix)}
    return {**label_map, **scoped} if scoped else label_map


def readable(value, codes: dict | None = None, label_map: dict | None = None):
    """A value as French text (None for nothing to show); objects become {"pairs": [...]}, lists stay lists."""
    codes = codes or {}
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, dict):  # known keys in their reading order (name first), then the others as stored
        keys = [k for k in KEY_LABELS if k in value] + [k for k in value if k not in KEY_LABELS]
        return {"pairs": describe(value, [k for k in keys if k not in HIDDEN_KEYS], label_map or {})}
    if isinstance(value, list):
        return [readable(v, codes, label_map) for v in value]
    if isinstance(value, str):
        if value in codes:
            return codes[value]
        if _NAIVE_DATETIME.match(value) and len(value) >= 16:
            try:
                instant = datetime.fromisoformat(value)
                instant = instant.astimezone(PARIS) if instant.tzinfo else instant
                return instant.strftime("%d/%m/%Y à %H:%M")
            except ValueError:
                return value
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return date.fromisoformat(value).strftime("%d/%m/%Y")
            except ValueError:
                return value
    return value


def describe(data: dict, names: list | None, label_map: dict, custom: dict | None = None) -> list[tuple]:
    """[(label, value)] for the named variables (all when names is None), skipping empty ones."""
    custom = custom or {}
    items = []
    for name in (names if names is not None else list(data)):
        if name not in data:
            continue
        value = data[name]
        title, codes = label_map.get(name, (KEY_LABELS.get(name, name.replace("_", " ").capitalize()), {}))
        title = custom.get(name, title)
        # Only rows (objects, lists of them) read the labels inside them: plain values skip the scan.
        shown = readable(value, codes, _scoped(label_map, name) if isinstance(value, (dict, list)) else label_map)
        if shown not in (None, [], {"pairs": []}):
            items.append((title, shown))
    return items


# --------------------------------------------------------------------------------------------
# Instance data for read-only context

def definition_of(instance_id: int) -> tuple[ProcessInstance, ProcessDefinition]:
    """An instance and its pinned definition."""
    instance = db.session.get(ProcessInstance, instance_id)
    return instance, db.session.get(ProcessDefinition, instance.definition_id)


# Built once (models/kept.py says why): every task page and completion reads it.
PINNED_DEFINITION = select(ProcessDefinition).where(ProcessDefinition.id == select(
    ProcessInstance.definition_id).where(ProcessInstance.id == bindparam("_instance")).scalar_subquery())


def pinned_definition(instance_id: int) -> ProcessDefinition:
    """An instance's pinned definition (without its texts): from the session when it holds the instance (and the
    definition), else in one statement."""
    instance = db.session.identity_map.get(db.session.identity_key(ProcessInstance, instance_id))
    if instance is not None and "definition_id" in instance.__dict__:
        return db.session.get(ProcessDefinition, instance.definition_id)
    return db.session.scalar(PINNED_DEFINITION, {"_instance": instance_id})


def task_data(instance_id: int, task_id: str | None = None) -> dict:
    """Data of an open task (what it will see), or the instance's current data."""
    instance, definition = definition_of(instance_id)
    if not instance.state_json or instance.state_json == "{}":
        return {}
    spec, subs = deployment.spec_of(definition)
    workflow = serialization.load_state(instance.state_json, spec, subs, context.script_engine())
    if task_id:
        try:
            task = workflow.get_task_from_id(uuid.UUID(task_id))
            return dict(task.data)
        except Exception:  # a task dropped by compaction: fall back on the current data
            pass
    return dict(runtime.current_data(workflow))


def region_choices() -> list[str]:
    """Regions for filters."""
    return list(REGIONS)
