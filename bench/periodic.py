"""What runs without anyone asking, and the national observatory, at the bench database's volume.

Three costs the HTTP mix of bench/web.py does not show, measured in-process on a database kept by
`python bench/web.py --keep` (100,000 dossiers), each the median of several runs after a first one:

- **the scheduler's idle pass** (scheduler.run_sweeps, then scheduler.next_due): at least once a minute, whatever
  the load (timers, reminders, weak signals, failed work, mail, and the next wake);
- **the readiness count** (workflow/operations.counts): what /pret and each /metrics scrape read, every few
  seconds under a load balancer; beside it, for reference, the same count of tasks nobody can take written as the
  rule reads (each open task asked for an active holder), which is how it was counted before;
- **the observatory** (knowledge/statistics.compute) for the current year, as the Cellule ACSS reads it (every
  civil dossier) and as an ARS does (its region).

Last line: `sweep_idle_ms=… readiness_ms=… readiness_per_task_ms=… statistics_national_ms=…
statistics_region_ms=… dossiers=…`.

Run: python bench/periodic.py --database URL [--rounds 5] | --smoke
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import os  # noqa: E402
import statistics as stats  # noqa: E402
import time  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from datetime import date  # noqa: E402

from sqlalchemy import func, or_, select  # noqa: E402

import scheduler  # noqa: E402
from bench import web  # noqa: E402
from bench.request_cost import production_app  # noqa: E402
from knowledge import statistics  # noqa: E402
from models import Dossier, TaskRow, User, db  # noqa: E402
from referentiel import ROLES  # noqa: E402
from web import access  # noqa: E402
from workflow import operations  # noqa: E402


def per_task_count() -> int:
    """Tasks nobody can take, each open task asked for an active holder in its scope (the rule as it reads)."""
    holder = select(User.id).where(User.active, User.role == TaskRow.role,
                                   or_(TaskRow.role != "ars", User.region == TaskRow.region),
                                   or_(TaskRow.role != "declarant", User.structure_id == TaskRow.structure_id))
    return db.session.scalar(select(func.count()).select_from(TaskRow).where(
        TaskRow.status == "ready", or_(TaskRow.role.not_in(list(ROLES)), ~holder.exists()))) or 0


def timed(work, rounds: int) -> float:
    """Median milliseconds of `work()` over `rounds` runs, after one that warms caches; each run's transaction
    is ended so none reads another's snapshot."""
    work()
    db.session.rollback()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return stats.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="URL of a database kept by `python bench/web.py --keep`")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--server", default=os.environ.get("TEST_POSTGRES_SERVER",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--smoke", action="store_true", help="a throwaway database of 200 dossiers, few rounds")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 2
    elif not args.database:
        parser.error("--database (or --smoke) is required")
    with (web.smoke_database(args.server, "periodic") if args.smoke else nullcontext(args.database)) as url:
        app = production_app(url)
        with app.app_context():
            web.settle_outbox(url)  # an idle pass: no backlog left by earlier in-process runs
            dossiers = db.session.scalar(select(func.count()).select_from(Dossier))
            acss = db.session.scalar(select(User).where(User.email == web.ACSS))
            ars = db.session.scalar(select(User).where(User.email == web.ARS))
            year = app.extensions["clock"].now().astimezone(statistics.PARIS).year
            national = statistics.Filters(date(year, 1, 1), date(year, 12, 31))
            region = ars.region
            regional = statistics.Filters(date(year, 1, 1), date(year, 12, 31), region)
            national_scope, regional_scope = access.dossier_filter(acss), access.dossier_filter(ars)
            found = operations.counts()["taches_sans_titulaire"]
            assert found == per_task_count(), "the two ways of counting tasks nobody can take disagree"
            figures = {
                "sweep_idle_ms": timed(lambda: (scheduler.run_sweeps(), scheduler.next_due()), args.rounds),
                "readiness_ms": timed(operations.counts, args.rounds),
                "readiness_per_task_ms": timed(per_task_count, args.rounds),
                "statistics_national_ms": timed(lambda: statistics.compute(national_scope, national), args.rounds),
                "statistics_region_ms": timed(lambda: statistics.compute(regional_scope, regional), args.rounds),
            }
            db.session.remove()
            db.engine.dispose()
        print(f"{dossiers} dossiers; {found} open tasks nobody can take; medians of {args.rounds} runs after a "
              f"first one:")
        for label, value, note in (
                ("scheduler idle pass (sweeps and next wake)", figures["sweep_idle_ms"], ""),
                ("readiness count (/pret, /metrics)", figures["readiness_ms"],
                 f" (asking each open task for a holder: {figures['readiness_per_task_ms']:.1f} ms)"),
                (f"observatory {year}, Cellule ACSS", figures["statistics_national_ms"], ""),
                (f"observatory {year}, ARS {region}", figures["statistics_region_ms"], "")):
            print(f"  {label:<45} {value:8.1f} ms{note}")
    print(" ".join(f"{name}={value:.1f}" for name, value in figures.items()) + f" dossiers={dossiers}")


if __name__ == "__main__":
    main()
