"""Load user-task form schemas, validate submissions with French messages, coerce HTML form posts,
and check a task's submission against the forms deployed with its definition."""
import copy
import json
import math
import os
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import has_request_context, request
from jsonschema import Draft202012Validator, FormatChecker

from engine.errors import EngineError
from models import ProcessDefinition
from referentiel import plural

_CACHE: dict[str, tuple[int, dict]] = {}
PARIS = ZoneInfo("Europe/Paris")
FORMAT_CHECKER = FormatChecker(formats=())
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# What a datetime-local input sends ("2024-03-01T14:30"), plus optional seconds and offset.
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII)


def _iso_check(pattern: re.Pattern, parse):
    """Build a format check: the exact ISO shape first, then a real calendar/clock check."""
    def check(value) -> bool:
        if not isinstance(value, str):
            return True  # formats only constrain strings; `type` reports the rest
        try:
            return bool(pattern.fullmatch(value)) and parse(value) is not None
        except ValueError:
            return False
    return check


FORMAT_CHECKER.checks("date")(_iso_check(_DATE_RE, date.fromisoformat))
FORMAT_CHECKER.checks("date-time")(_iso_check(_DATETIME_RE, datetime.fromisoformat))


def load_form(forms_dir, filename: str) -> dict:
    """Return the parsed JSON of forms_dir/filename, re-read only when the file changes."""
    base = os.path.realpath(forms_dir)
    path = os.path.realpath(os.path.join(base, filename))
    if os.path.dirname(path) != base:
        raise ValueError(f"form file outside {forms_dir}: {filename}")
    mtime = os.stat(path).st_mtime_ns
    cached = _CACHE.get(path)
    if cached is None or cached[0] != mtime:
        with open(path, encoding="utf-8") as f:
            cached = (mtime, json.load(f))
        _CACHE[path] = cached
    # Callers get their own copy so that nobody mutates the cached schema.
    return copy.deepcopy(cached[1])


# When a field has several errors, the first kind in this list is the one reported.
_PRIORITY = ["required", "additionalProperties", "type", "const", "enum", "oneOf", "anyOf", "format", "minLength",
             "maxLength", "pattern", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf",
             "minItems", "maxItems", "uniqueItems"]
_MESSAGES = {
    "type:string": "Texte attendu.",
    "type:integer": "Nombre entier attendu.",
    "type:number": "Nombre attendu.",
    "type:boolean": "Répondez par oui ou par non.",
    "type:array": "Liste de valeurs attendue.",
    "enum": "Valeur non autorisée.",
    "oneOf": "Valeur non autorisée.",
    "anyOf": "Valeur non autorisée.",
    "pattern": "Format invalide.",
    "maxLength": "Saisissez au plus {} caractères.",
    "minimum": "La valeur doit être supérieure ou égale à {}.",
    "exclusiveMinimum": "La valeur doit être strictement supérieure à {}.",
    "maximum": "La valeur doit être inférieure ou égale à {}.",
    "exclusiveMaximum": "La valeur doit être strictement inférieure à {}.",
    "multipleOf": "La valeur doit être un multiple de {}.",
    "uniqueItems": "Chaque valeur ne peut être choisie qu'une fois.",
    "format:date": "Date invalide (format attendu : AAAA-MM-JJ).",
    "format:date-time": "Date et heure invalides (format attendu : AAAA-MM-JJ HH:MM).",
}


def _message(error) -> str:
    """Translate one jsonschema error into a French sentence."""
    kind, value = error.validator, error.validator_value
    if kind in ("type", "format"):
        first = value[0] if isinstance(value, list) else value
        return _MESSAGES.get(f"{kind}:{first}", "Format invalide." if kind == "format" else "Type incorrect.")
    if kind == "const":
        return "Cette case doit être cochée." if value is True else "Valeur non autorisée."
    if kind == "minLength":
        return "Ce champ est obligatoire." if value <= 1 else f"Saisissez au moins {value} caractères."
    if kind == "minItems":
        return "Choisissez au moins une valeur." if value <= 1 else f"Choisissez au moins {value} valeurs."
    if kind == "maxItems":
        return f"Choisissez au plus {plural(value, 'valeur')}."
    return _MESSAGES.get(kind, "Valeur invalide.").format(value)


# What compiled validators said during this request, in the request's own WSGI environ: {(id of the validator, the
# data as canonical JSON): (the validator, its errors)} (the entry holds the validator, so its id names no other).
# A declaration through the API validates each block twice with the same validator, up front (all errors of the four
# blocks at once) and in its command (the gate every path goes through): the second time is a lookup. A validator is
# a pure function of the data (its schema and format checks read nothing else), so a result stays true; the key is
# the data as it is at that moment, so data changed in between is validated again. Kept for the request only:
# another request's data is judged afresh (flask.g would not do: it lives as long as the application context, which
# a test or a command may keep open over several requests).
_RESULTS_KEY = "signalement.form_results"
_RESULTS_SIZE = 16


def validate(schema: dict, data: dict, validator: Draft202012Validator | None = None) -> dict[str, str]:
    """Return {field: French message} for every invalid top-level field ("" for the form itself)."""
    if validator is None:
        return _validate(Draft202012Validator(schema, format_checker=FORMAT_CHECKER), data)
    key = _result_key(validator, data)
    if key is None:
        return _validate(validator, data)
    results = request.environ.setdefault(_RESULTS_KEY, {})
    if key in results:
        return dict(results[key][1])
    errors = _validate(validator, data)
    if len(results) < _RESULTS_SIZE:
        results[key] = (validator, dict(errors))
    return errors


def _result_key(validator: Draft202012Validator, data) -> tuple | None:
    """The key of this data's result in the request's kept ones; None outside a request, for what is not JSON, and
    for data JSON would write like other data (a tuple for a list, a number as a key)."""
    if not has_request_context():
        return None
    try:
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return (id(validator), text) if json.loads(text) == data else None


def _validate(validator: Draft202012Validator, data: dict) -> dict[str, str]:
    found: dict[str, tuple[int, str]] = {}

    def add(field: str, kind: str, message: str) -> None:
        rank = _PRIORITY.index(kind) if kind in _PRIORITY else len(_PRIORITY)
        if field not in found or rank < found[field][0]:
            found[field] = (rank, message)

    unknown: list[str] = []
    for error in validator.iter_errors(data):
        path = list(error.absolute_path)
        if path:
            add(str(path[0]), error.validator, _message(error))
        elif error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    add(name, "required", "Ce champ est obligatoire.")
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {})
            unknown += [k for k in error.instance if k not in known and k not in unknown]
        elif error.validator == "type":
            add("", "type", "Le formulaire envoyé n'est pas un objet.")
        else:
            add("", error.validator, _message(error))
    if unknown:
        label = "Champ inconnu" if len(unknown) == 1 else "Champs inconnus"
        add("", "additionalProperties", f"{label} : {', '.join(sorted(map(str, unknown)))}")
    return {field: message for field, (_, message) in found.items()}


_TRUE = {"true", "on", "1", "oui", "yes"}
_FALSE = {"false", "off", "0", "non", "no"}


def _field_type(prop: dict) -> str | None:
    """Return the JSON type of a property, inferred from const/enum/oneOf when not declared."""
    declared = prop.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), None)
    if declared:
        return declared
    consts = [prop["const"]] if "const" in prop else list(prop.get("enum", []))
    consts += [c.get("const") for c in prop.get("oneOf", []) if isinstance(c, dict)]
    if consts and all(isinstance(c, bool) for c in consts):
        return "boolean"
    return None


def _scalar(kind: str | None, text: str):
    """Convert one non-empty string to the JSON type, or return the string unchanged."""
    if not isinstance(text, str):
        return text
    if kind == "boolean":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if kind not in ("integer", "number"):
        return text
    compact = re.sub(r"[\s\u00a0\u202f]", "", text)  # "1 000" with plain or French spaces
    try:
        return int(compact)
    except ValueError:
        pass
    try:
        number = float(compact.replace(",", ".") if kind == "number" else compact)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    if kind == "integer":
        return int(number) if number.is_integer() else text
    return number


def _clean(values) -> list[str]:
    """Normalise line endings and surrounding blanks, dropping empty values."""
    if isinstance(values, str):
        values = [values]
    cleaned = (v.replace("\r\n", "\n").strip() if isinstance(v, str) else v for v in values)
    return [v for v in cleaned if v not in ("", None)]


def coerce(schema: dict, form) -> dict:
    """Turn an HTML form post {name: [strings]} into typed JSON for the schema's properties."""
    properties = schema.get("properties", {})
    getlist = getattr(form, "getlist", None)
    data: dict = {}
    # Only schema properties are read: CSRF tokens and submit buttons are not answers.
    for name, prop in properties.items():
        if name not in form:
            continue
        values = _clean(getlist(name) if getlist else form[name])
        if not values:
            continue  # an empty input means "no answer", so `required` reports it
        kind = _field_type(prop)
        if kind == "array":
            item_kind = _field_type(prop.get("items", {})) if isinstance(prop.get("items"), dict) else None
            data[name] = [_scalar(item_kind, v) for v in values]
        elif kind == "boolean" and len(values) > 1:
            # A hidden "false" followed by a checked checkbox's "true": any yes wins.
            converted = [_scalar("boolean", v) for v in values]
            data[name] = True if True in converted else False if all(c is False for c in converted) else values
        elif len(values) > 1:
            data[name] = values  # keep them all; validation reports the wrong type
        else:
            data[name] = _scalar(kind, values[0])
    return data


# --------------------------------------------------------------------------------------------
# The forms deployed with a definition, checked when a task is completed

class FormErrors(EngineError):
    """Submitted data does not match the task's form; `errors` maps fields to French messages."""

    status = 422

    def __init__(self, errors: dict):
        super().__init__("Le formulaire contient des erreurs.")
        self.errors = errors


_forms_cache: dict = {}
_validators: dict = {}  # (definition content hash, form name) -> its compiled validator


def forms_of(definition: ProcessDefinition) -> dict:
    """The forms deployed with a definition, cached by content hash (definitions never change)."""
    key = definition.content_hash
    if key not in _forms_cache:
        _forms_cache[key] = definition.forms
    return _forms_cache[key]


def validator_of(definition: ProcessDefinition, form_name: str) -> Draft202012Validator:
    """The compiled validator of a deployed form, built once per definition content and form (a definition's
    content never changes, and building one costs more than validating)."""
    key = (definition.content_hash, form_name)
    validator = _validators.get(key)
    if validator is None:
        validator = _validators[key] = Draft202012Validator(forms_of(definition)[form_name],
                                                            format_checker=FORMAT_CHECKER)
    return validator


def validate_form(definition: ProcessDefinition, form_name: str | None, data: dict,
                  not_asked: frozenset = frozenset(), now: datetime | None = None) -> dict:
    """Validate submitted data against the task's JSON Schema (the definition's own copy), without the
    questions `not_asked` (see `not_asked`): those are neither required nor kept."""
    if not form_name:
        return dict(data)
    schema = forms_of(definition).get(form_name)
    if schema is None:
        raise EngineError(f"Formulaire introuvable : {form_name}.", 500)
    data = {name: value for name, value in data.items() if name not in not_asked}
    if not_asked:  # questions hidden by the UI schema: a narrowed schema, not cached
        errors = validate(without_fields(schema, not_asked), data)
    else:
        errors = validate(schema, data, validator_of(definition, form_name))
    errors = {**date_errors(schema, data, now), **errors}
    if errors:
        raise FormErrors(errors)
    return dict(data)


def _instant(value, paris):
    """A date or date-time value as an aware instant (naive ones are Paris time), or None."""
    if not isinstance(value, str):
        return None
    try:
        if _DATE_RE.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), paris)
        if _DATETIME_RE.fullmatch(value):
            moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=paris)
    except ValueError:
        return None
    return None


def date_errors(schema: dict, data: dict, now: datetime | None) -> dict[str, str]:
    """Date coherence from the schema's annotations: `x-notInFuture` (not after the submission) and
    `x-notAfter` (not after the date of the field it names). A bad annotation checks nothing."""
    paris, errors = PARIS, {}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for name, prop in properties.items():
        moment = _instant(data.get(name), paris) if isinstance(prop, dict) else None
        if moment is None:
            continue
        if prop.get("x-notInFuture") is True and now is not None and moment > now + timedelta(minutes=1):
            errors[name] = "Cette date est dans le futur : saisissez une date passée (ou l'heure actuelle)."
            continue
        other = prop.get("x-notAfter")
        limit = _instant(data.get(other), paris) if isinstance(other, str) and other in properties else None
        if limit is not None and moment > limit:
            title = properties[other].get("title", other) if isinstance(properties[other], dict) else other
            errors[name] = f"Cette date ne peut pas être postérieure à « {title} »."
    return errors


def _path_value(data: dict, path: str):
    """The value at a dotted path of task data ("structure.type"), or None."""
    value = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def matches(condition, data: dict) -> bool:
    """Whether task data meets a UI condition {"dotted.path": value or [values], ...} (all must hold);
    plain comparisons of data, never an expression."""
    if not isinstance(condition, dict) or not condition:
        return False
    for path, expected in condition.items():
        allowed = expected if isinstance(expected, list) else [expected]
        if not isinstance(path, str) or _path_value(data, path) not in allowed:
            return False
    return True


def not_asked(ui: dict, data: dict) -> frozenset:
    """The fields a UI schema hides for this task's data (`"ui:hiddenWhen": {"structure.type": "hopital_armees"}`):
    questions that do not apply are neither shown nor required."""
    return frozenset(name for name, options in (ui or {}).items()
                     if isinstance(options, dict) and matches(options.get("ui:hiddenWhen"), data))


def without_fields(schema: dict, names: frozenset) -> dict:
    """A copy of a schema without some properties (nor their requirement)."""
    if not names:
        return schema
    schema = copy.deepcopy(schema)
    for name in names:
        schema.get("properties", {}).pop(name, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in names]
    return schema
