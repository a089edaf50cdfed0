"""The journal of a dossier: notes (note, appel, courriel, décision) and attachments, each an event of
the dossier's audit chain (cases/chain.py), and their removal (« retiré »: a new event, never a delete).

Service functions for the web pages and the JSON API: they take the acting `User`, check that the role
writes journals (the caller checks that the user reads the dossier: web/access.py), and commit (or only
flush with `commit=False`, to join the caller's transaction).
"""
from __future__ import annotations

from sqlalchemy import select

from cases import attachments, chain
from engine.errors import EngineError
from models import Dossier, JournalEntry, User, db
from timekeeping.clock import app_now

NOTE_KINDS = {"note": "Note", "appel": "Appel téléphonique", "courriel": "Courriel reçu", "decision": "Décision"}
ENTRY_KINDS = {**NOTE_KINDS, "piece_jointe": "Pièce jointe"}
MAX_TEXT = 20000
MAX_REASON = 2000


def _text(value: str | None, limit: int, required: bool, what: str) -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if required and not text:
        raise EngineError(f"{what} : ce champ est obligatoire.", 422)
    if len(text) > limit:
        raise EngineError(f"{what} : au plus {limit} caractères.", 422)
    if "\x00" in text:
        raise EngineError(f"{what} : caractère nul non admis.", 422)
    return text


def add_note(dossier: Dossier, *, user: User, kind: str, text: str, commit: bool = True) -> JournalEntry:
    """Add a note of one of NOTE_KINDS to the dossier's journal."""
    chain.check_writer(user, "note")
    if kind not in NOTE_KINDS:
        raise EngineError("Type de note inconnu.", 422)
    text = _text(text, MAX_TEXT, True, "Texte de la note")
    with chain.transaction(commit):
        entry = JournalEntry(dossier_id=dossier.id, seq=0, kind=kind, body=text, author_id=user.id,
                             author_role=user.role, created_at=app_now())
        db.session.add(entry)
        db.session.flush()
        entry.seq = chain.append(dossier, user, {"action": "note", "entry_id": entry.id, "kind": kind, "text": text})
    return entry


def add_attachment(dossier: Dossier, *, user: User, stream, filename: str | None, comment: str = "",
                   commit: bool = True) -> JournalEntry:
    """Store an uploaded file (cases/attachments.py) and add it to the journal with an optional comment."""
    chain.check_writer(user, "piece_jointe")
    comment = _text(comment, MAX_REASON, False, "Commentaire")
    stored = attachments.store(stream, filename)
    with chain.transaction(commit):
        entry = JournalEntry(dossier_id=dossier.id, seq=0, kind="piece_jointe", body=comment, author_id=user.id,
                             author_role=user.role, created_at=app_now(), file_sha256=stored["sha256"],
                             file_name=stored["name"], file_type=stored["content_type"], file_size=stored["size"])
        db.session.add(entry)
        db.session.flush()
        entry.seq = chain.append(dossier, user, {"action": "piece_jointe", "entry_id": entry.id,
                                                 "sha256": stored["sha256"], "name": stored["name"],
                                                 "content_type": stored["content_type"], "size": stored["size"],
                                                 "comment": comment})
    return entry


def remove_entry(entry: JournalEntry, *, user: User, reason: str = "", commit: bool = True) -> None:
    """Mark a note or attachment « retiré » (a new event); a declarant removes only their own entries."""
    chain.check_writer(user, entry.kind if entry.kind == "piece_jointe" else "note")
    if user.role == "declarant" and entry.author_id != user.id:
        raise EngineError("Vous ne pouvez retirer que vos propres ajouts.", 403)
    if entry.removed_at is not None:
        return
    reason = _text(reason, MAX_REASON, False, "Motif")
    dossier = db.session.get(Dossier, entry.dossier_id)
    with chain.transaction(commit):
        chain.append(dossier, user, {"action": "retrait", "target": "entree", "id": entry.id, "reason": reason})
        entry.removed_at, entry.removed_by, entry.removal_reason = app_now(), user.id, reason


def entries(dossier: Dossier, visible=None) -> list[JournalEntry]:
    """The dossier's notes and attachments, oldest first; `visible` an extra SQL condition (web/access.py)."""
    query = select(JournalEntry).where(JournalEntry.dossier_id == dossier.id)
    if visible is not None:
        query = query.where(visible)
    return list(db.session.scalars(query.order_by(JournalEntry.seq, JournalEntry.id)))
