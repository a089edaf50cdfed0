"""HTTP benchmark of the production shape at scale: 100,000 dossiers in PostgreSQL, measured as people feel it.

Loads a throwaway PostgreSQL database with whole dossiers (bench/web_load.py: a realistic mix of closed and
open dossiers at every phase, in every region, a few from military hospitals), starts scripts/serve on it
(gunicorn workers and the scheduler) and sends the same mix of requests two ways:

- **closed loop** at 1, 4 and 32 clients that never pause (each waits for its answer, then sends the next):
  this measures throughput at saturation; with 32 clients the mean latency is 32 / throughput;
- **open loop**: requests arrive at a fixed rate (Poisson arrivals) whatever the answers, so latency is
  measured at a load, not at saturation (client time counts from the arrival, queueing included); a short
  ramp of rising rates finds the saturation rate (the highest rate served at >= 95 % of the offered one).

Before each phase PostgreSQL is left to settle (a CHECKPOINT, then the autovacuum workers the previous phase
started): each phase is measured under its own load, not under the bulk load's or the 32 clients' aftermath.

The mix: the inbox (Cellule ACSS and an ARS), a dossier page, the completion of an open task (p2_ouvrir), a
declaration through the API. Per kind it prints the client's time and the application's own time (median,
p99; read back from the server's JSON request log by request id), and after the run the gunicorn workers' memory
(private and PSS, medians per worker: web/workers.py keeps them sharing the preloaded application). The last line is
`open_rate=… inbox_p99_ms=… dossier_p99_ms=… complete_p99_ms=… api_submit_p99_ms=… app_inbox_ms=…
app_dossier_ms=… app_complete_ms=… saturation_rps=…` (open-loop p99s, application medians).

Run: python bench/web.py [--dossiers 100000] [--rate 40] [--seconds 30] [--smoke] [--keep | --reuse NAME]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout first: its `web` package, not this file

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import defaultdict  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from sqlalchemy import create_engine, select, text  # noqa: E402

import migrate  # noqa: E402
from accounts import api_tokens  # noqa: E402
from app import create_app  # noqa: E402
from bench import web_load  # noqa: E402
from bench.web_client import (ACSS, ARS, DECLARANT, PASSWORD, Client, Mix, app_times, quantile, report,  # noqa: E402
                              serve, worker_memory)
from cli import demo  # noqa: E402
from models import Dossier, Structure, TaskRow, User, db  # noqa: E402
from timekeeping import clock as clock_mod  # noqa: E402
from workflow import deployment  # noqa: E402

def load(url: str, count: int) -> tuple[dict, float]:
    """Migrate, deploy, create the demo accounts and the templates, then COPY the clones."""
    clock = clock_mod.FrozenClock()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "CLOCK": clock,
                      "SCHEDULER_ENABLED": False})
    with app.app_context():
        migrate.upgrade()
        deployment.deploy(app.config["PROCESS_FILE"])
        demo.load_demo(password=PASSWORD)
        templates = web_load.make_templates(clock)
        started = time.perf_counter()
        loaded = web_load.clone_all(templates, count, datetime.now(timezone.utc))
        elapsed = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    vacuum(url)
    return found(app, loaded), elapsed


@contextmanager
def database(server: str, name: str, create: bool = True, drop: bool = True):
    """The URL of the database `name` on `server`, created first and dropped afterwards as asked (dropped also when
    what runs inside fails)."""
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    if create:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        if drop:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def smoke_database(server: str, prefix: str, count: int = 200):
    """The URL of a throwaway PostgreSQL database loaded with `count` dossiers (the in-process benches' --smoke
    size), dropped afterwards, also when the load or the bench fails."""
    with database(server, f"signalement_{prefix}_{uuid.uuid4().hex[:8]}") as url:
        load(url, count)
        yield url


def vacuum(url: str) -> None:
    """VACUUM ANALYZE after the bulk load, as autovacuum would do soon after: statistics for the planner,
    and the visibility map that lets the worklist counts be index-only scans."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    settle(url)


def settle(url: str, most: float = 120) -> float:
    """Let PostgreSQL finish the work the previous phase left (a CHECKPOINT of the pages it dirtied, the
    autovacuum workers it started) before the next phase is measured: a phase is measured on its own load, not
    on the bulk load's or the 32 clients' aftermath. Returns the seconds waited."""
    started = time.monotonic()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        while time.monotonic() - started < most and conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")).scalar():
            time.sleep(0.5)
    engine.dispose()
    return time.monotonic() - started


def settle_outbox(url: str) -> None:
    """Mark as sent the messages a reused bench database still has queued: bench/request_cost.py declares through
    the API in-process, with no sender, and the server's sender would work through that backlog at start-up (its
    readiness waits for the first sweep) instead of serving the bench's load."""
    engine = create_engine(url)
    with engine.begin() as conn:
        settled = conn.execute(text("UPDATE outbox SET status = 'sent', sent_at = now() WHERE status = 'pending'"))
    engine.dispose()
    if settled.rowcount:
        print(f"  ({settled.rowcount} messages left queued by in-process runs marked as sent)")


def found(app, loaded: dict) -> dict:
    """The dossier ids each bench user reads (and the open p2_ouvrir tasks when reusing a database)."""
    with app.app_context():
        if loaded.get("hot_tasks") is None:
            loaded["hot_tasks"] = db.session.scalars(select(TaskRow.id).where(
                TaskRow.status == "ready", TaskRow.spec_name == "p2_ouvrir", TaskRow.role == "acss")).all()
        civil = db.session.scalars(select(Dossier.id).where(Dossier.military.is_(False))).all()
        bretagne = db.session.scalars(select(Dossier.id).where(Dossier.region == "Bretagne",
                                                               Dossier.military.is_(False))).all()
        loaded.update(civil=civil, bretagne=bretagne, api=api_credentials())
        db.session.remove()
        db.engine.dispose()
    return loaded


def api_credentials() -> dict:
    """A real API token of the demo declarant (a fresh one per run: only its hash is stored) and the FINESS
    of its structure, which its declarations name."""
    declarant = db.session.scalar(select(User).where(User.email == DECLARANT))
    finess = db.session.get(Structure, declarant.structure_id).finess_et
    _, secret = api_tokens.create(declarant, f"bench http {uuid.uuid4().hex[:6]}")
    return {"secret": secret, "finess": finess}


def closed_loop(mix: Mix, clients: int, seconds: float, warmup: float, tag: str) -> tuple[dict, dict, float]:
    """`clients` users that never pause; latencies per kind (ms), unexpected answers, the measured duration."""
    latencies, errors = defaultdict(list), defaultdict(int)
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds
    kinds = mix.kinds()

    def one(client_no: int) -> None:
        rng = random.Random(client_no)
        email = ACSS if client_no % 4 else ARS  # three analysts of the Cellule for one ARS
        clients_of = {"page": Client(mix.port, mix.cookies[email]), "api": Client(mix.port)}
        n = 0
        while time.monotonic() < stop_at:
            kind = rng.choices(kinds, [MIX_WEIGHTS[k] for k in kinds])[0]
            if kind == "complete" and email != ACSS:
                kind = "inbox"
            n += 1
            started = time.perf_counter()
            ok = mix.send(kind, email, clients_of, rng, f"{tag}-{client_no}-{kind}-{n}")
            if ok is None:
                continue
            if time.monotonic() >= start_at:
                latencies[kind].append((time.perf_counter() - started) * 1000)
                errors[kind] += not ok

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, {k: v for k, v in errors.items() if v}, seconds


def open_loop(mix: Mix, rate: float, seconds: float, tag: str, seed: int = 40) -> tuple[dict, dict, float, float]:
    """Requests arriving at `rate` per second (exponential gaps) for `seconds`, whatever the answers; the client
    time of each counts from its arrival. Returns latencies per kind, unexpected answers, the achieved rate (answers
    per second until the last one) and the rate that actually arrived (Poisson arrivals vary around `rate`)."""
    rng = random.Random(seed)
    kinds = mix.kinds()
    latencies, errors = defaultdict(list), defaultdict(int)
    lock = threading.Lock()
    idle: dict[str, list] = defaultdict(list)  # free keep-alive connections per user, reused across arrivals

    def take(email: str) -> dict:
        with lock:
            if idle[email]:
                return idle[email].pop()
        return {"page": Client(mix.port, mix.cookies[email]), "api": Client(mix.port)}

    def one(n: int, arrival: float, kind: str, email: str) -> None:
        clients_of = take(email)
        ok = mix.send(kind, email, clients_of, random.Random(n), f"{tag}-{kind}-{n}")
        finished = time.perf_counter()
        with lock:
            idle[email].append(clients_of)
            if ok is not None:
                latencies[kind].append((finished - arrival) * 1000)
                errors[kind] += not ok

    started = time.perf_counter()
    arrival, n = started, 0
    with ThreadPoolExecutor(max_workers=256) as pool:
        while True:
            arrival += rng.expovariate(rate)
            if arrival - started > seconds:
                break
            n += 1
            email = ACSS if n % 4 else ARS
            kind = rng.choices(kinds, [MIX_WEIGHTS[k] for k in kinds])[0]
            if kind == "complete" and email != ACSS:
                kind = "inbox"
            delay = arrival - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n, arrival, kind, email)
    done = sum(len(v) for v in latencies.values())
    return latencies, {k: v for k, v in errors.items() if v}, done / (time.perf_counter() - started), n / seconds


def saturation(mix: Mix, start: float, step_seconds: float) -> float:
    """The highest rate served at >= 95 % of the rate that arrived, over a ramp of rising rates (x1.5 per step);
    the last step's achieved rate when it falls short (the throughput at saturation)."""
    best, rate = 0.0, start
    for step in range(12):
        _, _, achieved, arrived = open_loop(mix, rate, step_seconds, f"ramp{step}", seed=step)
        print(f"  ramp: offered {rate:6.1f}/s arrived {arrived:6.1f}/s achieved {achieved:6.1f}/s")
        if achieved < 0.95 * arrived:
            return max(best, achieved)
        best, rate = arrived, rate * 1.5
    return best


MIX_WEIGHTS = {"inbox": 4, "dossier": 4, "complete": 2, "api_submit": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=40, help="open-loop arrivals per second")
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds of each run")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--clients", default="1,4,32", help="closed-loop client counts, comma-separated")
    # The production shape's defaults (scripts/gunicorn.conf.py): cores + 1 single-threaded workers.
    parser.add_argument("--workers", type=int,
                        default=int(os.environ.get("WEB_CONCURRENCY", (os.cpu_count() or 1) + 1)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 1)))
    parser.add_argument("--server", default=os.environ.get("TEST_POSTGRES_SERVER",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--reuse", metavar="NAME", help="drive a database kept by an earlier --keep run")
    parser.add_argument("--smoke", action="store_true", help="a few hundred dossiers and seconds: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        args.dossiers, args.seconds, args.warmup, args.clients, args.rate = 200, 2, 0.5, "1,4", 8
    name = args.reuse or f"signalement_bench_{uuid.uuid4().hex[:8]}"
    process, results = None, {}
    with database(args.server, name, create=not args.reuse, drop=not (args.keep or args.reuse)) as url:
        try:
            if args.reuse:
                loaded, load_s = found(create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b",
                                                   "SCHEDULER_ENABLED": False}), {}), 0.0
                settle_outbox(url)
                vacuum(url)
            else:
                loaded, load_s = load(url, args.dossiers)
            print(f"{'reused' if args.reuse else 'loaded'} {len(loaded['civil'])} civil dossiers "
                  f"({len(loaded['hot_tasks'])} open p2_ouvrir tasks to complete) in {load_s:.0f} s, database {name}")
            with tempfile.TemporaryDirectory() as folder:
                log = Path(folder) / "serve.log"
                process, port = serve(url, Path(folder), args.workers, args.threads)
                mix = Mix(port, loaded, threading.Lock())
                for count in [int(c) for c in args.clients.split(",") if c]:
                    print(f"  (PostgreSQL settled in {settle(url):.1f} s)")
                    latencies, errors, seconds = closed_loop(mix, count, args.seconds, args.warmup, f"closed{count}")
                    total = sum(len(v) for v in latencies.values())
                    report(f"closed loop, {count} clients: {total / seconds:.0f} requests/s", latencies,
                           app_times(log, f"closed{count}"), errors)
                print(f"  (PostgreSQL settled in {settle(url):.1f} s)")
                latencies, errors, achieved, _ = open_loop(mix, args.rate, args.seconds, "open")
                spent = app_times(log, "open")
                report(f"open loop at {args.rate:g}/s: achieved {achieved:.1f}/s", latencies, spent, errors)
                print(f"  (PostgreSQL settled in {settle(url):.1f} s)")
                saturation_rps = saturation(mix, max(args.rate / 2, 4), max(args.seconds / 3, 1))
                results = {"latencies": latencies, "spent": spent, "saturation": saturation_rps}
                count, private, pss = worker_memory(process.pid)
                print(f"  {count} gunicorn workers after the run: private memory {private:.1f} MB, PSS {pss:.1f} MB "
                      "(medians per worker)")
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(60)
        finally:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    latencies, spent = results["latencies"], results["spent"]

    def p99(kind):
        return f"{quantile(latencies[kind], 0.99):.0f}" if latencies.get(kind) else "na"

    def app(kind):
        return f"{quantile(spent[kind], 0.5):.1f}" if spent.get(kind) else "na"

    print(f"open_rate={args.rate:g} inbox_p99_ms={p99('inbox')} dossier_p99_ms={p99('dossier')} "
          f"complete_p99_ms={p99('complete')} api_submit_p99_ms={p99('api_submit')} app_inbox_ms={app('inbox')} "
          f"app_dossier_ms={app('dossier')} app_complete_ms={app('complete')} "
          f"saturation_rps={results['saturation']:.0f}")


if __name__ == "__main__":
    main()
