"""Tables of the dossier's journal: notes and attachments (JournalEntry) and links between dossiers.

Each row is the projection of one audit event of the dossier's hash chain (`seq`), written in the same
transaction; removing an entry is a new event that sets `removed_at`, never a delete. Attachments'
bytes live outside the database, in a folder of files named by their SHA-256 (cases/attachments.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.core import UTCDateTime, db


class JournalEntry(db.Model):
    """One note (note, appel, courriel, décision) or attachment (piece_jointe) in a dossier's journal."""

    __tablename__ = "journal_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # the audit event that added it
    kind: Mapped[str] = mapped_column(String(20))  # referentiel-like codes: cases.journal.ENTRY_KINDS
    body: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Attachments only: the content's SHA-256 names the stored file; name and type are as checked at upload.
    file_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_type: Mapped[str | None] = mapped_column(String(100))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removal_reason: Mapped[str | None] = mapped_column(Text)


class DossierLink(db.Model):
    """A link between two dossiers, with its reason; an event in both dossiers' chains."""

    __tablename__ = "dossier_links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
