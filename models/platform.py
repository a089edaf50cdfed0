"""Tables of the running platform itself: the scheduler's heartbeat that the readiness check reads, and the
mail template sets that queued messages are pinned to.

A separate scheduler process (`flask scheduler`) writes one row per process name after every sweep;
`/pret` answers 503 when the freshest beat is older than SCHEDULER_HEARTBEAT_MAX_AGE seconds, so a
load balancer stops routing to a deployment whose timers and mail would silently stop.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.core import UTCDateTime, db


class SchedulerHeartbeat(db.Model):
    """The last sweep of one scheduler process (name: host and pid), upserted after each sweep."""

    __tablename__ = "scheduler_heartbeats"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)       # wall-clock (UTC) time of the sweep's end
    sweeps: Mapped[int] = mapped_column(Integer, default=0)


class MailTemplateSet(db.Model):
    """The mail templates of one release, stored once by content hash: a message queued before an upgrade
    that changed them is still rendered with the templates it was written for."""

    __tablename__ = "mail_template_sets"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    files: Mapped[dict] = mapped_column(JSON)                    # {file name: template source}
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
