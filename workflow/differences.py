"""What differs between two versions of the process, value by value: each element added, removed or changed
with every attribute before and after (timer expression, condition, lane role, operator and parameters,
documentation, name, deadline ...), the elements whose role changed because their lane did, and each form
field by field. Both sides are read in their canonical form (workflow/canonical.py), so what does not change
what runs (layout, prefixes, defaults) never shows.

The structure (kept in pending deployments' reports, so JSON only):
{"ajoutes": [{id, type, nom}], "supprimes": [...], "modifies": [{id, type, nom, changements: [change]}],
 "roles": [{id, type, nom, avant, apres}], "valeurs": {"ajoutes": {id: [{cle, attribut, valeur}]}, "supprimes": {...}},
 "formulaires": {"ajoutes": [name], "supprimes": [name], "modifies": [name], "details": {name: [change]}}}
where a change is {cle, attribut, avant, apres} (None when absent), with `retires`/`ajoutes` for sets, and
`champ` for forms.
"""
from __future__ import annotations

import re

from engine import parsing
from referentiel import ROLES
from validation import lanes
from workflow import canonical, form_differences

# BPMN element types as the owners read them (the JSON report keeps BPMN's own names).
ELEMENT_TYPES = {
    "userTask": "tâche utilisateur", "serviceTask": "tâche de service", "scriptTask": "tâche de script",
    "task": "tâche", "manualTask": "tâche manuelle", "subProcess": "sous-processus", "callActivity": "appel",
    "exclusiveGateway": "passerelle exclusive", "inclusiveGateway": "passerelle inclusive",
    "parallelGateway": "passerelle parallèle", "eventBasedGateway": "passerelle d'événements",
    "startEvent": "événement de début", "endEvent": "événement de fin", "boundaryEvent": "événement de bordure",
    "intermediateCatchEvent": "événement intermédiaire", "intermediateThrowEvent": "événement émis",
    "timerEventDefinition": "minuteur", "messageEventDefinition": "message", "sequenceFlow": "flux",
    "lane": "voie", "laneSet": "ensemble de voies", "process": "processus", "dataObject": "objet de données",
    "dataObjectReference": "référence de données", "textAnnotation": "annotation", "association": "association",
    "participant": "participant", "messageFlow": "flux de message", "message": "message",
}
LABELS = {
    "nom": "Nom", "type": "Nature", "parent": "Contenu dans", "documentation": "Documentation",
    "conditionExpression": "Condition", "timeDuration": "Expression du minuteur (durée)",
    "timeDate": "Expression du minuteur (date)", "timeCycle": "Expression du minuteur (cycle)",
    "operator": "Opérateur", "operator@resultVariable": "Variable du résultat", "script": "Script",
    "preScript": "Script avant la tâche", "postScript": "Script après la tâche", "incoming": "Flux entrants",
    "outgoing": "Flux sortants", "flowNodeRef": "Éléments du couloir", "property:role": "Rôle du couloir",
    "property:targetDuration": "Délai cible", "property:targetCalendar": "Calendrier du délai cible",
    "property:formJsonSchemaFilename": "Formulaire", "property:formUiSchemaFilename": "Présentation du formulaire",
    "@default": "Flux par défaut", "@attachedToRef": "Attaché à", "@cancelActivity": "Interrompt la tâche",
    "@isInterrupting": "Interrompt", "@sourceRef": "Origine du flux", "@targetRef": "Destination du flux",
    "@isExecutable": "Exécutable", "@processRef": "Processus", "@messageRef": "Message",
    "standardLoopCharacteristics/loopCondition": "Condition de boucle",
    "standardLoopCharacteristics@loopMaximum": "Nombre maximal de tours",
    "multiInstanceLoopCharacteristics/loopCardinality": "Nombre d'instances",
    "multiInstanceLoopCharacteristics/completionCondition": "Condition de fin des instances",
    "multiInstanceLoopCharacteristics@isSequential": "Instances l'une après l'autre",
    "instructionsForEndUser": "Instructions affichées", "categoryValue@value": "Phase", "@value": "Libellé",
    "@categoryValueRef": "Phase", "text": "Texte", "@triggeredByEvent": "Déclenché par un événement",
}
CALENDARS = {"working": "heures ouvrées de la Cellule ACSS", "calendar": "heures calendaires"}
DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
UNITS = (("an", "ans"), ("mois", "mois"), ("semaine", "semaines"), ("jour", "jours"), ("heure", "heures"),
         ("minute", "minutes"), ("seconde", "secondes"))


def label(key: str) -> str:
    """The French name of a canonical field (workflow/canonical.py keys)."""
    if key in LABELS:
        return LABELS[key]
    kind, _, rest = key.partition(":")
    if kind == "parameter" and rest:
        name, _, attr = rest.partition("@")
        return f"Paramètre « {name} »" + (f" ({attr})" if attr else "")
    if kind == "property" and rest:
        return f"Propriété « {rest} »"
    base, _, attr = key.partition("@")
    base = base.replace("#text", "")
    if base in LABELS:
        return f"{LABELS[base]} ({attr})" if attr else LABELS[base]
    return " › ".join(p for p in [*base.lstrip("@").split("/"), attr] if p)


def duration_text(value: str) -> str | None:
    """An ISO 8601 duration in words (« 4 heures », « 1 semaine 2 jours »), None when it is not one."""
    found = DURATION.match(value.strip().strip("'\"")) if value else None
    if not found or not any(found.groups()):
        return None
    parts = [f"{n} {one if int(n) == 1 else many}" for n, (one, many) in zip(found.groups(), UNITS) if n]
    return " ".join(parts)


def shown(key: str, value):
    """A field's value as people read it: a timer without its quotes, a duration in words, a role's name."""
    if value is None or isinstance(value, list):
        return ", ".join(value) if isinstance(value, list) else None
    text = str(value)
    if key in canonical.TIMERS or key == "property:targetDuration":
        text = text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text
        words = duration_text(text)
        return f"{text} ({words})" if words else text
    if key == "type":
        return ELEMENT_TYPES.get(text, text)
    if key.startswith("@") and text in ("true", "false"):
        return "oui" if text == "true" else "non"
    if key == "property:role":
        return ROLES.get(text, text)
    if key == "property:targetCalendar":
        return CALENDARS.get(text, text)
    return text


def values_of(entry: dict) -> list[dict]:
    """What an added or removed element carries (its timer, condition, operator, deadline ...) as
    [{cle, attribut, valeur}]; its name and flows are told elsewhere."""
    empty = {"name": "", "type": entry["type"], "parent": entry["parent"], "fields": {}}
    return [{"cle": c["cle"], "attribut": c["attribut"], "valeur": c["apres"]} for c in element_changes(empty, entry)
            if c["cle"] not in ("nom", "incoming", "outgoing") and not c["cle"].endswith("@xsi:type")]


def _entries(entry: dict) -> dict:
    return {"nom": entry["name"], "type": entry["type"], "parent": entry["parent"], **entry["fields"]}


def element_changes(old: dict, new: dict) -> list[dict]:
    """Every value that differs between two canonical entries of one element, before and after."""
    before, after = _entries(old), _entries(new)
    changes = []
    for key in [k for k in before if k in after] + [k for k in before if k not in after] + \
            [k for k in after if k not in before]:
        old_value, new_value = before.get(key), after.get(key)
        if old_value == new_value:
            continue
        if key.startswith("@"):  # an attribute left at its default reads as that default
            defaults = {**canonical.DEFAULTS, **canonical.TYPE_DEFAULTS.get(new["type"], canonical.UNSPECIFIED)}
            default = defaults.get(key[1:])
            old_value, new_value = old_value or default, new_value or default
        change = {"cle": key, "attribut": label(key), "avant": shown(key, old_value), "apres": shown(key, new_value)}
        if key in canonical.SETS:
            change["retires"] = [v for v in old_value or [] if v not in (new_value or [])]
            change["ajoutes"] = [v for v in new_value or [] if v not in (old_value or [])]
        changes.append(change)
    return changes


def _described(ident: str, entry: dict, table: dict | None = None) -> dict:
    """{id, type, nom} of an element; an event's definition (its timer ...) also says which event holds it."""
    found = {"id": ident, "type": entry["type"], "nom": entry["name"]}
    holder = (table or {}).get(entry["parent"] or "")
    if entry["type"].endswith("EventDefinition") and holder is not None:
        found["dans"] = {"id": entry["parent"], "type": holder["type"], "nom": holder["name"]}
    return found


def role_changes(old_xml: str, new_xml: str, old: dict, new: dict) -> list[dict]:
    """The elements in both versions whose role differs (their lane changed, or their lane's role did)."""
    old_roles = lanes.element_roles(parsing.parse_xml(old_xml))
    new_roles = lanes.element_roles(parsing.parse_xml(new_xml))
    found = []
    for ident in sorted(old_roles.keys() & new_roles.keys() & old.keys() & new.keys()):
        if old_roles[ident] != new_roles[ident]:
            found.append({**_described(ident, new[ident]), "avant": ROLES.get(old_roles[ident], old_roles[ident]),
                          "apres": ROLES.get(new_roles[ident], new_roles[ident])})
    return found


def form_diff(old_forms: dict, new_forms: dict) -> dict:
    """Forms added, removed and changed, each changed one field by field."""
    changed = sorted(k for k in old_forms.keys() & new_forms.keys() if old_forms[k] != new_forms[k])
    return {"ajoutes": sorted(new_forms.keys() - old_forms.keys()),
            "supprimes": sorted(old_forms.keys() - new_forms.keys()), "modifies": changed,
            "details": {name: form_differences.form_changes(name, old_forms[name], new_forms[name])
                        for name in changed}}


def semantic_diff(old_xml: str, old_forms: dict, new_xml: str, new_forms: dict) -> dict:
    """Elements and forms added, removed and changed from one version to another, value by value."""
    old, new = canonical.canonical_form(old_xml), canonical.canonical_form(new_xml)
    changed = []
    for ident in sorted(old.keys() & new.keys()):
        if old[ident] != new[ident]:
            changed.append({**_described(ident, new[ident], new),
                            "changements": element_changes(old[ident], new[ident])})
    return {
        "ajoutes": [_described(i, new[i], new) for i in sorted(new.keys() - old.keys())],
        "supprimes": [_described(i, old[i], old) for i in sorted(old.keys() - new.keys())],
        "modifies": changed,
        "roles": role_changes(old_xml, new_xml, old, new),
        "valeurs": {"ajoutes": {i: values_of(new[i]) for i in sorted(new.keys() - old.keys())},
                    "supprimes": {i: values_of(old[i]) for i in sorted(old.keys() - new.keys())}},
        "formulaires": form_diff(old_forms or {}, new_forms or {}),
    }


def diff_is_empty(diff: dict) -> bool:
    """True when two versions mean the same."""
    forms = diff["formulaires"]
    return not any(diff.get(k) for k in ("ajoutes", "supprimes", "modifies", "roles")) and \
        not any(forms.get(k) for k in ("ajoutes", "supprimes", "modifies"))


def _value(text: str | None) -> str:
    return "(absent)" if text is None else f"« {text} »"


def lines(diff: dict, types: dict | None = None) -> list[str]:
    """The differences as French lines, for the command line (the pages use owners/admin/_differences.html)."""
    types = ELEMENT_TYPES if types is None else types

    def who(entry):
        return f"{entry['id']} ({types.get(entry['type'], entry['type'])}" + \
            (f" « {entry['nom']} »)" if entry.get("nom") else ")")
    found = []
    for key, title in (("ajoutes", "Élément ajouté"), ("supprimes", "Élément supprimé")):
        carried = diff.get("valeurs", {}).get(key, {})
        for entry in diff.get(key, []):
            found.append(f"{title} : {who(entry)}")
            found += [f"  {v['attribut']} : {_value(v['valeur'])}" for v in carried.get(entry["id"], [])]
    for element in diff.get("modifies", []):
        found.append(f"Élément modifié : {who(element)}")
        for change in element.get("changements", []):
            if "retires" in change:
                found.append(f"  {change['attribut']} : retirés {', '.join(change['retires']) or '-'} ; "
                             f"ajoutés {', '.join(change['ajoutes']) or '-'}")
            else:
                found.append(f"  {change['attribut']} : {_value(change['avant'])} → {_value(change['apres'])}")
    found += [f"Rôle changé : {who(role)} {role['avant']} → {role['apres']}" for role in diff.get("roles", [])]
    forms = diff.get("formulaires", {})
    found += [f"Formulaire ajouté : {n}" for n in forms.get("ajoutes", [])]
    found += [f"Formulaire supprimé : {n}" for n in forms.get("supprimes", [])]
    for name in forms.get("modifies", []):
        found.append(f"Formulaire modifié : {name}")
        for change in forms.get("details", {}).get(name, []):
            where = f"champ « {change['champ']} », " if change.get("champ") else ""
            found.append(f"  {where}{change['attribut']} : {_value(change['avant'])} → {_value(change['apres'])}")
    return found
