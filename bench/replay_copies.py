"""Replayable copies of real dossiers for bench/replay.py: a dossier's chain copied under a new instance id, with
the task ids that instance's commands would have created.

SpiffWorkflow's task ids come from a deterministic source per command (engine/clockhooks.py id_source: the k-th id
created by command `seq` of instance `i` is uuid5(namespace(i, seq), k)). A copy under instance j is therefore the
original with each id (seq, k) of i replaced by (seq, k) of j: in every step's state (re-encoded canonically, since a
mapping keyed by task id sorts differently), in the payloads (a completion names its task) and in the service
results. The states of every step are rebuilt once per original by replay; a copy then costs text substitution and
hashing, not a replay, and the verifier's full replay of the copy must rebuild exactly these states.
"""
from __future__ import annotations

import json
import re
import uuid

from sqlalchemy import insert, select

from audit import hash_chain, replayer
from engine import serialization
from models import AuditEvent, Dossier, DossierLink, JournalEntry, Observable, ProcessInstance, db
from workflow import event_chain

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EVENT_FIELDS = ("payload", "service_results", "visited", "states")
JOURNAL_ROWS = {"observable": (Observable, "observable_id"), "note": (JournalEntry, "entry_id"),
                "piece_jointe": (JournalEntry, "entry_id")}
ROW_COLUMNS = {Observable: ("kind", "value", "normalized", "comment", "source", "created_by", "created_at",
                            "removed_at"),
               JournalEntry: ("kind", "body", "author_id", "author_role", "created_at", "file_sha256", "file_name",
                              "file_type", "file_size", "removed_at", "removed_by", "removal_reason")}
INSTANCE_COLUMNS = ("definition_id", "status", "created_at", "updated_at", "engine_revision")
DOSSIER_COLUMNS = ("structure_id", "region", "structure_kind", "title", "incident_types", "qualification",
                   "health_impact", "state", "phase", "off_hours", "military", "declarant_id", "created_at",
                   "declared_at", "qualified_at", "closed_at", "updated_at")


def _namespace(instance_id: int, seq: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"signalement-ssi:{instance_id}:{seq}")


class Template:
    """One real dossier, replayed once: its rows, each step's state and where each task id came from."""

    def __init__(self, dossier: Dossier):
        self.dossier = dossier
        self.instance = db.session.get(ProcessInstance, dossier.instance_id)
        self.events = hash_chain.events_of(self.instance.id)
        self.rows = {model: {row.id: row for row in db.session.scalars(select(model).where(
            model.dossier_id == dossier.id))} for model in ROW_COLUMNS}
        self.states = [snapshot.state_json for snapshot in replayer.replay(self.instance, self.events,
                                                                           summarize=False)]
        texts = self.states + [serialization.canonical_json({f: getattr(e, f) for f in EVENT_FIELDS})
                               for e in self.events]
        found = {m for text in texts for m in UUID_RE.findall(text)}
        self.origin = {}  # task id of the original -> (seq, k) of its source
        for event in self.events:
            namespace = _namespace(self.instance.id, event.seq)
            for k in range(1, len(found) + 1):
                made = str(uuid.uuid5(namespace, str(k)))
                if made in found:
                    self.origin[made] = (event.seq, k)

    def mapping(self, instance_id: int) -> dict:
        """Original task id -> the id the same command of instance `instance_id` creates."""
        namespaces = {}
        out = {}
        for old, (seq, k) in self.origin.items():
            namespace = namespaces.get(seq) or namespaces.setdefault(seq, _namespace(instance_id, seq))
            out[old] = str(uuid.uuid5(namespace, str(k)))
        return out


def _substitute(text: str, mapping: dict) -> str:
    return UUID_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def templates() -> list[Template]:
    """Every dossier not linked to another (a link has two ends), replayed once."""
    linked = set(db.session.scalars(select(DossierLink.source_id))) | set(db.session.scalars(
        select(DossierLink.target_id)))
    return [Template(d) for d in db.session.scalars(select(Dossier).where(Dossier.id.not_in(linked or {0}))
                                                    .order_by(Dossier.id))]


def _next_id(model) -> int:
    return db.session.scalar(select(db.func.coalesce(db.func.max(model.id), 0)))


def copy_dossiers(target: int, batch_events: int = 20000) -> tuple[int, int]:
    """Add replayable copies of the real dossiers until there are `target` dossiers; (copies, events) made.
    A copy is complete: its journal rows (indicators, notes, attachments) are copied too, under new ids that its
    events name, so the verifier checks them like the originals'."""
    models = templates()
    existing = db.session.scalar(select(db.func.count(Dossier.id)))
    next_instance, next_dossier = _next_id(ProcessInstance), _next_id(Dossier)
    next_row = {model: _next_id(model) for model in ROW_COLUMNS}
    batches = _empty()
    events_total = 0
    for n in range(max(target - existing, 0)):
        template = models[n % len(models)]
        next_instance += 1
        next_dossier += 1
        _copy_one(template, next_instance, next_dossier, f"SSI-COPIE-{n + 1:06d}", next_row, batches)
        if len(batches["events"]) > batch_events or n == target - existing - 1:
            events_total += _flush(batches)
            batches = _empty()
    return max(target - existing, 0), events_total


def _empty() -> dict:
    return {"instances": [], "dossiers": [], "events": [], Observable: [], JournalEntry: []}


def _flush(batches: dict) -> int:
    db.session.execute(insert(ProcessInstance), batches["instances"])
    db.session.execute(insert(Dossier), batches["dossiers"])
    db.session.execute(insert(AuditEvent), batches["events"])
    for model in ROW_COLUMNS:
        if batches[model]:
            db.session.execute(insert(model), batches[model])
    db.session.commit()
    return len(batches["events"])


def _copy_one(template: Template, instance_id: int, dossier_id: int, number: str, next_row: dict,
              batches: dict) -> None:
    mapping = template.mapping(instance_id)
    states = {}
    new_ids = {}  # (model, original id) -> the copy's row id
    prev = event_chain.GENESIS_HASH
    state_json = None
    for index, event in enumerate(template.events):
        fields = json.loads(_substitute(serialization.canonical_json({f: getattr(event, f) for f in EVENT_FIELDS}),
                                        mapping))
        payload = fields["payload"]
        if isinstance(payload, dict) and payload.get("action") in JOURNAL_ROWS:
            model, key = JOURNAL_ROWS[payload["action"]]
            next_row[model] += 1
            new_ids[(model, payload[key])] = next_row[model]
            row = {c: getattr(template.rows[model][payload[key]], c) for c in ROW_COLUMNS[model]}
            row |= {"id": next_row[model], "dossier_id": dossier_id}
            if model is JournalEntry:
                row["seq"] = event.seq
            batches[model].append(row)
            payload = dict(payload, **{key: next_row[model]})
        elif isinstance(payload, dict) and payload.get("action") == "retrait":
            model = Observable if payload.get("target") == "observable" else JournalEntry
            payload = dict(payload, id=new_ids.get((model, payload.get("id")), payload.get("id")))
        original_state = template.states[index]
        if original_state not in states:
            states[original_state] = serialization.canonical_json(json.loads(_substitute(original_state, mapping)))
        state_json = states[original_state]
        copy = AuditEvent(instance_id=instance_id, seq=event.seq, at=event.at, actor=event.actor,
                          actor_role=event.actor_role, command=event.command, payload=payload,
                          service_results=fields["service_results"], visited=fields["visited"],
                          states=fields["states"], state_hash=serialization.sha256(state_json), prev_hash=prev)
        copy.hash = event_chain.event_hash(copy)
        prev = copy.hash
        batches["events"].append({c: getattr(copy, c) for c in (
            "instance_id", "seq", "at", "actor", "actor_role", "command", "payload", "service_results",
            "visited", "states", "state_hash", "prev_hash", "hash")})
    batches["instances"].append({c: getattr(template.instance, c) for c in INSTANCE_COLUMNS}
                                | {"id": instance_id, "version": 1, "state_json": state_json,
                                   "state_hash": serialization.sha256(state_json), "last_seq": len(template.events),
                                   "last_hash": prev})
    batches["dossiers"].append({c: getattr(template.dossier, c) for c in DOSSIER_COLUMNS}
                               | {"id": dossier_id, "number": number, "instance_id": instance_id})
