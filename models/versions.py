"""Tables of process versions beside the definitions: which version is active, what was done to versions,
and the uploads waiting for confirmation after their dry run.

`process_definitions` (models/core.py) holds every deployed version, immutable. New dossiers start on the
version `active_versions` names for their process id, not on the latest: activating an earlier version is
the rollback. `deployment_events` is the audited history of deployments and activations (who, when, why).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.core import UTCDateTime, db


class ActiveVersion(db.Model):
    """The version new dossiers of a process id start on."""

    __tablename__ = "active_versions"
    process_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeploymentEvent(db.Model):
    """One deployment or activation of a version (action: deploiement | activation | migration)."""

    __tablename__ = "deployment_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"))
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class PendingDeployment(db.Model):
    """An uploaded BPMN with its forms and dry-run report, waiting for its uploader's « Déployer »."""

    __tablename__ = "pending_deployments"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict] = mapped_column(JSON, default=dict)
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScenarioAcceptance(db.Model):
    """A named scenario whose path changed with a version, accepted explicitly when that version was deployed:
    which scenario, by whom, when, with the deployment's comment, and the paths compared."""

    __tablename__ = "scenario_acceptances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"), index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"))
    scenario: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
