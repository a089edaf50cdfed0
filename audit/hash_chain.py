"""The audit log as loaded from the database, and the cheap checks of its hash chain (no SpiffWorkflow).
"""
from __future__ import annotations

import re

from sqlalchemy import func, select

from cases import integrity
from engine import serialization
from models import AuditEvent, Dossier, OutboxMessage, ProcessInstance, TaskRow, db
from referentiel import plural
from workflow import event_chain


# --------------------------------------------------------------------------------------------
# Loading

def events_of(instance_id: int) -> list[AuditEvent]:
    """The events of an instance in sequence order (the order the chain must follow)."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                   .order_by(AuditEvent.seq, AuditEvent.id)))


def find_dossier(key: str | int) -> Dossier | None:
    """A dossier by number (SSI-2026-00001) or by database id."""
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == str(key)))
    if dossier is None and re.fullmatch(r"[0-9]{1,9}", str(key)):
        dossier = db.session.get(Dossier, int(key))
    return dossier


# --------------------------------------------------------------------------------------------
# Chain verification (cheap: no SpiffWorkflow)

def check_event(event: AuditEvent, expected_seq: int, prev_hash: str) -> str | None:
    """Why one event breaks the chain at its position, or None."""
    if event.seq != expected_seq:
        return f"événement n° {expected_seq} manquant ou déplacé (trouvé n° {event.seq})"
    if event.prev_hash != prev_hash:
        return "chaînage rompu : l'empreinte précédente ne correspond pas (ordre modifié ou événement supprimé)"
    if event_chain.event_hash(event) != event.hash:
        return "empreinte de l'événement invalide (contenu, acteur ou date modifiés)"
    return None


def check_stored_state(instance: ProcessInstance, events: list, traces: tuple | None = None,
                       journal: tuple | None = None) -> tuple[int, str] | None:
    """Why the stored instance does not match the end of its chain, as (step, reason), or None. `traces` and
    `journal` are what `_traces` and `journal_of` load for many instances at once (else read here)."""
    last = events[-1] if events else None
    step = max(instance.last_seq or 0, len(events), 1)
    if last is None:
        return step, "aucun événement pour cette instance"
    if instance.last_seq != last.seq:
        return step, f"l'instance annonce {plural(instance.last_seq, 'étape')}, le journal en contient {last.seq}"
    if instance.state_hash != last.state_hash:
        return last.seq, "l'empreinte de l'état stocké diffère de celle du dernier événement"
    if serialization.sha256(instance.state_json) != instance.state_hash:
        return last.seq, "l'état stocké a été modifié (son empreinte ne correspond plus)"
    return check_traces(instance, events, traces) or check_journal_rows(instance, events, journal)


def check_journal_rows(instance: ProcessInstance, events: list,
                       journal: tuple | None = None) -> tuple[int, str] | None:
    """The dossier's journal rows (notes, attachments, indicators, links) against its chain (cases/integrity.py)."""
    if journal is None:
        dossier_id = db.session.scalar(select(Dossier.id).where(Dossier.instance_id == instance.id))
        rows = None
    else:
        dossier_id, rows = journal
    return integrity.check_journal(dossier_id, events, rows) if dossier_id is not None else None


def journal_of(instance_ids: list) -> dict:
    """{instance id: (dossier id or None, its journal rows)} for a batch of instances (five queries)."""
    dossiers = dict(db.session.execute(select(Dossier.instance_id, Dossier.id).where(
        Dossier.instance_id.in_(instance_ids))).all())
    rows = integrity.journal_rows(list(dossiers.values()))
    return {i: (dossiers.get(i), rows.get(dossiers.get(i))) for i in instance_ids}


def _traces(instance_ids: list) -> dict:
    """{instance id: (completed task ids, latest message step)} for a batch of instances."""
    found = {i: (set(), None) for i in instance_ids}
    for instance_id, task_id in db.session.execute(select(TaskRow.instance_id, TaskRow.id).where(
            TaskRow.instance_id.in_(instance_ids), TaskRow.status == "completed")):
        found[instance_id][0].add(task_id)
    for instance_id, latest in db.session.execute(
            select(OutboxMessage.instance_id, func.max(OutboxMessage.event_seq))
            .where(OutboxMessage.instance_id.in_(instance_ids)).group_by(OutboxMessage.instance_id)):
        found[instance_id] = (found[instance_id][0], latest)
    return found


def check_traces(instance: ProcessInstance, events: list, traces: tuple | None = None) -> tuple[int, str] | None:
    """Rows the commands left beside the log must all be accounted for by it.

    A chain cut at its end, with the stored state rolled back to match, is consistent in itself;
    completed task rows and queued messages of the removed commands still give it away.
    """
    last = events[-1].seq
    completed = {e.payload.get("task_id") for e in events if e.command == "complete"}
    rows, latest_message = traces if traces is not None else _traces([instance.id])[instance.id]
    if any(row not in completed for row in rows):
        return last + 1, "des tâches accomplies n'apparaissent plus dans le journal (événement supprimé)"
    if latest_message is not None and latest_message > last:
        return latest_message, "des messages envoyés se rapportent à une étape absente du journal"
    return None


def verify_chain(instance: ProcessInstance, events: list | None = None, traces: tuple | None = None,
                 journal: tuple | None = None) -> tuple[int, str] | None:
    """Chain and stored-state check only; (step, reason) of the first difference, or None."""
    events = events_of(instance.id) if events is None else events
    prev = event_chain.GENESIS_HASH
    for index, event in enumerate(events, start=1):
        reason = check_event(event, index, prev)
        if reason:
            return index, reason
        prev = event.hash
    return check_stored_state(instance, events, traces, journal)
