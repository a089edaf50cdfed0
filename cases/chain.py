"""Journal entries as events of the dossier's audit chain: the lock, the event and the transaction.

A journal entry is not a process command: its event keeps the instance's state hash, visits nothing and
runs no handler, so replay skips it without touching the engine state (audit/replayer.py) while the
chain (seq + 1, prev_hash, hash) covers it like any command. The instance row is locked (FOR UPDATE,
and its version column bumped) exactly as the commands lock it, so that an entry and a command never
interleave: the loser of a race gets `Conflict`, never a broken chain.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import Conflict, EngineError
from models import AuditEvent, Dossier, ProcessInstance, User, db
from referentiel import OBSERVABLE_KINDS
from timekeeping.clock import app_now
from workflow.event_chain import AUDIT_COLUMNS, event_hash

JOURNAL_COMMAND = "journal"
# Roles that write in a dossier's journal (on the dossiers they read); DGS and auditors only read it.
WRITER_ROLES = {"acss", "ars", "hfds", "armees", "declarant"}
# Declarants may add notes and attachments to their own dossier (shared with the analysts), and the
# indicators of their declaration form (source « declarant »); never links nor the analysts' indicators.
DECLARANT_ACTIONS = {"note", "piece_jointe", "indicateur_declare"}


def is_journal_event(event: AuditEvent) -> bool:
    """Whether an audit event is a journal entry (skipped by replay: it changes no process state)."""
    return event.command == JOURNAL_COMMAND


def check_writer(user: User, action: str) -> None:
    """Refuse a journal write by a read-only role, or an analysts' action by a declarant (403)."""
    if user.role not in WRITER_ROLES:
        raise EngineError("Votre rôle permet de consulter le journal du dossier, pas d'y écrire.", 403)
    if user.role == "declarant" and action not in DECLARANT_ACTIONS:
        raise EngineError("Cette action est réservée aux analystes.", 403)


def lock_instance(dossier: Dossier) -> ProcessInstance:
    """The dossier's instance row, locked for the rest of the transaction (as the commands lock it)."""
    # populate_existing: once the lock is ours, read the chain's end as committed, not a stale copy.
    instance = db.session.execute(select(ProcessInstance).where(ProcessInstance.id == dossier.instance_id)
                                  .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if instance is None:
        raise EngineError("Dossier introuvable.", 404)
    return instance


def append(dossier: Dossier, user: User, payload: dict) -> int:
    """Append one journal event to the dossier's chain (instance locked); return its seq."""
    instance = lock_instance(dossier)
    now = app_now()
    event = AuditEvent(instance_id=instance.id, seq=instance.last_seq + 1, at=now, actor=user.email,
                       actor_role=user.role, command=JOURNAL_COMMAND, payload=payload, service_results=[],
                       visited=[], states=[], state_hash=instance.state_hash, prev_hash=instance.last_hash)
    event.hash = event_hash(event)
    # The event first: a command that committed this seq meanwhile makes it fail at once (unique seq).
    db.session.execute(insert(AuditEvent.__table__), [{c: getattr(event, c) for c in AUDIT_COLUMNS}])
    instance.last_seq, instance.last_hash, instance.updated_at = event.seq, event.hash, now
    dossier.updated_at = now
    return event.seq


@contextmanager
def transaction(commit: bool = True):
    """Run a journal write: commit at the end (or only flush), a lost race as Conflict, nothing half-written."""
    try:
        yield
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    except (StaleDataError, IntegrityError) as exc:
        db.session.rollback()
        if isinstance(exc, IntegrityError) and "audit_events" not in str(exc):
            raise
        raise Conflict("Le dossier a été modifié entre-temps ; rechargez la page.") from None
    except BaseException:
        db.session.rollback()
        raise


ACTION_LABELS = {"note": "Note", "piece_jointe": "Pièce jointe", "observable": "Indicateur technique",
                 "lien": "Lien avec un autre dossier", "retrait": "Retrait"}
TARGET_LABELS = {"entree": "d'une note ou pièce jointe", "observable": "d'un indicateur", "lien": "d'un lien"}


def describe(payload: dict) -> str:
    """One French line naming a journal event (for the audit pages), without its free text nor the other
    dossier of a link (the reader may not read that one)."""
    action = (payload or {}).get("action", "")
    label = ACTION_LABELS.get(action, action)
    if action == "piece_jointe":
        return f"{label} « {payload.get('name', '')} »"
    if action == "observable":
        kind = payload.get("kind", "")
        return f"{label} ({OBSERVABLE_KINDS.get(kind, kind)}) : {payload.get('normalized', '')}"
    if action == "retrait":
        return f"{label} {TARGET_LABELS.get(payload.get('target'), '')}".strip()
    return label
