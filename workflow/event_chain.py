"""The audit event a command appends: the chain's first link, the columns written and the event's hash.

The encoding is the audit chain format: changing it would break the verification of stored chains.
"""
from __future__ import annotations

from sqlalchemy import insert

from engine import serialization
from models import AuditEvent


GENESIS_HASH = "0" * 64


AUDIT_COLUMNS = ("instance_id", "seq", "at", "actor", "actor_role", "command", "payload", "service_results",
                 "visited", "states", "state_hash", "prev_hash", "hash")
# The one statement that writes events, built once (models/kept.py says why): live, deferred (workflow/opened.py).
INSERT_AUDIT = insert(AuditEvent.__table__)


def event_hash(event: AuditEvent) -> str:
    """Hash of an audit event over a canonical encoding, chained to the previous one."""
    return serialization.sha256(serialization.canonical_json({
        "instance": event.instance_id, "seq": event.seq, "at": event.at.isoformat(), "actor": event.actor,
        "actor_role": event.actor_role, "command": event.command, "payload": event.payload,
        "service_results": event.service_results, "visited": event.visited, "states": event.states,
        "state_hash": event.state_hash, "prev_hash": event.prev_hash,
    }))
