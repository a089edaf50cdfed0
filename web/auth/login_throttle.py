"""Login throttling kept in the database (shared by every worker): atomic counters per client address,
per account and per account-and-address pair, each one conditional UPDATE. The caller commits: a
login attempt makes one transaction of its claims and one of its outcome."""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from flask import current_app, request
from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import LoginThrottle, UTCDateTime, db

DEFAULTS = {"LOGIN_MAX_FAILURES": 5, "LOGIN_IP_MAX_FAILURES": 30, "LOGIN_WINDOW_MINUTES": 15,
            "LOGIN_DELAY_BASE_S": 0.25, "LOGIN_DELAY_MAX_S": 2.0}


def setting(name: str):
    """A throttling setting from the app config, with its default."""
    return current_app.config.get(name, DEFAULTS[name])


def window() -> timedelta:
    """How long failures are remembered under a key."""
    return timedelta(minutes=setting("LOGIN_WINDOW_MINUTES"))


def client_address() -> str:
    """The client's address (the proxy's X-Forwarded-For only when TRUSTED_PROXIES says so: ProxyFix)."""
    return request.remote_addr or "inconnue"


def key(kind: str, *parts: str) -> str:
    """A counter key; hashed, so that the e-mails people mistype are not stored."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:64]
    return f"{kind}:{digest}"


def _ensure_row(name: str, now: datetime) -> None:
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(insert(LoginThrottle).values(key=name, failures=0, window_start=now)
                       .on_conflict_do_nothing(index_elements=["key"]))


def claim(name: str, limit: int, now: datetime) -> bool:
    """Count one attempt under `name` unless `limit` are already counted in the window.

    One conditional UPDATE: concurrent attempts serialize on the row (PostgreSQL row lock, SQLite's
    single writer), so exactly `limit` of any number of parallel attempts are counted and let through.
    """
    _ensure_row(name, now)
    expired = LoginThrottle.window_start <= now - window()
    result = db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == name, or_(expired, LoginThrottle.failures < limit))
        .values(failures=case((expired, 1), else_=LoginThrottle.failures + 1),
                window_start=case((expired, literal(now, UTCDateTime())), else_=LoginThrottle.window_start)))
    return result.rowcount == 1


def count(name: str, now: datetime) -> int:
    """Attempts counted under `name` in the current window."""
    row = db.session.execute(select(LoginThrottle.failures, LoginThrottle.window_start)
                             .where(LoginThrottle.key == name)).first()
    if row is None or row.window_start <= now - window():
        return 0
    return row.failures


def release(name: str) -> None:
    """Take back one counted attempt (it turned out to be a successful login)."""
    db.session.execute(update(LoginThrottle).where(LoginThrottle.key == name, LoginThrottle.failures > 0)
                       .values(failures=LoginThrottle.failures - 1))


def reset(name: str) -> None:
    """Forget the attempts counted under `name`."""
    db.session.execute(update(LoginThrottle).where(LoginThrottle.key == name).values(failures=0))


def add_failure(name: str, now: datetime) -> None:
    """Count one failure under `name` (no limit), and drop the counters of long-expired windows."""
    claim(name, 2**31 - 1, now)
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.window_start < now - 2 * window()))


def retry_after(name: str, now: datetime) -> int:
    """Seconds until the window of `name` ends (at least 1)."""
    start = db.session.scalar(select(LoginThrottle.window_start).where(LoginThrottle.key == name))
    if start is None:
        return 1
    return max(1, math.ceil((start + window() - now).total_seconds()))


def account_delay(failures: int) -> float:
    """Progressive, capped delay before checking a password of an account that failed `failures` times
    (from any address): 0 up to the per-pair limit, then base, 2 x base, ... up to the cap."""
    over = failures - setting("LOGIN_MAX_FAILURES")
    if over < 0:
        return 0.0
    return min(setting("LOGIN_DELAY_MAX_S"), setting("LOGIN_DELAY_BASE_S") * 2 ** min(over, 20))
