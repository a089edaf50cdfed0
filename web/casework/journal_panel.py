"""What the fiche de suivi shows of a dossier's journal (notes, attachments, indicators, links) to a user,
and the journal's events as timeline items; the routes that write in it are in web/casework/journal.py."""
from __future__ import annotations

from cases import attachments, journal, links, observables
from cases.chain import is_journal_event
from models import Dossier, User
from referentiel import OBSERVABLE_KINDS, ROLES
from web import access


def panel(dossier: Dossier, user: User, readable: bool = False, history: list | None = None) -> dict:
    """What the fiche de suivi shows of the journal to this user, and whether they may write in it; `readable`:
    the caller has just read the dossier through the visibility model (no need to check it again); `history`:
    the dossier's audit events when the caller has them. Every note, attachment and indicator is written with
    its event in the dossier's chain (cases/chain.py), so a history without such events has none to read.
    Links are always read: a link made from another dossier is an event of that dossier's chain only."""
    actions = None if history is None else {(event.payload or {}).get("action") for event in history
                                            if is_journal_event(event)}
    entries = (journal.entries(dossier, access.journal_entry_filter(user))
               if actions is None or actions & {"note", "piece_jointe"} else [])
    found = (observables.of_dossier(dossier, access.observable_filter(user))
             if actions is None or "observable" in actions else [])
    linked = (links.links_of(dossier, access.dossier_filter(user), key=("dossier_filter", access.scope_key(user)))
              if access.sees_links(user) else [])
    return {"entries": entries, "observables": found, "links": linked, "note_kinds": journal.NOTE_KINDS,
            "kinds": OBSERVABLE_KINDS, "can_write": access.can_write_journal(user, dossier, readable),
            "analyst": access.sees_internal_work(user), "max_size": attachments.size_label(attachments.max_bytes())}


def timeline_items(dossier: Dossier, user: User, events: list, names: dict, shown: dict | None = None) -> dict:
    """{seq: timeline item} of the journal events this user may see (the others are left out); `shown` is
    the page's panel(dossier, user) when it has it already (the same rows, not read twice)."""
    if not events:
        return {}
    shown = shown if shown is not None else panel(dossier, user)
    entries = {e.id: e for e in shown["entries"]}
    found = {o.id: o for o in shown["observables"]}
    linked = {link.id: other for link, other in shown["links"]}
    items = {}
    for event in events:
        payload = event.payload or {}
        action, title, text, entry = payload.get("action"), None, "", None
        if action in ("note", "piece_jointe") and payload.get("entry_id") in entries:
            entry = entries[payload["entry_id"]]
            title = journal.ENTRY_KINDS.get(entry.kind, entry.kind)
            text = entry.body
        elif action == "observable" and payload.get("observable_id") in found:
            row = found[payload["observable_id"]]
            title, text = f"Indicateur ({OBSERVABLE_KINDS.get(row.kind, row.kind)})", row.value
        elif action == "lien" and payload.get("link_id") in linked:
            title, text = f"Lien avec le dossier {linked[payload['link_id']].number}", payload.get("reason", "")
        elif action == "retrait" and _removal_visible(payload, entries, found, linked):
            title, text = "Retrait d'un élément du journal", payload.get("reason", "")
        if title is None:
            continue
        items[event.seq] = {"seq": event.seq, "at": event.at, "actor": names.get(event.actor, event.actor),
                            "role": ROLES.get(event.actor_role, event.actor_role), "title": title,
                            "entered": [], "states": [], "messages": [], "journal_text": text, "entry": entry}
    return items


def _removal_visible(payload: dict, entries: dict, found: dict, linked: dict) -> bool:
    target = {"entree": entries, "observable": found, "lien": linked}.get(payload.get("target"), {})
    return payload.get("id") in target
