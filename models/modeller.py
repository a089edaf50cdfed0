"""The process owners' drafts in the in-browser modeller: one per user and process, never deployed by itself."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.core import UTCDateTime, db


class ModellerDraft(db.Model):
    """A BPMN text and the forms edited beside it, saved as the process owner works."""

    __tablename__ = "modeller_drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(120))
    base_definition_id: Mapped[int | None] = mapped_column(ForeignKey("process_definitions.id"))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("user_id", "process_id"),)
