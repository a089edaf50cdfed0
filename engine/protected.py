"""Data the BPMN cannot touch: the names of task data that the application sets, in one place.

A dossier's task data mixes what the process computes (forms, service results, scripts) with what the
application itself puts there and relies on: the start data (who declared, for which structure and site,
under which number) and the fields that decide who may read the dossier (the armées' choice of the
national body to inform, the « Diffusion restreinte » level and the content it protects). A process
version may read these names but never write them: the validator refuses a script, a pre/post script,
a service-task result or a form field that would (validation/protected_data.py), and the engine refuses
such a write at run time (engine/runtime.py), so that a process owner cannot redirect mail or widen who
reads a dossier by editing the BPMN.
"""
from __future__ import annotations

import json

# What workflow.commands.start_dossier and the declaration paths (web/declaration, web/api) put in the start data.
START_DATA = {
    "structure": "la structure déclarante : identité, FINESS, type, contact",
    "declarant": "le déclarant : nom, adresse, téléphone, fonction",
    "dossier": "le numéro et la référence du dossier",
    "finess_site": "le FINESS du site concerné",
}
# What decides who reads a military hospital's dossier (workflow/sync.py, web/access.py RESTRICTED_FIELDS):
# written by the armées' own form, never by the process.
VISIBILITY_DATA = {
    "information_armees": "l'entité nationale informée par le ministère des armées, qui décide qui lit le dossier",
    "niveau_confidentialite": "le niveau de confidentialité, « Diffusion restreinte » ou non",
    "synthese_armees": "la synthèse du ministère des armées, contenu en diffusion restreinte",
}
DESCRIPTIONS = {**START_DATA, **VISIBILITY_DATA}
PROTECTED = frozenset(DESCRIPTIONS)

_ABSENT = "\x00absent"
# json.dumps(value, sort_keys=True, default=repr), with its encoder made once: snapshots are taken around every
# script and service call.
_ENCODE = json.JSONEncoder(sort_keys=True, default=repr).encode


def describe(name: str) -> str:
    """« declarant » (le déclarant, ...): how a refusal names a protected value."""
    return f"« {name} » ({DESCRIPTIONS[name]})"


def snapshot(data) -> dict:
    """The protected values of task data, as canonical text (absent ones marked), to compare later."""
    if not isinstance(data, dict):
        return {}
    return {name: _ABSENT if name not in data else _ENCODE(data[name]) for name in PROTECTED}


def changed(before: dict, data) -> list[str]:
    """The protected names whose value differs from the snapshot `before` (added, changed or removed)."""
    after = snapshot(data)
    return sorted(name for name in PROTECTED if before.get(name, _ABSENT) != after.get(name, _ABSENT))
