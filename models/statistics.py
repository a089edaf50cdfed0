"""Facts of a dossier that only the statistics read: the origin and the data impact of the incident.

They live in the process data (forms p1-origine, p1-impact and analyse-causes), not in the dossier's
columns; this projection lets the observatory count them with SQL aggregates. One row per dossier,
written by the command that submits them (workflow/sync.py) and filled by migration 0022 for
dossiers declared before it.
"""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.core import db


class DossierFacts(db.Model):
    """Origin (malveillante | accidentelle | indeterminee) and data impact of one dossier."""

    __tablename__ = "dossier_facts"
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id"), primary_key=True, autoincrement=False)
    origin: Mapped[str | None] = mapped_column(String(20))
    # Subset of disponibilite, integrite, confidentialite (form p1-impact's « Atteinte aux données »).
    data_impact: Mapped[list] = mapped_column(JSON, default=list)
    personal_data: Mapped[bool | None] = mapped_column(Boolean)
