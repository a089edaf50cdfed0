"""Prometheus measures of the commands (every engine command: count by outcome, duration).

The metric objects are declared here once, on this module's registry. Under gunicorn, PROMETHEUS_MULTIPROC_DIR
(set by scripts/serve and scripts/gunicorn.conf.py before the application is imported) makes prometheus-client
keep each process's values in files of that folder, summed at scrape time (web/metrics.py); the scheduler, a
process of its own, writes there too, so its timer commands count.
"""
from __future__ import annotations

import functools
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from engine.errors import EngineError

REGISTRY = CollectorRegistry(auto_describe=True)
COMMANDS = Counter("signalement_commands_total", "Commandes du moteur, par commande et issue (ok, refus, erreur)",
                   ["command", "outcome"], registry=REGISTRY)
COMMAND_SECONDS = Histogram("signalement_command_duration_seconds", "Durée des commandes du moteur, en secondes",
                            ["command"], registry=REGISTRY,
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def timed(run):
    """Count and time an engine command runner `run(instance, dossier, definition, actor, command, ...)`."""
    @functools.wraps(run)
    def measured(instance, dossier, definition, actor, command, *args, **kwargs):
        started, outcome = time.perf_counter(), "erreur"
        try:
            result = run(instance, dossier, definition, actor, command, *args, **kwargs)
            outcome = "ok"
            return result
        except EngineError as error:
            outcome = "refus" if error.status < 500 else "erreur"
            raise
        finally:
            COMMANDS.labels(command, outcome).inc()
            COMMAND_SECONDS.labels(command).observe(time.perf_counter() - started)
    return measured
