"""Tables of case work beside the process: the observables of a dossier (indicators of compromise).

An observable is entered by an analyst or by the declarant in a form; each one is also an audit event
of the dossier's hash chain (the row here is the searchable projection of that event). `normalized`
is the value in the canonical form of its kind (lower-case domain, compressed IPv6, lower-case hash…),
and is what searches, similarity and weak signals compare.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.core import UTCDateTime, db


class Observable(db.Model):
    """One typed indicator on one dossier (kinds: referentiel.OBSERVABLE_KINDS)."""

    __tablename__ = "observables"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(String(512))
    comment: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="analyste")   # analyste | declarant
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_observables_lookup", "kind", "normalized"),)
