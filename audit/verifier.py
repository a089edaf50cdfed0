"""Verifying dossiers (DESIGN.md decision 4): the chain (sequence, links, hashes), then, in full, a
replay that compares the state hash after every step, then the stored state.

Every command appended one hash-chained AuditEvent (workflow.commands._write).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from audit.hash_chain import _traces, check_stored_state, events_of, journal_of, verify_chain
from audit.replayer import ReplayMismatch, replay
from audit import parallel
from models import AuditEvent, Dossier, ProcessDefinition, ProcessInstance, db
from referentiel import plural
from workflow import deployment


@dataclass
class VerifyResult:
    """Outcome of verifying one dossier: ok, or the first step that differs and why (French)."""

    dossier: str
    instance_id: int
    steps: int
    ok: bool = True
    step: int | None = None
    reason: str | None = None

    @property
    def message(self) -> str:
        """One French line for people."""
        if self.ok:
            return f"Dossier {self.dossier} : intègre ({plural(self.steps, 'étape rejouée')} et {'vérifiée' if self.steps < 2 else 'vérifiées'})."
        return f"Dossier {self.dossier} : différence à l'étape {self.step} ({self.reason})"


def verify_instance(instance: ProcessInstance, dossier_number: str = "", full: bool = True,
                    events: list | None = None, traces: tuple | None = None,
                    journal: tuple | None = None) -> VerifyResult:
    """Verify one instance: chain, replay of every step (if `full`), then the stored state."""
    events = events_of(instance.id) if events is None else events
    result = VerifyResult(dossier=dossier_number or f"instance {instance.id}", instance_id=instance.id,
                          steps=len(events))
    try:
        if full:
            for _ in replay(instance, events, summarize=False):
                pass
            found = check_stored_state(instance, events, traces, journal)
        else:
            found = verify_chain(instance, events, traces, journal)
    except ReplayMismatch as exc:
        found = (exc.step, exc.reason)
    if found:
        result.ok, (result.step, result.reason) = False, found
    return result


def verify_dossier(dossier: Dossier, full: bool = True) -> VerifyResult:
    """Verify one dossier (see verify_instance)."""
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    return verify_instance(instance, dossier.number, full=full)


def verify_all(progress=None, full: bool = True, stop_at_first: bool = False,
               batch: int = 250, processes: int = 1) -> list[VerifyResult]:
    """Verify every dossier in number order; `progress(result)` is called after each one.

    Rows are loaded `batch` dossiers at a time (one query per table), not one dossier at a time. With
    `processes` > 1 the batches are shared among that many forked processes, each with its own database
    connections (audit/parallel.py); results still come back in number order.
    """
    rows = db.session.execute(select(Dossier.number, Dossier.instance_id).order_by(Dossier.number)).all()
    parts = [rows[start:start + batch] for start in range(0, len(rows), batch)]
    if processes > 1 and len(parts) > 1 and parallel.can_fork():
        outcomes = parallel.map_ordered(verify_part, parts, processes, full=full, warm=_warm_specs)
    else:
        outcomes = (verify_part(part, full=full) for part in parts)
    results = []
    for part_results in outcomes:
        for result in part_results:
            results.append(result)
            if progress:
                progress(result)
            if stop_at_first and not result.ok:
                if hasattr(outcomes, "close"):
                    outcomes.close()
                return results
    return results


def _warm_specs() -> None:
    """Parse every pinned definition once, before forking, so the processes share the parsed specs."""
    for definition in db.session.scalars(select(ProcessDefinition)):
        deployment.spec_of(definition)


def verify_part(part: list, full: bool = True) -> list[VerifyResult]:
    """Verify a batch of (number, instance id) rows with one query per table."""
    ids = [instance_id for _, instance_id in part]
    known = set(db.session.identity_map.keys())
    instances = {i.id: i for i in db.session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids)))}
    chains = {i: [] for i in ids}
    # Plain rows, not mapped objects: the checks only read the columns, and thousands of events a batch
    # would otherwise each cost an identity-map entry.
    table = AuditEvent.__table__
    for event in db.session.execute(select(table).where(table.c.instance_id.in_(ids))
                                    .order_by(table.c.instance_id, table.c.seq, table.c.id)):
        chains[event.instance_id].append(event)
    traces, journals = _traces(ids), journal_of(ids)
    # Held for the batch: the session maps objects weakly, so each dossier's replay would otherwise load its
    # definition again (a query per dossier) once the previous dossier dropped it. There are few versions.
    definitions = db.session.scalars(select(ProcessDefinition)).all()  # noqa: F841 (kept alive)
    results = [verify_instance(instances[instance_id], number, full=full, events=chains[instance_id],
                               traces=traces[instance_id], journal=journals[instance_id])
               for number, instance_id in part]
    # Keep memory flat over thousands of dossiers, without detaching what the caller holds.
    for key in set(db.session.identity_map.keys()) - known:
        obj = db.session.identity_map.get(key)
        if obj is not None:
            db.session.expunge(obj)
    return results
