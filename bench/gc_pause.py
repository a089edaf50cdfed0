"""What a full collection of Python's cyclic garbage collector costs a web worker, with and without web/workers.py.

A gunicorn worker is forked from a master that built the application (`preload_app`). Its full collections walk
every tracked object; while one runs, the request the worker is serving waits. This builds the application as the
production shape does (no test checks), on a throwaway SQLite database with the demo accounts and a few dossiers run
through the engine, then times one full collection (median of 5) in three states:

1. nothing frozen: what a worker walked before web/workers.py;
2. the preloaded application frozen (`freeze_preloaded`, what the master does before each fork), after the worker's
   first requests (inbox and fiche de suivi pages through Flask's test client) built its caches;
3. then the worker's own freeze (`request_served` at its GC_FREEZE_AFTER-th request), after as many requests again.

Last line: `gc_walk_unfrozen_ms=… gc_walk_master_frozen_ms=… gc_walk_worker_frozen_ms=… walked_unfrozen=…
walked_worker_frozen=…` (objects a full collection walks in states 1 and 3).

Run: python bench/gc_pause.py [--requests 200] [--smoke]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from sqlalchemy import select  # noqa: E402

import migrate  # noqa: E402
from bench.request_cost import logged_in, production_app  # noqa: E402
from bench.web_client import ACSS, ARS, PASSWORD  # noqa: E402
from cli import demo, scenarios  # noqa: E402
from models import Dossier, db  # noqa: E402
from timekeeping import clock as clock_mod  # noqa: E402
from web import workers  # noqa: E402
from workflow import deployment  # noqa: E402

SCENARIOS = ["b1", "grave_acss", "grave_ars", "hors_heures"]


def full_collection_ms(samples: int = 5) -> float:
    """Median wall time of one full collection."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def prepare(url: str, names: list[str]) -> None:
    """The database: schema, process, demo accounts and a few dossiers run through the engine."""
    clock = clock_mod.FrozenClock()
    app = production_app(url)
    app.extensions["clock"] = clock  # the scenarios set the time of each step (what create_app's CLOCK sets)
    with app.app_context():
        migrate.upgrade()
        deployment.deploy(app.config["PROCESS_FILE"])
        demo.load_demo(password=PASSWORD)
        for name in names:
            scenarios.run(name, clock)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests served before the worker's freeze")
    parser.add_argument("--smoke", action="store_true", help="a few requests: checks it runs, in seconds")
    parser.add_argument("--prepare", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, SCENARIOS[:1] if args.smoke else SCENARIOS)
        return
    if args.smoke:
        args.requests = 10
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/gc.db"
        # The data are made in another process: running the scenarios builds (and freezes) what a worker only builds
        # on its first RETEX, and leaves objects a worker never has.
        subprocess.run([sys.executable, __file__, "--prepare", url] + (["--smoke"] if args.smoke else []), check=True)
        with production_app(url).app_context():
            dossiers = db.session.scalars(select(Dossier.id).where(Dossier.military.is_(False))).all()
            db.session.remove()
            db.engine.dispose()
        app = production_app(url)  # the application a worker inherits: built, not yet serving
        gc.collect()
        walked_unfrozen = len(gc.get_objects())
        unfrozen = full_collection_ms()
        workers.freeze_preloaded()
        workers.forked()
        pages = [logged_in(app, ACSS)[0], logged_in(app, ARS)[0]]

        def serve(count: int) -> None:
            for n in range(count):
                path = "/boite" if n % 3 else f"/dossiers/{dossiers[n % len(dossiers)]}"
                status = pages[n % 2].get(path).status_code
                if status not in (200, 404):  # the ARS reads its own region's dossiers only
                    raise SystemExit(f"GET {path}: {status}")

        serve(args.requests)
        walked_master_frozen = len(gc.get_objects())
        master_frozen = full_collection_ms()
        workers.request_served(after=1)  # the worker's own freeze, as at its GC_FREEZE_AFTER-th request
        serve(args.requests)  # and as many requests again: what its later collections walk
        walked_frozen = len(gc.get_objects())
        worker_frozen = full_collection_ms()
        gc.unfreeze()
        with app.app_context():
            db.engine.dispose()
    print(f"a full collection walks {walked_unfrozen} objects with nothing frozen (the application as forked), "
          f"{walked_master_frozen} after {args.requests} requests with the master's objects frozen, {walked_frozen} "
          f"after {args.requests} more once the worker froze its own")
    print(f"gc_walk_unfrozen_ms={unfrozen:.1f} gc_walk_master_frozen_ms={master_frozen:.1f} "
          f"gc_walk_worker_frozen_ms={worker_frozen:.1f} walked_unfrozen={walked_unfrozen} "
          f"walked_worker_frozen={walked_frozen}")


if __name__ == "__main__":
    main()
