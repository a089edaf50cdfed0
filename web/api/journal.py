"""The journal of a dossier through the API: read its notes, attachments' metadata and indicators, add a note
or an indicator. The same service functions as the fiche de suivi (cases/), so every entry is an event of the
dossier's audit chain, and the same visibility rules (web/access.py)."""
from __future__ import annotations

from cases import journal, observables
from models import JournalEntry, Observable
from referentiel import OBSERVABLE_KINDS
from web import access
from web.api.schemas import request_text
from web.api.spec import operation
from web.casework.dossiers import READERS
from web.casework.journal import writable_dossier
from web.auth.security import french_abort

STAMP = {"type": ["string", "null"], "format": "date-time"}
ENTRY = {"type": "object", "required": ["id", "seq", "kind", "text", "author_role", "created_at", "removed"],
         "properties": {"id": {"type": "integer"}, "seq": {"type": "integer"},
                        "kind": {"type": "string", "enum": sorted(journal.ENTRY_KINDS)}, "text": {"type": "string"},
                        "author_role": {"type": "string"}, "created_at": STAMP, "removed": {"type": "boolean"},
                        "file": {"type": ["object", "null"]}}}
INDICATOR = {"type": "object", "required": ["id", "kind", "value", "normalized", "source", "created_at", "removed"],
             "properties": {"id": {"type": "integer"}, "kind": {"type": "string", "enum": sorted(OBSERVABLE_KINDS)},
                            "value": {"type": "string"}, "normalized": {"type": "string"},
                            "comment": {"type": "string"}, "source": {"type": "string"}, "created_at": STAMP,
                            "removed": {"type": "boolean"}}}
JOURNAL = {"type": "object", "required": ["entries", "indicators", "can_write"],
           "properties": {"entries": {"type": "array", "items": ENTRY},
                          "indicators": {"type": "array", "items": INDICATOR}, "can_write": {"type": "boolean"}}}
NOTE_BODY = {"type": "object", "required": ["kind", "text"], "additionalProperties": False,
             "properties": {"kind": {"type": "string", "enum": sorted(journal.NOTE_KINDS)},
                            "text": request_text(20000)}}
INDICATOR_BODY = {"type": "object", "required": ["kind", "value"], "additionalProperties": False,
                  "properties": {"kind": {"type": "string", "enum": sorted(OBSERVABLE_KINDS)},
                                 "value": request_text(2000), "comment": request_text(2000, required=False)}}


def _entry(entry: JournalEntry) -> dict:
    file = ({"name": entry.file_name, "type": entry.file_type, "size": entry.file_size, "sha256": entry.file_sha256}
            if entry.kind == "piece_jointe" else None)
    return {"id": entry.id, "seq": entry.seq, "kind": entry.kind, "text": entry.body or "",
            "author_role": entry.author_role, "created_at": entry.created_at.isoformat() if entry.created_at else None,
            "removed": entry.removed_at is not None, "file": file}


def _indicator(row: Observable) -> dict:
    return {"id": row.id, "kind": row.kind, "value": row.value, "normalized": row.normalized, "comment": row.comment or "",
            "source": row.source, "created_at": row.created_at.isoformat() if row.created_at else None,
            "removed": row.removed_at is not None}


def _text_field(data: dict, name: str, required: bool, limit: int) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        french_abort(422, f"« {name} » : un texte{' non vide' if required else ''} de {limit} caractères au plus.")
    return value


@operation("/dossiers/<int:dossier_id>/journal", roles=sorted(READERS), summary="Journal du dossier (notes, pièces "
           "jointes, indicateurs) visible par le porteur du jeton", response=JOURNAL, errors=(404,))
def read_journal(user, dossier_id):
    """The entries and indicators the user would see on the fiche de suivi."""
    dossier = access.readable_dossier(user, dossier_id)
    return {"entries": [_entry(entry) for entry in journal.entries(dossier, access.journal_entry_filter(user))],
            "indicators": [_indicator(o) for o in observables.of_dossier(dossier, access.observable_filter(user))],
            "can_write": access.can_write_journal(user, dossier)}


@operation("/dossiers/<int:dossier_id>/notes", "POST", roles=sorted(access.JOURNAL_WRITERS), status=201,
           summary="Ajouter une note au journal (note, appel, courriel reçu, décision)", body=NOTE_BODY,
           response=ENTRY, errors=(403, 404, 409, 422))
def add_note(user, data, key, dossier_id):
    """A note as an event of the dossier's chain."""
    dossier = writable_dossier(user, dossier_id)
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in journal.NOTE_KINDS:
        french_abort(422, "« kind » : un type de note parmi " + ", ".join(sorted(journal.NOTE_KINDS)) + ".")
    return _entry(journal.add_note(dossier, user=user, kind=kind, text=_text_field(data, "text", True, 20000))), 201


@operation("/dossiers/<int:dossier_id>/indicators", "POST", roles=sorted(access.JOURNAL_WRITERS - {"declarant"}),
           status=201, summary="Ajouter un indicateur de compromission (analystes)", body=INDICATOR_BODY,
           response=INDICATOR, errors=(403, 404, 409, 422))
def add_indicator(user, data, key, dossier_id):
    """An observable, checked and normalized per kind, as an event of the dossier's chain."""
    dossier = writable_dossier(user, dossier_id)
    if not isinstance(data.get("kind"), str) or data["kind"] not in OBSERVABLE_KINDS:
        french_abort(422, "« kind » : un type d'indicateur parmi " + ", ".join(sorted(OBSERVABLE_KINDS)) + ".")
    value = _text_field(data, "value", True, 2000)
    comment = _text_field(data, "comment", False, 2000)
    return _indicator(observables.add(dossier, data["kind"], value, user=user, source="analyste", comment=comment)), 201
