"""What changed in a form, field by field, from its JSON Schema (or UI schema): a field added or removed, its
title, type, possible values, whether it is required, its length bounds ... each with the value before and
after, worded in French for the process owner."""
from __future__ import annotations

import json

MAX_SHOWN = 400  # characters of a long value (a conditional schema ...) shown in a difference
MAX_DEPTH = 16  # nested objects compared field by field; deeper ones are compared as their parent's keywords

KEYWORDS = {
    "title": "Titre", "description": "Description", "type": "Type", "valeurs": "Valeurs possibles",
    "required": "Obligatoire", "maxLength": "Longueur maximale", "minLength": "Longueur minimale",
    "pattern": "Motif attendu", "format": "Format", "minimum": "Minimum", "maximum": "Maximum",
    "exclusiveMinimum": "Minimum exclu", "exclusiveMaximum": "Maximum exclu", "default": "Valeur par défaut",
    "maxItems": "Nombre maximal d'éléments", "minItems": "Nombre minimal d'éléments", "const": "Valeur imposée",
    "readOnly": "Lecture seule", "uniqueItems": "Éléments distincts", "allOf": "Règles conditionnelles",
    "if": "Condition (si)", "then": "Alors", "else": "Sinon", "additionalProperties": "Champs supplémentaires",
    "ui:order": "Ordre des champs", "ui:widget": "Présentation", "ui:help": "Aide", "ui:placeholder": "Exemple affiché",
    "ui:context": "Données du dossier affichées", "ui:title": "Titre affiché", "ui:options": "Options d'affichage",
}
NESTED = ("properties", "items", "required")
TYPES = {"string": "texte", "boolean": "oui/non", "integer": "nombre entier", "number": "nombre", "array": "liste",
         "object": "groupe de champs", "null": "vide"}


def shown(value) -> str | None:
    """A keyword's value as people read it (None when absent)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = ", ".join(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        except (RecursionError, ValueError):
            text = "(valeur trop imbriquée pour être affichée)"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + " …"


def _choices(schema: dict) -> list[str] | None:
    """The values a field accepts: its enum, or the consts of its oneOf/anyOf (with their titles)."""
    if isinstance(schema.get("enum"), list):
        return [shown(v) for v in schema["enum"]]
    options = schema.get("oneOf") or schema.get("anyOf")
    if isinstance(options, list) and options and all(isinstance(o, dict) and "const" in o for o in options):
        return [shown(o["const"]) + (f" « {o['title']} »" if o.get("title") else "") for o in options]
    return None


def fields_of(schema, prefix: str = "", depth: int = 0) -> dict[str, dict]:
    """{field path: its keywords} of a JSON Schema's properties, nested objects and array items included."""
    found: dict[str, dict] = {}
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict) or depth > MAX_DEPTH:
        return found
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    for name, sub in schema["properties"].items():
        path = f"{prefix}{name}"
        if not isinstance(sub, dict):
            found[path] = {"schema": sub, "required": name in required}
            continue
        nested = depth < MAX_DEPTH
        keywords = {k: v for k, v in sub.items() if k not in NESTED or not nested}
        choices = _choices(sub)
        if choices is not None:
            for k in ("enum", "oneOf", "anyOf"):
                keywords.pop(k, None)
            keywords["valeurs"] = choices
        keywords["required"] = name in required
        found[path] = keywords
        if not nested:
            continue
        found.update(fields_of(sub, f"{path}.", depth + 1))
        if isinstance(sub.get("items"), dict):
            items = sub["items"]
            item_choices = _choices(items)
            if item_choices is not None:
                found[path]["valeurs"] = item_choices
            found.update(fields_of(items, f"{path}[].", depth + 1))
    return found


def _compare(old: dict, new: dict, field: str | None) -> list[dict]:
    changes = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k not in KEYWORDS, k)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == "type":
            before, after = _type_name(before), _type_name(after)
        change = {"champ": field, "cle": key, "attribut": KEYWORDS.get(key, key),
                  "avant": shown(before), "apres": shown(after)}
        if key == "valeurs" and isinstance(before, list) and isinstance(after, list):
            change["retires"] = [v for v in before if v not in after]
            change["ajoutes"] = [v for v in after if v not in before]
        changes.append(change)
    return changes


def _type_name(kind):
    if isinstance(kind, list):
        return [TYPES.get(k, k) if isinstance(k, str) else k for k in kind]
    return TYPES.get(kind, kind) if isinstance(kind, str) else kind


def _field_summary(keywords: dict) -> str:
    title, kind = keywords.get("title"), shown(_type_name(keywords.get("type")))
    parts = [f"« {title} »" if title else None, kind, "obligatoire" if keywords.get("required") else None]
    return ", ".join(p for p in parts if p) or "champ"


def schema_changes(old: dict, new: dict) -> list[dict]:
    """The differences of two JSON Schemas: the form's own keywords, then field by field."""
    old_top = {k: v for k, v in (old or {}).items() if k not in NESTED}
    new_top = {k: v for k, v in (new or {}).items() if k not in NESTED}
    changes = _compare(old_top, new_top, None)
    old_fields, new_fields = fields_of(old), fields_of(new)
    for path in sorted(old_fields.keys() | new_fields.keys()):
        if path not in old_fields:
            changes.append({"champ": path, "cle": "champ", "attribut": "Champ", "avant": None,
                            "apres": _field_summary(new_fields[path])})
        elif path not in new_fields:
            changes.append({"champ": path, "cle": "champ", "attribut": "Champ",
                            "avant": _field_summary(old_fields[path]), "apres": None})
        else:
            changes += _compare(old_fields[path], new_fields[path], path)
    return changes


def ui_changes(old: dict, new: dict) -> list[dict]:
    """The differences of two UI schemas: their `ui:` keywords, then field by field."""
    old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
    top = [k for k in old.keys() | new.keys() if k.startswith("ui:") or not isinstance(old.get(k, new.get(k)), dict)]
    changes = _compare({k: old.get(k) for k in top}, {k: new.get(k) for k in top}, None)
    for name in sorted((old.keys() | new.keys()) - set(top)):
        before, after = old.get(name), new.get(name)
        changes += _compare(before if isinstance(before, dict) else {"valeur": before},
                            after if isinstance(after, dict) else {"valeur": after}, name)
    return changes


def form_changes(name: str, old, new) -> list[dict]:
    """The differences of one form file between two versions, by its kind (schema or UI schema)."""
    if name.endswith(".uischema.json"):
        return ui_changes(old, new)
    if isinstance(old, dict) and isinstance(new, dict):
        return schema_changes(old, new)
    return [{"champ": None, "cle": "contenu", "attribut": "Contenu", "avant": shown(old), "apres": shown(new)}]
