"""Benchmark: replay-and-verify time of a dossier versus the time its commands took live, and verify 10,000.

Usage: python bench/replay.py [--dossiers 10000]

1. Runs every named scenario once on a SQLite file database (a second round would meet the first
   round's open dossiers as "similar incidents" and take other paths), timing each command as the
   application runs it (start_dossier / complete_task / fire_timer, commit included).
2. Verifies each of those dossiers fully (chain + replay of every step + stored state) and divides
   the time by the live time of the same dossier.
3. Fills the database up to `dossiers` dossiers by copying the event chains of the real ones under new
   instance ids with recomputed hashes (running 10,000 real scenarios takes too long), then times
   `verifier.verify_all(full=False)`: chain and stored-state verification of every dossier. Copies
   cannot be replayed (task ids derive from the instance id), so the full-replay time for 10,000 is
   extrapolated from step 2 and printed as such.
Last line: replay_vs_live=<ratio> verify_10000_s=<seconds>
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

from sqlalchemy import insert, select  # noqa: E402

import migrate  # noqa: E402
from app import create_app  # noqa: E402
from audit import hash_chain, verifier  # noqa: E402
from cli import demo, scenarios  # noqa: E402
from models import AuditEvent, Dossier, DossierLink, JournalEntry, Observable, ProcessInstance, db  # noqa: E402
from timekeeping import clock as clock_mod  # noqa: E402
from workflow import commands, deployment, event_chain  # noqa: E402

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


JOURNAL_ROWS = {"observable": (Observable, "observable_id"), "note": (JournalEntry, "entry_id"),
                "piece_jointe": (JournalEntry, "entry_id")}
ROW_COLUMNS = {Observable: ("kind", "value", "normalized", "comment", "source", "created_by", "created_at",
                            "removed_at"),
               JournalEntry: ("kind", "body", "author_id", "author_role", "created_at", "file_sha256", "file_name",
                              "file_type", "file_size", "removed_at", "removed_by", "removal_reason")}


def _next_id(model) -> int:
    return db.session.scalar(select(db.func.coalesce(db.func.max(model.id), 0)))


def copy_chains(target: int) -> tuple[int, int]:
    """Copy real dossiers' event chains under new instance ids until there are `target` dossiers. A copy is
    complete: its journal rows (indicators, notes, attachments) are copied too, under new ids that its events
    name, so `verify` checks them like the originals'. Dossiers linked to others are not used as templates
    (a link has two ends)."""
    linked = set(db.session.scalars(select(DossierLink.source_id))) | set(db.session.scalars(select(DossierLink.target_id)))
    templates = []
    for dossier in db.session.scalars(select(Dossier).where(Dossier.id.not_in(linked or {0})).order_by(Dossier.id)):
        instance = db.session.get(ProcessInstance, dossier.instance_id)
        rows = {model: {row.id: row for row in db.session.scalars(select(model).where(model.dossier_id == dossier.id))}
                for model in ROW_COLUMNS}
        templates.append((dossier, instance, hash_chain.events_of(instance.id), rows))
    existing = db.session.scalar(select(db.func.count(Dossier.id)))
    next_instance, next_dossier = _next_id(ProcessInstance), _next_id(Dossier)
    next_row = {model: _next_id(model) for model in ROW_COLUMNS}
    batches, events_total = {"instances": [], "dossiers": [], "events": [], Observable: [], JournalEntry: []}, 0
    for n in range(target - existing):
        dossier, instance, events, rows = templates[n % len(templates)]
        next_instance += 1
        next_dossier += 1
        batches["instances"].append({c: getattr(instance, c) for c in (
            "definition_id", "state_json", "state_hash", "status", "last_seq", "created_at", "updated_at")}
            | {"id": next_instance, "version": 1})
        batches["dossiers"].append({c: getattr(dossier, c) for c in (
            "structure_id", "region", "structure_kind", "title", "incident_types", "qualification",
            "health_impact", "state", "phase", "off_hours", "military", "declarant_id", "created_at",
            "declared_at", "qualified_at", "closed_at", "updated_at")}
            | {"id": next_dossier, "number": f"SSI-COPIE-{n + 1:06d}", "instance_id": next_instance})
        new_ids = {}  # (model, original id) -> the copy's row id
        prev = event_chain.GENESIS_HASH
        for event in events:
            payload = event.payload
            if isinstance(payload, dict) and payload.get("action") in JOURNAL_ROWS:
                model, key = JOURNAL_ROWS[payload["action"]]
                next_row[model] += 1
                new_ids[(model, payload[key])] = next_row[model]
                original = rows[model][payload[key]]
                batches[model].append({c: getattr(original, c) for c in ROW_COLUMNS[model]}
                                      | {"id": next_row[model], "dossier_id": next_dossier, "seq": event.seq}
                                      if model is JournalEntry else
                                      {c: getattr(original, c) for c in ROW_COLUMNS[model]}
                                      | {"id": next_row[model], "dossier_id": next_dossier})
                payload = dict(payload, **{key: next_row[model]})
            elif isinstance(payload, dict) and payload.get("action") == "retrait":
                model = Observable if payload.get("target") == "observable" else JournalEntry
                payload = dict(payload, id=new_ids.get((model, payload.get("id")), payload.get("id")))
            copy = AuditEvent(instance_id=next_instance, seq=event.seq, at=event.at, actor=event.actor,
                              actor_role=event.actor_role, command=event.command, payload=payload,
                              service_results=event.service_results, visited=event.visited, states=event.states,
                              state_hash=event.state_hash, prev_hash=prev)
            copy.hash = event_chain.event_hash(copy)
            prev = copy.hash
            batches["events"].append({c: getattr(copy, c) for c in (
                "instance_id", "seq", "at", "actor", "actor_role", "command", "payload", "service_results",
                "visited", "states", "state_hash", "prev_hash", "hash")})
        if len(batches["events"]) > 20000 or n == target - existing - 1:
            db.session.execute(insert(ProcessInstance), batches["instances"])
            db.session.execute(insert(Dossier), batches["dossiers"])
            db.session.execute(insert(AuditEvent), batches["events"])
            for model in ROW_COLUMNS:
                if batches[model]:
                    db.session.execute(insert(model), batches[model])
            db.session.commit()
            events_total += len(batches["events"])
            batches = {"instances": [], "dossiers": [], "events": [], Observable: [], JournalEntry: []}
    return target - existing, events_total


def main() -> None:
    """Run the benchmark and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=10000, help="dossiers to verify (default 10000)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file for inspection")
    parser.add_argument("--smoke", action="store_true", help="a hundred dossiers: checks it runs, in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.dossiers = 100
    folder = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        ratio, verify_s = measure(folder, args.dossiers)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"replay_vs_live={ratio:.2f} verify_10000_s={verify_s:.2f}")


def measure(folder: Path, target: int) -> tuple[float, float]:
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
        per_dossier = replay_total / len(dossiers)
        print(f"Total : {len(dossiers)} dossiers, {steps_total} étapes ; direct {live_total:.2f} s, "
              f"rejeu + vérification {replay_total:.2f} s, ratio {ratio:.2f} (cible <= 1,5).")

        copied, events = copy_chains(target)
        total = db.session.scalar(select(db.func.count(Dossier.id)))
        print(f"{copied} dossiers créés par copie des chaînes réelles ({events} événements, empreintes "
              f"recalculées) : {total} dossiers au total.")
        db.session.expunge_all()
        start = time.perf_counter()
        results = verifier.verify_all(full=False)
        verify_s = time.perf_counter() - start
        assert len(results) == total and all(r.ok for r in results)
        print(f"Vérification du chaînage et de l'état stocké de {total} dossiers : {verify_s:.2f} s "
              f"({verify_s / total * 1000:.2f} ms par dossier).")
        print(f"Rejeu complet extrapolé pour {total} dossiers : {per_dossier * total:.0f} s "
              f"({per_dossier * 1000:.1f} ms par dossier mesurés ci-dessus ; non mesuré sur les copies).")
    return ratio, verify_s


if __name__ == "__main__":
    main()
