"""Bulk data for bench/web.py: many whole dossiers cloned from real ones, written with COPY into PostgreSQL.

A few template dossiers are run through the real engine (named scenarios, stopped at different tasks,
or to the end). Each clone copies a template's rows (instance with its process state, dossier, tasks,
audit events, outbox messages, timers) with new ids, new task UUIDs (also inside the state, so a
clone's open task can really be completed), another structure and region, and its instants moved.
The audit chain of a clone is not re-hashed: this database is thrown away after the benchmark.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import JSON, func, select, text

from cli import scenarios
from models import (AuditEvent, Dossier, OutboxMessage, ProcessInstance, Structure, TaskRow, Timer, UTCDateTime,
                    db)
from referentiel import REGIONS

# (scenario, stop before this task or None for the whole life, weight): most dossiers are closed,
# the others wait at every phase; a few come from military hospitals.
# Open grave dossiers of one incident type make the next one « similar » (phase 4 bis): the open
# templates that go through phase 4 run first.
TEMPLATES = [("b1", None, 30), ("grave_acss", None, 20), ("grave_ars", None, 8),
             ("grave_acss", "p5_bilan", 4), ("hors_heures", "p4_accompagner", 10),
             ("b1", "p2_ouvrir", 8), ("grave_acss", "p3_qualifier", 6), ("grave_ars", "p4_choix", 5),
             ("significatif_crise", "p5_cloturer", 4), ("militaire_impact_soins", "mil_traiter", 3),
             ("militaire_sans_impact", None, 2)]
HOT = ("b1", "p2_ouvrir")  # the template whose clones the benchmark completes (task p2_ouvrir, Cellule ACSS)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TABLES = [ProcessInstance.__table__, Dossier.__table__, TaskRow.__table__, AuditEvent.__table__,
          OutboxMessage.__table__, Timer.__table__]


class Template:
    """The rows of one real dossier, pre-split so that a clone is built by joining strings."""

    def __init__(self, dossier: Dossier, weight: int, hot: bool):
        self.weight, self.hot, self.military = weight, hot, dossier.military
        self.base = dossier.created_at
        self.closed = dossier.closed_at is not None
        conn = db.session.connection()
        self.rows = {}
        uuids: dict[str, int] = {}
        for table in TABLES:
            if table.name in ("process_instances", "dossiers"):
                key = table.c.id == (dossier.instance_id if table.name == "process_instances" else dossier.id)
            elif table.name == "outbox":
                key = table.c.dossier_id == dossier.id
            else:
                key = table.c.instance_id == dossier.instance_id
            rows = [dict(r) for r in conn.execute(select(table).where(key)).mappings()]
            self.rows[table.name] = rows
            for row in rows:
                for value in row.values():
                    if isinstance(value, (dict, list)):
                        value = json.dumps(value, ensure_ascii=False)
                    if isinstance(value, str):
                        for found in UUID.findall(value):
                            uuids.setdefault(found, len(uuids))
        self.uuids = uuids
        self.parts = {}  # (table, row index) -> {column: [str | int]}: literal pieces and UUID indexes
        for name, rows in self.rows.items():
            table = db.metadata.tables[name]
            for index, row in enumerate(rows):
                for column in table.columns:
                    value = row[column.name]
                    if isinstance(column.type, JSON) and value is not None:
                        value = row[column.name] = json.dumps(value, ensure_ascii=False)
                    if isinstance(value, str) and UUID.search(value):
                        pieces, last = [], 0
                        for found in UUID.finditer(value):
                            pieces += [value[last:found.start()], self.uuids[found.group(0)]]
                            last = found.end()
                        pieces.append(value[last:])
                        self.parts.setdefault((name, index), {})[column.name] = pieces


def make_templates(clock) -> list[Template]:
    """Run each template scenario through the engine on this database and keep its rows."""
    templates = []
    for name, until, weight in TEMPLATES:
        dossier, _ = scenarios.run(name, clock, until=until)
        templates.append(Template(dossier, weight, (name, until) == HOT))
    return templates


def add_structures(per_region: int = 12) -> dict[bool, list]:
    """Civil structures in every region (cloned from a demo one), and the military hospitals of the demo."""
    model = db.session.scalar(select(Structure).where(Structure.kind != "hopital_armees").order_by(Structure.id))
    rows = []
    for r, region in enumerate(REGIONS):
        for i in range(per_region):
            code = f"9{r:02d}{i:04d}"
            rows.append(dict(name=f"Centre hospitalier {region} {i + 1}", finess_ej=code[:8] + "0",
                             finess_et=code[:8] + "1", kind=model.kind, region=region, department=model.department,
                             city=f"Ville {i + 1}", email=f"ssi{r}-{i}@bench.example.fr", oiv=i == 0))
    db.session.execute(Structure.__table__.insert(), rows)
    db.session.commit()
    civil = db.session.execute(select(Structure.id, Structure.region, Structure.kind)
                               .where(Structure.kind != "hopital_armees")).all()
    military = db.session.execute(select(Structure.id, Structure.region, Structure.kind)
                                  .where(Structure.kind == "hopital_armees")).all()
    return {False: civil, True: military or civil}


def clone_all(templates: list[Template], count: int, now: datetime, seed: int = 2017281,
              chunk: int = 2000) -> dict:
    """COPY `count` clones (weighted mix of the templates) into PostgreSQL; the ids of the hot tasks."""
    rng = random.Random(seed)
    structures = add_structures()
    conn = db.session.connection()
    next_id = {t.name: (conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar() + 1)
               for t in TABLES if t.name != "tasks"}
    db.session.commit()
    numbers = {year: 0 for year in range(2019, now.year)}
    weights = [t.weight for t in templates]
    columns = {t.name: [c.name for c in t.columns] for t in TABLES}
    dates = {t.name: [c.name for c in t.columns if isinstance(c.type, UTCDateTime)] for t in TABLES}
    span = (datetime(now.year, 1, 1, tzinfo=timezone.utc) - datetime(2019, 1, 1, tzinfo=timezone.utc)).total_seconds()
    hot_tasks: list[str] = []
    raw = db.engine.raw_connection()
    try:
        for first in range(0, count, chunk):
            buffers = {t.name: [] for t in TABLES}
            for _ in range(first, min(count, first + chunk)):
                template = rng.choices(templates, weights)[0]
                # Closed dossiers spread over past years; open ones declared in the last 60 days.
                if template.closed:
                    when = datetime(2019, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=rng.uniform(0, span))
                else:
                    when = now - timedelta(days=rng.uniform(0.5, 60))
                year = when.year if when.year in numbers else now.year - 1
                numbers[year] += 1
                _clone(template, when - template.base, rng, rng.choice(structures[template.military]),
                       f"SSI-{year}-{numbers[year]:05d}", next_id, dates, now, buffers, hot_tasks)
            with raw.cursor() as cursor:
                for table in TABLES:  # parents first: the foreign keys hold at every statement
                    with cursor.copy(f"COPY {table.name} ({', '.join(columns[table.name])}) FROM STDIN") as copy:
                        for out in buffers[table.name]:
                            copy.write_row([out[c] for c in columns[table.name]])
            raw.commit()
    finally:
        raw.close()
    for table in TABLES:
        if table.name != "tasks":
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                    f"(SELECT max(id) FROM {table.name}))"))
    db.session.commit()
    return {"hot_tasks": hot_tasks}


def _clone(template: Template, delta: timedelta, rng: random.Random, structure, number: str, next_id: dict,
           dates: dict, now: datetime, buffers: dict, hot_tasks: list) -> None:
    """The rows of one clone of a template, appended to the per-table buffers."""
    fresh = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in template.uuids]
    instance_id, dossier_id = next_id["process_instances"], next_id["dossiers"]
    for name, rows in template.rows.items():
        for index, row in enumerate(rows):
            out = dict(row)
            for column in dates[name]:
                if out[column] is not None:
                    out[column] = out[column] + delta
            for column, pieces in template.parts.get((name, index), {}).items():
                out[column] = "".join(p if isinstance(p, str) else fresh[p] for p in pieces)
            if name != "tasks":
                out["id"] = next_id[name]
                next_id[name] += 1
            if "instance_id" in out:
                out["instance_id"] = instance_id
            if name == "dossiers":
                out.update(number=number, structure_id=structure.id, region=structure.region,
                           structure_kind=structure.kind)
            elif name == "process_instances":
                out["state_hash"] = hashlib.sha256(out["state_json"].encode()).hexdigest()
            elif name == "tasks":
                out.update(dossier_id=dossier_id, structure_id=structure.id, region=structure.region)
                if out["status"] == "ready":
                    out["reminded_at"] = now  # no reminder storm from cloned overdue tasks
                    if template.hot:
                        hot_tasks.append(out["id"])
            elif name == "outbox":
                out.update(dossier_id=dossier_id, status="sent", message_id=f"<bench.{out['id']}@bench>")
            elif name == "timers" and out["status"] == "pending":
                out["due_at"] = now + timedelta(days=rng.uniform(1, 30))  # not during the run
            buffers[name].append(out)
