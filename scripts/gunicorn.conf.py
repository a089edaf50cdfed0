"""Gunicorn settings of the production shape (scripts/serve); every value comes from the environment."""
import os

bind = os.environ.get("BIND", f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}")
# Single-threaded (sync) worker processes by default, cores + 1 of them: a worker accepts a connection only
# when it is free, so requests are served in arrival order across workers, and no request waits for the GIL
# behind its worker's other threads (each database round trip would). Measured at 100,000 dossiers with
# 32 clients on 2 cores (bench/web.py, paired runs): p99 1.1-1.5 s with 5 sync workers against 1.9-3.5 s
# with 3 workers x 4 threads at the same throughput, where keep-alive connections pinned to one worker
# queue behind each other; 2 workers x 4 threads were slower than 2 sync ones at 40 requests/s too.
# Cores + 1 rather than gunicorn's usual 2 x cores + 1: a request here spends little time waiting (PostgreSQL is
# near), so more processes than cores only share them. Paired runs on 2 cores: at 40 requests/s 3 workers gave the
# inbox a lower median in four pairs of five (7.1-8.4 ms against 8.1-9.2; 0.1 ms higher in the fifth), their ramp
# reached 198-225/s against 159-196/s, and with a user opening the observatory (0.5 s pages) back to back beside the
# mix the others' median was 16-17 ms against 20 ms, their p99 65-70 ms both. At 32 clients throughput was mixed:
# 211-212 requests/s against 197-198 as a first phase, 156 against 165 after the 1- and 4-client ones. 2 workers
# were faster still at the median, but one such slow page then held half of them (a p99 of 150 ms in one of two
# runs). More slow pages at once (exports, observatories, process uploads' dry runs) call for a larger
# WEB_CONCURRENCY.
# GUNICORN_THREADS > 1 gives
# gthread workers (keep-alive, a slow client holds a thread, not a process). Sync workers read whole requests
# from a buffering reverse proxy in front (docs/reference/operations.md, « Production »).
workers = int(os.environ.get("WEB_CONCURRENCY", str((os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
# The app is built once in the master and forked: workers start (and restart after a crash) in milliseconds.
preload_app = True
# A sync worker busy past `timeout` is killed: the longest request, the dry run of a process upload
# (DRY_RUN_SECONDS, 60 s), must fit.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "90"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
accesslog = None          # the application writes one JSON line per request, with its request id
errorlog = "-"
# Forwarded headers are trusted in one place only: the application's TRUSTED_PROXIES (werkzeug's ProxyFix).
secure_scheme_headers = {}
forwarded_allow_ips = "127.0.0.1"


# Prometheus multiprocess mode (web/metrics.py): each process writes its measures in files of this folder, read
# together by /metrics. Set before the application is imported (preload_app); scripts/serve creates and empties it.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


# A bad GC_FREEZE_AFTER stops the start here, with the variable's name (web/workers.py).
from web import workers as _workers  # noqa: E402  (after the metrics folder exists: it imports the application)

try:
    _workers.freeze_after()
except ValueError as exc:
    raise SystemExit(str(exc)) from None


def child_exit(server, worker):
    """A worker ended (killed, restarted): its live gauges leave the sums; its counters stay counted."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)


def pre_fork(server, worker):
    """The preloaded application is frozen out of the garbage collector before each fork (web/workers.py)."""
    _workers.freeze_preloaded()


def post_fork(server, worker):
    """Each worker opens its own database connections: none may be shared with the master across fork."""
    _workers.forked()
    app = server.app.wsgi()
    with app.app_context():
        from models import db
        db.engine.dispose(close=False)


def post_request(worker, req, environ, resp):
    """After its first GC_FREEZE_AFTER requests, a worker freezes what it built lazily (web/workers.py)."""
    _workers.request_served()
