"""Tables of the knowledge the Cellule ACSS maintains: reflex sheets, providers, retex, weak-signal alerts.

Reflex sheets are versioned: an edit adds a row with the next version of the same `key` and marks it
current, so a mail that linked to version 3 still shows what was sent. `knowledge_events` is the
append-only log of the cell's edits and of every retex publication (who, when, what).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.core import UTCDateTime, db


class Retex(db.Model):
    """A retour d'expérience: the shared ACSS-ARS base and its anonymized community version."""

    __tablename__ = "retex"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    incident_types: Mapped[list] = mapped_column(JSON, default=list)
    region: Mapped[str] = mapped_column(String(80))
    qualification: Mapped[str] = mapped_column(String(40))
    content: Mapped[dict] = mapped_column(JSON, default=dict)
    anonymized: Mapped[dict] = mapped_column(JSON, default=dict)
    shared_with_community: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Lower-case text of every field, the searchable projection (LIKE works the same on both databases).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The anonymized text proposed by knowledge.anonymize, then edited by an analyst; only `published_text`
    # (set by an explicit, logged publication) ever reaches the community page.
    review_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    published_text: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class KnowledgeEntry(db.Model):
    """Knowledge base for qualifying future incidents (phase 6, task B)."""

    __tablename__ = "knowledge_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_type: Mapped[str] = mapped_column(String(80), index=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"))
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReflexSheet(db.Model):
    """One version of a fiche réflexe (Markdown body, rendered sanitized)."""

    __tablename__ = "reflex_sheets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(255))
    incident_types: Mapped[list] = mapped_column(JSON, default=list)
    structure_kinds: Mapped[list] = mapped_column(JSON, default=list)  # empty: every kind
    audiences: Mapped[list] = mapped_column(JSON, default=list)        # direction, equipe_si, utilisateurs
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    __table_args__ = (UniqueConstraint("key", "version"), Index("ix_reflex_sheets_current", "current", "key"))


class Provider(db.Model):
    """An incident-response provider of the cell's directory."""

    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    qualification: Mapped[str] = mapped_column(String(40), default="aucune")  # pris | expertcyber | aucune
    specialities: Mapped[list] = mapped_column(JSON, default=list)             # incident type codes
    regions: Mapped[list] = mapped_column(JSON, default=list)                  # empty: national coverage
    contact: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SheetDispatch(db.Model):
    """A sheet version sent to a dossier's structure (phase 4 task C): its declarants may read that version."""

    __tablename__ = "sheet_dispatches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("reflex_sheets.id"), index=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WeakSignalAlert(db.Model):
    """A burst of similar declarations (one territory, software or provider) in a short window."""

    __tablename__ = "weak_signal_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20))   # departement | region | logiciel | prestataire
    key: Mapped[str] = mapped_column(String(512))
    label: Mapped[str] = mapped_column(String(512))
    dossier_ids: Mapped[list] = mapped_column(JSON, default=list)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    __table_args__ = (Index("ix_weak_signal_alerts_key", "dimension", "key", "last_at"),)


class KnowledgeEvent(db.Model):
    """Append-only log of the cell's edits (sheets, providers) and of retex reviews and publications."""

    __tablename__ = "knowledge_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
