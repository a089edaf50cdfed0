"""Benchmark: replay-and-verify time of a dossier versus the time its commands took live, and verify 10,000.

Usage: python bench/replay.py [--dossiers 10000] [--processes N]

1. Runs every named scenario once on a SQLite file database (a second round would meet the first
   round's open dossiers as "similar incidents" and take other paths), timing each command as the
   application runs it (start_dossier / complete_task / fire_timer, commit included).
2. Verifies each of those dossiers fully (chain + replay of every step + stored state) and divides
   the time by the live time of the same dossier.
3. Fills the database up to `dossiers` dossiers with replayable copies of the real ones under new instance ids
   (bench/replay_copies.py: the task ids the new instance's commands create, journal rows included; running
   10,000 real scenarios takes too long), then times `verifier.verify_all(full=False)` (chain and stored state
   of every dossier) and `verifier.verify_all(full=True)` (the full step-by-step replay of every dossier), both
   shared among `--processes` processes (default: one per core).
Last line: replay_vs_live=<ratio> replay_full_<dossiers>_s=<seconds> verify_<dossiers>_s=<seconds>
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

import migrate  # noqa: E402
from app import create_app  # noqa: E402
from audit import parallel, verifier  # noqa: E402
from bench import replay_copies  # noqa: E402
from cli import demo, scenarios  # noqa: E402
from models import Dossier, db  # noqa: E402
from timekeeping import clock as clock_mod  # noqa: E402
from workflow import commands, deployment  # noqa: E402

LIVE: dict = {}


def _timed(function):
    """Wrap a command so its wall time is added to its dossier's live total."""
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        dossier = function(*args, **kwargs)
        LIVE[dossier.id] = LIVE.get(dossier.id, 0.0) + time.perf_counter() - start
        return dossier
    return wrapper


def run_scenarios(clock) -> list:
    """Run every scenario once with timed commands; return (name, dossier id) pairs."""
    commands.start_dossier = _timed(commands.start_dossier)
    commands.complete_task = _timed(commands.complete_task)
    commands.fire_timer = _timed(commands.fire_timer)
    dossiers = []
    for name in scenarios.SCENARIOS:
        dossier, _ = scenarios.run(name, clock)
        dossiers.append((name, dossier.id))
    return dossiers


def main() -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=10000, help="dossiers to verify (default 10000)")
    parser.add_argument("--processes", type=int, default=0,
                        help="processes for the verifications (default: one per core, fewer for few dossiers)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file for inspection")
    parser.add_argument("--smoke", action="store_true", help="a hundred dossiers: checks it runs, in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.dossiers = 100
    folder = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        ratio, verify_s, replay_s = measure(folder, args.dossiers, args.processes or parallel.default_processes(
            args.dossiers))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"replay_vs_live={ratio:.2f} replay_full_{args.dossiers}_s={replay_s:.2f} "
          f"verify_{args.dossiers}_s={verify_s:.2f}")


def timed_verification(total: int, processes: int, full: bool) -> tuple[float, int]:
    """Seconds to verify every dossier (the chain and the stored state; with `full`, the step-by-step replay too),
    shared among `processes`, and the steps replayed; every dossier must verify."""
    db.session.expunge_all()
    start = time.perf_counter()
    results = verifier.verify_all(full=full, processes=processes)
    elapsed = time.perf_counter() - start
    assert len(results) == total and all(r.ok for r in results), [r.message for r in results if not r.ok][:3]
    return elapsed, sum(r.steps for r in results)


def measure(folder: Path, target: int, processes: int) -> tuple[float, float, float]:
    """Build the dossiers, time live versus replay, then the verification of `target` dossiers."""
    clock = clock_mod.FrozenClock()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}",
                      "CLOCK": clock, "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False})
    with app.app_context():
        migrate.upgrade()
        deployment.deploy(app.config["PROCESS_FILE"])
        demo.load_demo(password="bench")
        print(f"Base SQLite (fichier, WAL, synchronous=FULL) : {folder / 'bench.db'}")
        dossiers = run_scenarios(clock)
        verifier.verify_dossier(db.session.get(Dossier, dossiers[0][1]))  # warm the spec cache
        live_total = replay_total = 0.0
        steps_total = 0
        print(f"{'scénario':24} {'étapes':>6} {'direct ms':>10} {'rejeu+vérif ms':>15} {'ratio':>6}")
        for name, dossier_id in dossiers:
            dossier = db.session.get(Dossier, dossier_id)
            start = time.perf_counter()
            result = verifier.verify_dossier(dossier)
            elapsed = time.perf_counter() - start
            if not result.ok:
                raise SystemExit(result.message)
            live = LIVE[dossier_id]
            live_total += live
            replay_total += elapsed
            steps_total += result.steps
            print(f"{name:24} {result.steps:6d} {live * 1000:10.1f} {elapsed * 1000:15.1f} {elapsed / live:6.2f}")
        ratio = replay_total / live_total
        print(f"Total : {len(dossiers)} dossiers, {steps_total} étapes ; direct {live_total:.2f} s, "
              f"rejeu + vérification {replay_total:.2f} s, ratio {ratio:.2f} (cible <= 1,5).")

        copied, events = replay_copies.copy_dossiers(target)
        total = db.session.scalar(select(db.func.count(Dossier.id)))
        print(f"{copied} dossiers créés par copie rejouable des dossiers réels ({events} événements, identifiants "
              f"de tâches de la nouvelle instance, empreintes recalculées) : {total} dossiers au total.")
        verify_s, _ = timed_verification(total, processes, full=False)
        print(f"Vérification du chaînage et de l'état stocké de {total} dossiers ({processes} processus) : "
              f"{verify_s:.2f} s ({verify_s / total * 1000:.2f} ms par dossier).")
        replay_s, steps = timed_verification(total, processes, full=True)
        print(f"Rejeu complet pas à pas et vérification de {total} dossiers ({processes} processus, {steps} étapes) : "
              f"{replay_s:.2f} s ({replay_s / total * 1000:.2f} ms par dossier).")
    return ratio, verify_s, replay_s


if __name__ == "__main__":
    main()
