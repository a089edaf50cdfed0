"""The journal of account and structure changes: append-only, each entry chained to the previous one.

Who created, changed, deactivated or re-activated which account or structure, who sent which password
link and who used it; an administrator can prove with `verify()` that no entry was altered or removed.
"""
from __future__ import annotations

from sqlalchemy import select

from engine.serialization import canonical_json, sha256
from models import AccountEvent, db
from timekeeping.clock import app_now

GENESIS = "0" * 64


def _digest(event: AccountEvent) -> str:
    return sha256(canonical_json({
        "at": event.at.isoformat(), "actor": event.actor, "action": event.action, "target_kind": event.target_kind,
        "target_id": event.target_id, "details": event.details, "prev_hash": event.prev_hash,
    }))


def record(actor: str, action: str, target_kind: str, target_id: int | None, details: dict | None = None) -> AccountEvent:
    """Append one entry in the caller's transaction (the unique hash refuses a concurrent fork of the chain)."""
    last = db.session.scalar(select(AccountEvent.hash).order_by(AccountEvent.id.desc()).limit(1))
    event = AccountEvent(at=app_now(), actor=actor, action=action, target_kind=target_kind, target_id=target_id,
                         details=details or {}, prev_hash=last or GENESIS)
    event.hash = _digest(event)
    db.session.add(event)
    return event


def verify() -> list[str]:
    """French descriptions of every broken link of the chain (empty when it is intact)."""
    problems, previous = [], GENESIS
    for event in db.session.scalars(select(AccountEvent).order_by(AccountEvent.id)):
        if event.prev_hash != previous:
            problems.append(f"Entrée {event.id} : le chaînage ne suit pas l'entrée précédente (suppression ou insertion).")
        if _digest(event) != event.hash:
            problems.append(f"Entrée {event.id} : contenu modifié après son enregistrement.")
        previous = event.hash
    return problems


def history(target_kind: str, target_id: int, limit: int = 50) -> list[AccountEvent]:
    """The latest entries about one account or structure, newest first."""
    return list(db.session.scalars(select(AccountEvent).where(AccountEvent.target_kind == target_kind,
                                                              AccountEvent.target_id == target_id)
                                   .order_by(AccountEvent.id.desc()).limit(limit)))
