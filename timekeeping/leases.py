"""Claiming due rows with a lease, shared by the timer sweep and the outbox sender.

A sweep selects due rows (on PostgreSQL under `FOR UPDATE SKIP LOCKED`, so that concurrent
sweeps skip each other's rows instead of waiting), stamps them with a claim token and a lease
(`claimed_by`, `claimed_until`) and commits. A claimer that holds a row longer than the lease is
presumed dead: its rows become due again.

The lease is short (30 s) so that the rows of a killed claimer are taken again within about that
time; a live claimer keeps its rows however long its batch takes, because it renews the lease of
the rows still held under its token as it goes (`Heartbeat`, between rows and between the SMTP
steps of a message), at most once per third of the lease.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from models import db

LEASE = timedelta(seconds=30)


def worker_name() -> str:
    """An identifier for this process, written in the claims it makes."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}"


def backoff(attempts: int, base: float, cap: float) -> timedelta:
    """Delay before the next attempt: base, 2 x base, 4 x base... capped."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def claim(model, due: tuple, order_by: tuple, now: datetime, limit: int, columns: tuple) -> tuple[str, list]:
    """Claim up to `limit` rows of `model` matching the `due` conditions; return the claim token and
    the `columns` of the rows this claim obtained, in `order_by` order."""
    query = select(model.id).where(*due).order_by(*order_by).limit(limit)
    if is_postgresql():
        query = query.with_for_update(skip_locked=True)
    ids = db.session.scalars(query).all()
    if not ids:
        db.session.rollback()
        return "", []
    # One token per claim batch, so the rows of this batch can be read back exactly.
    token = f"{worker_name()}:{uuid.uuid4().hex[:12]}"[:64]
    # The conditions are repeated so that, on SQLite (no row locks), a row claimed by another
    # process between our SELECT and this UPDATE is left to it.
    db.session.execute(update(model).where(model.id.in_(ids), *due)
                       .values(claimed_by=token, claimed_until=now + LEASE)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    # Read back among the ids just claimed (their primary key): claimed_by has no index, and scanning the whole
    # outbox for the token (780,000 rows at 100,000 dossiers) took 0.4 s of both cores on every batch.
    claimed = db.session.execute(select(*columns).where(model.id.in_(ids), model.claimed_by == token)
                                 .order_by(*order_by)).all()
    db.session.rollback()
    return token, [tuple(row) for row in claimed]


def renew(model, token: str, now: datetime) -> int:
    """Extend the lease of the rows still held under a claim token (own transaction); return how many."""
    result = db.session.execute(update(model).where(model.claimed_by == token, model.claimed_until.is_not(None),
                                                    model.claimed_until < now + LEASE)
                                .values(claimed_until=now + LEASE).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


class Heartbeat:
    """Keeps one claim alive while its claimer works: `beat` renews the lease once a third of it has passed."""

    def __init__(self, model, token: str, claimed_at: datetime):
        self.model, self.token, self.renewed_at = model, token, claimed_at
        self._lock = threading.Lock()  # the timer sweep's threads share one claim

    def beat(self, now: datetime) -> bool:
        """Renew the claim's lease if it is due for renewal; True if it was renewed."""
        with self._lock:
            if now - self.renewed_at < LEASE / 3:
                return False
            self.renewed_at = now
        renew(self.model, self.token, now)
        return True
