"""Lateness of fired timers: 10,000 timers due within one minute, woken by the real scheduler.

What is measured is the scheduler and the sweep (wake at the next due time, claim, one
transaction per timer, re-plan), on the real clock: each timer is fired through a no-op
firing function that marks the row fired in its own transaction, because the engine's own
cost (~20 ms per SpiffWorkflow command here) would turn this into a throughput test of
SpiffWorkflow. Lateness = wall-clock instant of the firing minus the timer's due time.

    python bench/timers.py [--timers 10000] [--window 60] [--database URL]

The last line reads `timer_lateness_p50_s=<seconds> timer_lateness_p99_s=<seconds>`
(target: 99th percentile under one second).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

import migrate  # noqa: E402
import scheduler  # noqa: E402
from app import create_app  # noqa: E402
from models import ProcessInstance, Timer, db  # noqa: E402
from workflow import deployment  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))]


def _arguments() -> argparse.Namespace:
    """The command-line options: how many timers, over which window, on which database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which the timers are due")
    parser.add_argument("--lead", type=float, default=3.0, help="seconds before the first timer is due")
    parser.add_argument("--instances", type=int, default=500, help="process instances the timers belong to")
    parser.add_argument("--database", default=None, help="SQLAlchemy URL of an empty database (default: SQLite file)")
    parser.add_argument("--smoke", action="store_true", help="a few timers: checks it runs, in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.timers, args.window, args.lead, args.instances = 60, 3.0, 1.0, 10
    return args


def _seed_timers(app, args: argparse.Namespace) -> None:
    """Upgrade the schema, deploy the process and write the pending timers of many instances."""
    migrate.upgrade()
    definition = deployment.deploy(app.config["PROCESS_FILE"], actor="bench")
    now = datetime.now(timezone.utc)
    # Timers of many instances, as in real life: a sweep locks each timer's instance while firing it.
    instances = [ProcessInstance(definition_id=definition.id, state_json="{}", state_hash="", status="running",
                                 created_at=now, updated_at=now, last_seq=0) for _ in range(args.instances)]
    db.session.add_all(instances)
    db.session.commit()
    instance_ids = [i.id for i in instances]
    first = datetime.now(timezone.utc) + timedelta(seconds=args.lead)
    step = args.window / args.timers
    rows = [{"instance_id": instance_ids[i % len(instance_ids)], "task_id": f"bench-{i:06d}", "spec_name": "bench",
             "due_at": first + timedelta(seconds=i * step), "status": "pending", "attempts": 0}
            for i in range(args.timers)]
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(Timer), rows[start:start + 1000])
    db.session.commit()
    db.session.remove()


def main() -> None:
    args = _arguments()
    url = args.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    lateness: list[float] = []
    lock = threading.Lock()

    def fire(timer: Timer) -> None:
        """No-op firing: mark the row fired in its own transaction and note the lateness."""
        now = datetime.now(timezone.utc)
        timer.status, timer.fired_at = "fired", now
        db.session.commit()
        with lock:
            lateness.append((now - timer.due_at).total_seconds())

    with app.app_context():
        _seed_timers(app, args)

        print(f"{args.timers} minuteurs dus entre +{args.lead:.0f} s et +{args.lead + args.window:.0f} s "
              f"({db.engine.dialect.name}) ; le planificateur les réveille (déclenchement sans moteur).", flush=True)
        sched = scheduler.Scheduler(app, fire=fire)
        started = time.monotonic()
        sched.start()
        deadline = started + args.lead + args.window + 120
        try:
            while time.monotonic() < deadline:
                sched.wait_for_sweeps(sched.sweeps + 1, 5)
                with lock:
                    if len(lateness) >= args.timers:
                        break
        finally:
            sched.shutdown()
        remaining = db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending"))
        db.session.remove()
        db.engine.dispose()

    if not lateness:
        print("aucun minuteur déclenché")
        sys.exit(1)
    p50, p99 = statistics.median(lateness), percentile(lateness, 99)
    print(f"déclenchés : {len(lateness)}, restants : {remaining}, réveils du planificateur : {sched.sweeps}")
    print(f"retard médian {p50 * 1000:.1f} ms, 99e centile {p99 * 1000:.1f} ms, max {max(lateness) * 1000:.1f} ms "
          f"(objectif : 99e centile < 1 s : {'atteint' if p99 < 1 and remaining == 0 else 'NON atteint'})")
    print(f"timer_lateness_p50_s={p50:.4f} timer_lateness_p99_s={p99:.4f}")


if __name__ == "__main__":
    main()
