"""Claiming due rows with a lease, shared by the timer sweep and the outbox sender.

A sweep selects due rows (on PostgreSQL under `FOR UPDATE SKIP LOCKED`, so that concurrent
sweeps skip each other's rows instead of waiting), stamps them with a claim token and a lease
(`claimed_by`, `claimed_until`) and commits. A claimer that holds a row longer than the lease is
presumed dead: its rows become due again.
"""
from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update

from models import db

LEASE = timedelta(minutes=5)


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
    claimed = db.session.execute(select(*columns).where(model.claimed_by == token).order_by(*order_by)).all()
    db.session.rollback()
    return token, [tuple(row) for row in claimed]
