"""`/metrics`: Prometheus text format for the monitoring system, from every gunicorn worker and the scheduler.

Series: requests by route (the endpoint name, never the raw path) and status, with latency histograms;
engine commands and their durations (workflow/measures.py); the outbox and timer queues; the scheduler's lag
(age of the latest `scheduler_heartbeats` row); failed work by kind (workflow/operations.py). Counters and
histograms live in each process (in PROMETHEUS_MULTIPROC_DIR files under gunicorn, summed here); queue depths,
lag and failed work are read from the database at scrape time, so every worker answers the same.

Only addresses in METRICS_ALLOWED_IPS (addresses or networks, default 127.0.0.1) or a request carrying
`Authorization: Bearer <METRICS_TOKEN>` may read it; anyone else gets 403.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from models import OutboxMessage, SchedulerHeartbeat, Timer, db
from workflow import measures, operations

bp = Blueprint("metrics", __name__)
REQUESTS = Counter("signalement_http_requests_total", "Requêtes HTTP, par route (endpoint), méthode et statut",
                   ["endpoint", "method", "status"], registry=measures.REGISTRY)
LATENCY = Histogram("signalement_http_request_duration_seconds", "Durée des requêtes HTTP, par route, en secondes",
                    ["endpoint", "method"], registry=measures.REGISTRY,
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
FORBIDDEN = "Accès refusé : les mesures ne sont servies qu'aux adresses autorisées ou avec le jeton configuré.\n"


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode()):
        return True
    allowed = current_app.config.get("METRICS_ALLOWED_IPS")
    if allowed is None:
        allowed = ["127.0.0.1"]
    if isinstance(allowed, str):
        allowed = [part.strip() for part in allowed.split(",") if part.strip()]
    try:
        client = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    for entry in allowed:
        try:
            if client in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class DatabaseGauges:
    """Queue depths, scheduler lag and failed work, read at scrape time."""

    def collect(self):
        clock = current_app.extensions["clock"]
        now = clock.now()
        try:
            outbox = dict(db.session.execute(select(OutboxMessage.status, func.count())
                                             .group_by(OutboxMessage.status)).all())
            due = db.session.scalar(select(func.count()).select_from(Timer).where(
                Timer.status == "pending", Timer.due_at < now)) or 0
            waiting = db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending")) or 0
            last = db.session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
            failed = operations.counts()
        except SQLAlchemyError:
            db.session.rollback()
            up = GaugeMetricFamily("signalement_database_up", "La base de données répond (1) ou non (0)")
            up.add_metric([], 0)
            yield up
            return
        finally:
            db.session.rollback()
        up = GaugeMetricFamily("signalement_database_up", "La base de données répond (1) ou non (0)")
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily("signalement_outbox_messages", "Messages sortants par état", labels=["status"])
        for status in ("pending", "sending", "sent", "dead", "a_verifier"):
            queue.add_metric([status], outbox.get(status, 0))
        yield queue
        timers = GaugeMetricFamily("signalement_timers", "Minuteurs en attente (waiting) et échus non déclenchés (due)",
                                   labels=["state"])
        timers.add_metric(["waiting"], waiting)
        timers.add_metric(["due"], due)
        yield timers
        lag = GaugeMetricFamily("signalement_scheduler_lag_seconds",
                                "Secondes depuis le dernier passage d'un planificateur (-1 : jamais)")
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=now.tzinfo)
        # Clocks of two processes: a beat written during this scrape may look a little ahead.
        lag.add_metric([], max(0.0, (now - last).total_seconds()) if last is not None else -1)
        yield lag
        work = GaugeMetricFamily("signalement_failed_work", "Travail en échec par nature (page « Exploitation »)",
                                 labels=["kind"])
        for kind, count in failed.items():
            work.add_metric([kind], count)
        yield work


@bp.get("/metrics")
def metrics():
    """The Prometheus text exposition, for allowed addresses or the bearer token only."""
    if not _allowed():
        return Response(FORBIDDEN, status=403, mimetype="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)          # every worker's and the scheduler's files, live and dead
    else:
        registry.register(_Local())
    registry.register(DatabaseGauges())
    # The classic text format (0.0.4), which every Prometheus-compatible scraper reads.
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


class _Local:
    """This process's own measures (development server, tests)."""

    def collect(self):
        return measures.REGISTRY.collect()


def _start():
    g.metrics_started = time.perf_counter()


def _finish(response):
    started = g.get("metrics_started")
    endpoint = request.endpoint or ("hote_refuse" if response.status_code == 400 else "introuvable")
    # Labels from a closed set only: a client inventing methods or paths cannot grow the series.
    method = request.method if request.method in METHODS else "AUTRE"
    if endpoint != "metrics.metrics" and started is not None:
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


def init_app(app) -> None:
    """Measure every request (registered first, so the time covers the other hooks)."""
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
