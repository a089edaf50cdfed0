"""The replayed data as an auditor reads it: each value under its form field's label, codes as their French
labels, booleans Oui/Non, instants in Paris time, mail kinds by their title, people by name; the raw keys
and JSON stay in the page's « Données brutes »."""
from __future__ import annotations

import json
import re

from sqlalchemy import select

from mail.notifications import SUBJECTS
from models import User, db
from referentiel import OBSERVABLE_KINDS
from web import forms

# Variables the process itself writes (service tasks, the start command), with the labels of their keys.
PROCESS_VARIABLES = {
    "structure": "Structure déclarante", "declarant": "Déclarant", "dossier": "Dossier",
    "etat_dossier": "État du dossier", "heures_ouvrees": "Contrôle des heures ouvrées",
    "notification": "Dernier message envoyé", "fiches": "Fiches réflexes", "similaires": "Incidents similaires",
    "retex": "Retour d'expérience", "retex_anonymise": "Retour d'expérience anonymisé",
    "retex_similaires": "Retours d'expérience similaires", "base_connaissances": "Base de connaissances",
    "finess_site": "FINESS du site concerné",
}
SUB_LABELS = {
    "etat": "État", "hors_heures": "Hors heures ouvrées", "instant": "Instant du contrôle", "motif": "Motif",
    "modele": "Modèle du message", "destinataires": "Destinataires", "entites": "Entités alertées",
    "fiches": "Fiches", "fiches_transmises": "Fiches transmises", "prestataires": "Prestataires",
    "candidats_examines": "Dossiers examinés", "correspondances": "Correspondances", "dossiers": "Dossiers",
    "nombre": "Nombre", "seuil": "Seuil de ressemblance", "retex_id": "Numéro du retour d'expérience",
    "a_relire": "À relire", "partage": "Partagé", "entrees": "Entrées", "cle": "Clé", "lien": "Lien",
    "titre": "Titre", "version": "Version", "score": "Ressemblance", "raisons": "Raisons",
}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)


def mail_title(kind: str) -> str:
    """A mail template's title: its subject line without the dossier's placeholders."""
    subject = SUBJECTS.get(kind)
    if subject is None:
        return kind
    return re.sub(r"\s*(?:-\s*)?\{[a-z_]+\}", "", subject).strip(" -")


def people_names(data: dict) -> dict:
    """{e-mail: name} of the accounts named anywhere in the data (shown by name)."""
    found = set(EMAIL.findall(json.dumps(data, ensure_ascii=False, default=str)))
    if not found:
        return {}
    return {u.email: u.name for u in db.session.scalars(select(User).where(User.email.in_(found)))}


def _label(key: str, label_map: dict, parent: str | None = None) -> str:
    if parent is not None:
        scoped = label_map.get(f"{parent}.{key}")
        if scoped:
            return scoped[0]
        if key in forms.KEY_LABELS:
            return forms.KEY_LABELS[key]
    elif key in label_map:
        return label_map[key][0]
    elif key in PROCESS_VARIABLES:
        return PROCESS_VARIABLES[key]
    return SUB_LABELS.get(key) or key.replace("_", " ").capitalize()


def _text(value, codes: dict, label_map: dict, people: dict, key: str = "") -> str:
    """One value as French text."""
    if key == "modele" and isinstance(value, str):
        return mail_title(value)
    if isinstance(value, str) and value in people:
        return f"{people[value]} ({value})"
    if key == "kind" and isinstance(value, str):
        return OBSERVABLE_KINDS.get(value, value)
    if isinstance(value, dict):
        return " ; ".join(f"{_label(k, label_map, key)} : {_text(v, label_map.get(f'{key}.{k}', ('', {}))[1], label_map, people, k)}"
                          for k, v in value.items() if k not in forms.HIDDEN_KEYS and v not in (None, "", []))
    if isinstance(value, list):
        return ", ".join(_text(v, codes, label_map, people, key) for v in value) or "aucun"
    shown = forms.readable(value, codes, label_map)
    if shown is None:
        return "-"
    return str(shown)


def value_text(value, label_map: dict, people: dict) -> str:
    """Any recorded value (a service's result) as French text."""
    return _text(value, {}, label_map, people)


def readable_rows(data: dict, label_map: dict, people: dict) -> list[dict]:
    """[{"label", "value"}] of the data: a variable's keys one per row (« Structure déclarante - Département »)."""
    rows = []
    for name in sorted(data, key=lambda n: (n not in label_map, _label(n, label_map))):
        value = data[name]
        codes = label_map.get(name, ("", {}))[1]
        if isinstance(value, dict) and value:
            parent = _label(name, label_map)
            keys = [k for k in forms.KEY_LABELS if k in value] + [k for k in value if k not in forms.KEY_LABELS]
            for key in keys:
                if key in forms.HIDDEN_KEYS:
                    continue
                sub_codes = label_map.get(f"{name}.{key}", ("", {}))[1] or (
                    label_map.get(key, ("", {}))[1] if key in forms.KEY_LABELS else {})
                rows.append({"label": f"{parent} - {_label(key, label_map, name)}",
                             "value": _text(value[key], sub_codes, label_map, people, key)})
        else:
            rows.append({"label": _label(name, label_map), "value": _text(value, codes, label_map, people, name)})
    return rows


def readable_diff(changes: list[dict], label_map: dict, people: dict) -> list[dict]:
    """The replayer's changes (raw paths) with each path's label and French values."""
    out = []
    for change in changes:
        top, _, key = change["chemin"].partition(".")
        label = _label(top, label_map)
        if key:
            label = f"{label} - {_label(key.split('.')[-1], label_map, top)}"
        codes = label_map.get(f"{top}.{key}" if key else top, ("", {}))[1] or (
            label_map.get(key, ("", {}))[1] if key in forms.KEY_LABELS else {})
        last = key.split(".")[-1] if key else top
        out.append(dict(change, libelle=label,
                        avant="-" if change["avant"] is None else _text(change["avant"], codes, label_map, people, last),
                        apres="-" if change["apres"] is None else _text(change["apres"], codes, label_map, people, last)))
    return out
