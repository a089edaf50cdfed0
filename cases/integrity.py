"""The journal rows must say what the chain says: each note, attachment, indicator and link shown on the
fiche de suivi is checked against the audit event that added (or removed) it, and each attachment's file
against its content hash. Called by the verifier (audit/hash_chain.py) after the chain itself.

Replay cannot check a journal event (it changes no process state); this cross-check is what makes an
edited note, indicator or file visible: altering the row, the file or the event alone is detected.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import or_, select

from cases import attachments, chain
from models import AuditEvent, Dossier, DossierLink, JournalEntry, Observable, db


def _file_matches(sha256: str) -> bool:
    try:
        path = attachments.path_of(sha256)
    except Exception:
        return False
    if not path.is_file():
        return True  # a missing file is reported by the download page; the chain still holds its hash
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(attachments.CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def _entry_differs(entry: JournalEntry | None, payload: dict) -> bool:
    if entry is None:
        return True
    if payload["action"] == "note":
        return (entry.kind, entry.body) != (payload.get("kind"), payload.get("text"))
    return (entry.kind, entry.file_sha256, entry.file_name, entry.body) != (
        "piece_jointe", payload.get("sha256"), payload.get("name"), payload.get("comment")) \
        or not _file_matches(entry.file_sha256)


def _observable_differs(row: Observable | None, payload: dict) -> bool:
    return row is None or (row.kind, row.value, row.normalized, row.source) != (
        payload.get("kind"), payload.get("value"), payload.get("normalized"), payload.get("source"))


def _has_rows(dossier_id: int) -> bool:
    """Whether any journal row refers to the dossier (one query)."""
    return bool(db.session.scalar(select(or_(
        select(JournalEntry.id).where(JournalEntry.dossier_id == dossier_id).exists(),
        select(Observable.id).where(Observable.dossier_id == dossier_id).exists(),
        select(DossierLink.id).where(or_(DossierLink.source_id == dossier_id,
                                         DossierLink.target_id == dossier_id)).exists()))))


def journal_rows(dossier_ids: list[int]) -> dict:
    """{dossier id: (entries, indicators, links, numbers)} of many dossiers, with four queries in all
    (the verifier of every dossier loads them a batch at a time)."""
    found = {i: ({}, {}, {}, {}) for i in dossier_ids}
    wanted = set(dossier_ids)
    for entry in db.session.scalars(select(JournalEntry).where(JournalEntry.dossier_id.in_(dossier_ids))):
        found[entry.dossier_id][0][entry.id] = entry
    for row in db.session.scalars(select(Observable).where(Observable.dossier_id.in_(dossier_ids))):
        found[row.dossier_id][1][row.id] = row
    links = list(db.session.scalars(select(DossierLink).where(
        or_(DossierLink.source_id.in_(dossier_ids), DossierLink.target_id.in_(dossier_ids)))))
    numbers = dict(db.session.execute(select(Dossier.id, Dossier.number).where(
        Dossier.id.in_({i for link in links for i in (link.source_id, link.target_id)} or {0}))).all())
    for link in links:
        for end in {link.source_id, link.target_id} & wanted:
            found[end][2][link.id] = link
            found[end][3].update({i: numbers.get(i) for i in (link.source_id, link.target_id)})
    return found


def _rows_of(dossier_id: int) -> tuple[dict, dict, dict, dict]:
    entries = {e.id: e for e in db.session.scalars(select(JournalEntry).where(JournalEntry.dossier_id == dossier_id))}
    found = {o.id: o for o in db.session.scalars(select(Observable).where(Observable.dossier_id == dossier_id))}
    linked = {link.id: link for link in db.session.scalars(select(DossierLink).where(
        or_(DossierLink.source_id == dossier_id, DossierLink.target_id == dossier_id)))}
    numbers = dict(db.session.execute(select(Dossier.id, Dossier.number).where(
        Dossier.id.in_({i for link in linked.values() for i in (link.source_id, link.target_id)} or {0}))).all())
    return entries, found, linked, numbers


def check_journal(dossier_id: int, events: list[AuditEvent], rows: tuple | None = None) -> tuple[int, str] | None:
    """(step, reason) of the first journal row that disagrees with the chain, or None. `rows`: the dossier's
    rows as `journal_rows` loads them (else they are read here)."""
    journal_events = [e for e in events if chain.is_journal_event(e)]
    if rows is not None:
        if not journal_events and not any(rows[:3]):
            return None
        entries, found, linked, numbers = rows
    else:
        if not journal_events and not _has_rows(dossier_id):
            return None  # the common case: one cheap query
        entries, found, linked, numbers = _rows_of(dossier_id)
    seen, removed = {"entree": set(), "observable": set(), "lien": set()}, {"entree": set(), "observable": set(),
                                                                            "lien": set()}
    for event in journal_events:
        payload = event.payload or {}
        action = payload.get("action")
        if action in ("note", "piece_jointe"):
            entry = entries.get(payload.get("entry_id"))
            if _entry_differs(entry, payload) or entry.seq != event.seq:
                return event.seq, "une note ou pièce jointe du journal diffère de l'événement qui l'a ajoutée"
            seen["entree"].add(entry.id)
        elif action == "observable":
            if _observable_differs(found.get(payload.get("observable_id")), payload):
                return event.seq, "un indicateur du dossier diffère de l'événement qui l'a ajouté"
            seen["observable"].add(payload["observable_id"])
        elif action == "lien":
            link = linked.get(payload.get("link_id"))
            if link is None or link.reason != payload.get("reason") or payload.get("other") not in (
                    numbers.get(link.source_id), numbers.get(link.target_id)):
                return event.seq, "un lien entre dossiers diffère de l'événement qui l'a ajouté"
            seen["lien"].add(link.id)
        elif action == "retrait" and payload.get("target") in removed:
            removed[payload["target"]].add(payload.get("id"))
        else:
            return event.seq, "entrée de journal d'un type inconnu"
    last = events[-1].seq if events else 0
    rows = {"entree": entries, "observable": found, "lien": linked}
    for target, by_id in rows.items():
        for ident, row in by_id.items():
            if ident not in seen[target]:
                return last + 1, "une entrée du journal n'a pas d'événement dans la chaîne (ajoutée hors du journal)"
            if (row.removed_at is not None) != (ident in removed[target]):
                return last + 1, "un retrait du journal ne correspond pas à la chaîne"
    return None
