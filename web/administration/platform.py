"""Liveness (`/sante`) and readiness (`/pret`) for load balancers and orchestrators.

`/sante` answers 200 as long as the process serves requests; it touches nothing else, so a slow database
never gets a healthy worker restarted. `/pret` says whether this deployment can do its job: the database
answers within DB_READY_TIMEOUT_MS (its own short statement timeout on PostgreSQL: a database that answers
too slowly is not ready), its schema is at the migrations' head, and a scheduler swept recently (timers and
mail depend on it). A failing check gives 503 with a JSON body naming it. How much work failed (« Exploitation »)
is reported under `travail_en_echec` without failing readiness: restarting or unrouting a worker would not repair it.
"""
from __future__ import annotations

import time
from datetime import timedelta

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

import migrate
from models import SchedulerHeartbeat, db
from workflow import operations

bp = Blueprint("platform", __name__)

DEFAULT_READY_TIMEOUT_MS = 1000  # the readiness queries' own statement timeout
DEFAULT_HEARTBEAT_MAX_AGE = 180  # seconds: three times the scheduler's longest sleep between sweeps
_heads: set[str] = set()  # the scripts' heads do not change while the process runs


@bp.get("/sante")
def liveness():
    """The process is alive and serving (no database access)."""
    return jsonify({"statut": "vivant"})


@bp.get("/pret")
def readiness():
    """Database reachable, schema at head, scheduler heartbeat recent: 200, else 503 naming the failed check."""
    checks: dict[str, dict] = {}
    budget = int(current_app.config.get("DB_READY_TIMEOUT_MS") or DEFAULT_READY_TIMEOUT_MS)
    started = time.monotonic()
    try:
        with db.engine.connect() as connection:
            if connection.dialect.name == "postgresql":  # for this transaction only
                connection.execute(text(f"SET LOCAL statement_timeout = {budget}"))
                connection.execute(text(f"SET LOCAL lock_timeout = {budget}"))
            connection.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
            if not _heads:
                _heads.update(migrate.head_revisions())
            current = migrate.current_heads(connection)
            checks["migrations"] = {"ok": current == _heads, "current": sorted(current), "head": sorted(_heads)}
            last = connection.execute(select(func.max(SchedulerHeartbeat.beat_at))).scalar()
            checks["database"]["duration_ms"] = round((time.monotonic() - started) * 1000)
        failed = operations.counts()
        db.session.rollback()
    except SQLAlchemyError as exc:
        slow = type(getattr(exc, "orig", None)).__name__ in ("QueryCanceled", "LockNotAvailable")
        checks["database"] = {"ok": False, "error": type(exc).__name__,
                              "duration_ms": round((time.monotonic() - started) * 1000)}
        if slow:
            checks["database"]["error"] = f"la base de données répond trop lentement (plus de {budget} ms)"
        checks.setdefault("migrations", {"ok": False, "error": "base de données injoignable ou trop lente"})
        checks["scheduler"] = {"ok": False, "error": "base de données injoignable"}
        return _answer(checks)
    max_age = float(current_app.config.get("SCHEDULER_HEARTBEAT_MAX_AGE", DEFAULT_HEARTBEAT_MAX_AGE))
    if last is None:
        checks["scheduler"] = {"ok": False, "error": "aucun passage du planificateur enregistré"}
    else:
        if last.tzinfo is None:  # SQLite hands back naive UTC through a raw connection's max()
            last = last.replace(tzinfo=current_app.extensions["clock"].now().tzinfo)
        age = (current_app.extensions["clock"].now() - last).total_seconds()
        checks["scheduler"] = {"ok": age <= max_age, "age_s": round(age, 1), "max_age_s": max_age}
        if age > max_age:
            checks["scheduler"]["error"] = f"dernier passage il y a plus de {timedelta(seconds=int(max_age))}"
    # Failed work is reported, not a readiness failure: a worker restarted would not fix it (« Exploitation » does).
    checks["travail_en_echec"] = {"ok": True, "total": sum(failed.values()), **failed}
    return _answer(checks)


def _answer(checks: dict):
    ready = all(check["ok"] for check in checks.values())
    failed = [name for name, check in checks.items() if not check["ok"]]
    body = {"statut": "pret" if ready else "pas_pret", "verifications": checks, "echecs": failed}
    return jsonify(body), 200 if ready else 503
