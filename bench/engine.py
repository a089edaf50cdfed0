"""Engine benchmark: our durable engine against bare SpiffWorkflow, and cost growth with history.

Prints, from one run:
- engine_vs_bare: full-lifecycle throughput through our engine (SQLite file, WAL +
  synchronous=FULL, audit chain, task/timer/dossier rows, outbox) divided by bare
  SpiffWorkflow running the same BPMN with the same inputs in memory (target >= 0.5);
- step200_vs_step10: the cost of one command at the 200th command of a long-lived dossier
  (about four years of weekly updates) divided by its cost at the 10th (target <= 1.2).

Run: python bench/engine.py [--dossiers 30]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text  # noqa: E402

import bare_run  # noqa: E402
import clock as clock_mod  # noqa: E402
import commands  # noqa: E402
import demo  # noqa: E402
import migrate  # noqa: E402
import scenarios  # noqa: E402
from app import create_app  # noqa: E402
from models import AuditEvent, ProcessDefinition, ProcessInstance, Timer, User, db  # noqa: E402

LIFECYCLE = "grave_acss"


def timed_scenario(name: str, clock) -> tuple[float, int]:
    """Run a scenario; return the time spent inside engine commands and the dossier's instance id."""
    scenario = scenarios.SCENARIOS[name]
    clock.set(scenario.start)
    structure = scenarios.structure_for(scenario.structure_finess_prefix)
    declarant = db.session.scalars(select(User).where(User.structure_id == structure.id)).first()
    actor = commands.Actor.of(declarant)
    started = time.perf_counter()
    dossier = commands.start_dossier(structure, declarant, actor)
    spent = time.perf_counter() - started
    for spec_name, data in scenario.steps:
        clock.advance(minutes=30)
        row = scenarios.ready_task(dossier, spec_name)
        who = scenarios.actor_for(row)
        started = time.perf_counter()
        commands.complete_task(row.id, data, who)
        spent += time.perf_counter() - started
    return spent, dossier.instance_id


def bare_time(instance_ids: list[int]) -> float:
    """Time bare SpiffWorkflow takes for the same commands, in memory."""
    inputs = []
    for instance_id in instance_ids:
        instance = db.session.get(ProcessInstance, instance_id)
        spec, subs = commands.spec_of(db.session.get(ProcessDefinition, instance.definition_id))
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                    .order_by(AuditEvent.seq)).all()
        inputs.append((spec, subs, bare_run.events_of(events), str(instance_id)))
    started = time.perf_counter()
    for spec, subs, events, key in inputs:
        bare_run.run_commands(spec, subs, events, instance_key=key)
    return time.perf_counter() - started


def long_lived(clock, commands_count: int = 205) -> list[float]:
    """Cost of each command of a dossier that stays years in weekly support."""
    dossier, _ = scenarios.run(LIFECYCLE, clock, until="p4_accompagner")
    costs = []
    for i in range(commands_count):
        if i % 2:
            clock.advance(days=7, seconds=1)  # a week without report: the weekly timer fires
            timer = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id,
                                                                    Timer.status == "pending")).one()
            started = time.perf_counter()
            commands.fire_timer(timer)
        else:
            clock.advance(days=1)
            row = scenarios.ready_task(dossier, "p4_accompagner")
            who = scenarios.actor_for(row)
            started = time.perf_counter()
            commands.complete_task(row.id, scenarios.SUIVI_CONTINUE, who)
        costs.append(time.perf_counter() - started)
    return costs


def durable_commit_cost(samples: int = 50) -> float:
    """Median wall time of one durable commit (one small INSERT) on the same database: the fsync floor."""
    costs = []
    for i in range(samples):
        started = time.perf_counter()
        db.session.execute(text("INSERT INTO counters (name, value) VALUES (:n, 0)"), {"n": f"bench-{i}"})
        db.session.commit()
        costs.append(time.perf_counter() - started)
    return statistics.median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clock = clock_mod.FrozenClock()
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db", "TESTING": True,
                          "CLOCK": clock, "SECRET_KEY": "bench"})
        with app.app_context():
            migrate.upgrade()
            commands.deploy(app.config["PROCESS_FILE"])
            demo.load_demo("bench")
            timed_scenario(LIFECYCLE, clock)  # warm-up: caches, first connection
            engine_total, ids = 0.0, []
            for _ in range(args.dossiers):
                spent, instance_id = timed_scenario(LIFECYCLE, clock)
                engine_total += spent
                ids.append(instance_id)
            bare_total = min(bare_time(ids) for _ in range(3))
            ratio = bare_total / engine_total
            commands_per_dossier = len(scenarios.SCENARIOS[LIFECYCLE].steps) + 1
            commit = durable_commit_cost()
            bare_per_command = bare_total / args.dossiers / commands_per_dossier
            print(f"lifecycle '{LIFECYCLE}' x{args.dossiers} ({commands_per_dossier} commands each): engine "
                  f"{engine_total * 1000 / args.dossiers:.1f} ms/dossier, bare SpiffWorkflow "
                  f"{bare_total * 1000 / args.dossiers:.1f} ms/dossier")
            print(f"one durable commit (SQLite WAL, synchronous=FULL) alone: {commit * 1000:.2f} ms; bare "
                  f"SpiffWorkflow per command: {bare_per_command * 1000:.2f} ms; so with one durable commit per "
                  f"command the ratio cannot exceed {bare_per_command / (bare_per_command + commit):.2f} on this disk")
            print(f"engine cost per command besides the commit: "
                  f"{(engine_total / args.dossiers / commands_per_dossier - commit) * 1000:.2f} ms")
            costs = long_lived(clock)
            at10 = statistics.median(costs[5:15])
            at200 = statistics.median(costs[195:205])
            print(f"long-lived dossier: command 10 {at10 * 1000:.2f} ms, command 200 {at200 * 1000:.2f} ms "
                  f"(medians of 10 commands around each)")
            db.session.remove()
            db.engine.dispose()
    print(f"engine_vs_bare={ratio:.2f} step200_vs_step10={at200 / at10:.2f}")


if __name__ == "__main__":
    main()
