"""The statistics' facts of a dossier (models.DossierFacts) read from its process data."""
from __future__ import annotations

from models import DossierFacts, db

ORIGINS = {"malveillante": "Malveillante", "accidentelle": "Accidentelle", "indeterminee": "Indéterminée"}
DATA_IMPACTS = {"disponibilite": "Disponibilité", "integrite": "Intégrité", "confidentialite": "Confidentialité"}
# Form fields the facts come from: a command that submits none of them leaves the facts as they are.
FACT_KEYS = frozenset({"origine", "origine_confirmee", "impact_donnees", "donnees_personnelles"})


def facts_from_data(data: dict) -> dict:
    """Origin (the analysts' confirmed one over the declared one), data impact and personal data."""
    origin = data.get("origine_confirmee") if data.get("origine_confirmee") in ORIGINS else data.get("origine")
    impacts = data.get("impact_donnees")
    personal = data.get("donnees_personnelles")
    return {"origin": origin if origin in ORIGINS else None,
            "data_impact": sorted({i for i in impacts if i in DATA_IMPACTS}) if isinstance(impacts, list) else [],
            "personal_data": personal if isinstance(personal, bool) else None}


def record_facts(dossier_id: int, data: dict, submitted: dict, known: dict | None = None) -> None:
    """Update a dossier's facts when a form submitted one of their fields (in the command's transaction).

    `known` ({dossier id: facts}), for a dossier the transaction opened: it has no stored facts, so none are looked
    for, and the facts a first step adds are kept there for the next steps (the session's identity map holds an
    object only while something else does)."""
    if not FACT_KEYS & set(submitted):
        return
    facts = facts_from_data(data)
    row = db.session.get(DossierFacts, dossier_id) if known is None else known.get(dossier_id)
    if row is None:
        row = DossierFacts(dossier_id=dossier_id, **facts)
        db.session.add(row)
        if known is not None:
            known[dossier_id] = row
    else:
        for key, value in facts.items():
            setattr(row, key, value)
