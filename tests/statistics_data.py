"""A generated data set with known counts for the statistics tests (no tests here).

Dossiers are inserted directly (with a bare process instance each), so every figure of the
observatory is known in advance; EXPECTED_ACSS below is what the Cellule ACSS must read for 2025.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models import Dossier, DossierFacts, ProcessDefinition, ProcessInstance, Structure, db

PARIS = ZoneInfo("Europe/Paris")
P3, P4, P5 = "Phase 3 - Qualification", "Phase 4 - Appui au traitement", "Phase 5 - Clôture"


def paris(*args) -> datetime:
    """An instant given in Paris local time, as UTC."""
    return datetime(*args, tzinfo=PARIS).astimezone(timezone.utc)


def _structure(city: str) -> Structure:
    return db.session.scalar(select(Structure).where(Structure.city == city))


def add_dossier(number: str, city: str, declared_at, *, types=(), state="à traiter", phase="", facts=None,
                qualified_at=None, closed_at=None, care=None, urgent=False, off_hours=False, military=False,
                addressed_to=None) -> Dossier:
    """One dossier of a demo structure, with its facts row when `facts` is given (origin, data impact, personal)."""
    structure = _structure(city)
    definition = db.session.scalar(select(ProcessDefinition.id).limit(1))
    created = declared_at or paris(2025, 1, 1)
    instance = ProcessInstance(definition_id=definition, state_json=json.dumps({}), state_hash="0" * 64,
                               created_at=created, updated_at=created)
    db.session.add(instance)
    db.session.flush()
    dossier = Dossier(number=number, instance_id=instance.id, structure_id=structure.id, region=structure.region,
                      structure_kind=structure.kind, title=f"Incident {number}", incident_types=list(types),
                      state=state, phase=phase, off_hours=off_hours, urgent_help=urgent, care_impact=care,
                      military=military, addressed_to=addressed_to, created_at=created - timedelta(minutes=20),
                      declared_at=declared_at, qualified_at=qualified_at, closed_at=closed_at, updated_at=created,
                      qualification="grave" if qualified_at else None)
    db.session.add(dossier)
    db.session.flush()
    if facts is not None:
        origin, impacts, personal = facts
        db.session.add(DossierFacts(dossier_id=dossier.id, origin=origin, data_impact=list(impacts),
                                    personal_data=personal))
    return dossier


def build() -> None:
    """The data set: six dossiers in 2025 for the Cellule ACSS, five for the HFDS, three for ARS Bretagne."""
    # A: Rennes, a Wednesday; qualified 4 working hours later, closed 18 working hours later.
    add_dossier("S-A", "Rennes", paris(2025, 1, 15, 11), types=["rancongiciel", "divulgation_donnees"],
                facts=("malveillante", ["disponibilite", "confidentialite"], True), care="mode_degrade", urgent=True,
                qualified_at=paris(2025, 1, 15, 15), closed_at=paris(2025, 1, 17, 11), state="clôturé")
    # B: Saturday 1 February 00:30 in Paris (still 31 January in UTC): counts in February; 1 working hour.
    add_dossier("S-B", "Rennes", paris(2025, 2, 1, 0, 30), types=["hameconnage"], facts=("accidentelle", [], False),
                care="aucun", off_hours=True, qualified_at=paris(2025, 2, 3, 10), phase=P4)
    # C: Metz, no facts row, no care answer: the « non renseigné » rows.
    add_dossier("S-C", "Metz", paris(2025, 3, 10, 10), types=["rancongiciel"], urgent=True, off_hours=True,
                state="en attente de qualification", phase=P3)
    # D: a laboratory; 18 working hours to qualify, 44 to close.
    add_dossier("S-D", "Lyon", paris(2025, 6, 2, 10), types=["compromission_compte"], facts=("indeterminee", ["integrite"], None),
                care="mise_en_danger_potentielle", qualified_at=paris(2025, 6, 4, 10), closed_at=paris(2025, 6, 6, 18),
                state="clôturé")
    # E: 1 January 2026 in Paris (31 December 2025 in UTC): outside 2025, but open (phase snapshot).
    add_dossier("S-E", "Tours", paris(2026, 1, 1, 0, 30), types=["autre"], phase=P4)
    # F: New Year's Day 00:30 in Paris (31 December 2024 in UTC): January 2025; 3 working hours (holiday).
    add_dossier("S-F", "Rennes", paris(2025, 1, 1, 0, 30), types=["vol_materiel"], facts=("malveillante", [], False),
                care="aucun", qualified_at=paris(2025, 1, 2, 12), state="à clôturer", phase=P5)
    # G: a military hospital's dossier not addressed to anyone: no civil reader counts it.
    add_dossier("S-G", "Saint-Mandé", paris(2025, 5, 5, 10), types=["rancongiciel"], military=True,
                facts=("malveillante", [], False), phase=P4)
    # H: a military hospital's dossier addressed to the Cellule ACSS: it reads it, so it counts it;
    # 18 working hours to qualify (Thursday 8 May is a holiday).
    add_dossier("S-H", "Saint-Mandé", paris(2025, 5, 6, 9), types=["rancongiciel"], military=True, addressed_to="acss",
                facts=("malveillante", ["disponibilite"], True), care="interruption", qualified_at=paris(2025, 5, 8, 10),
                phase=P4)
    # I: a declaration still being typed: nobody but its structure sees it.
    add_dossier("S-I", "Paris", None, types=["rancongiciel"], state="en cours de déclaration")
    db.session.commit()


EXPECTED_ACSS = {
    "total": 6,
    "mois": {"janvier 2025": 2, "février 2025": 1, "mars 2025": 1, "avril 2025": 0, "mai 2025": 1, "juin 2025": 1,
             "décembre 2025": 0},
    "type": {"rancongiciel": 3, "divulgation_donnees": 1, "hameconnage": 1, "compromission_compte": 1,
             "vol_materiel": 1, "autre": 0},
    "structure": {"etablissement_sante": 4, "laboratoire": 1, "hopital_armees": 1, "radiotherapie": 0},
    "region": {"Bretagne": 3, "Grand Est": 1, "Auvergne-Rhône-Alpes": 1, "Île-de-France": 1, "Centre-Val de Loire": 0},
    "origine": {"malveillante": 3, "accidentelle": 1, "indeterminee": 1, "": 1},
    "soins": {"aucun": 2, "mode_degrade": 1, "mise_en_danger_potentielle": 1, "interruption": 1,
              "mise_en_danger_averee": 0, "": 1},
    "donnees": {"disponibilite": 2, "integrite": 1, "confidentialite": 1, "aucune": 2, "personnelles": 2},
    "parts": {"aide_urgente": (2, 33.3), "hors_heures": (2, 33.3)},
    # (count, first quartile, median, third quartile) in working hours: [1, 3, 4, 18, 18] and [18, 44].
    "delais": {"qualification": (5, 3.0, 4.0, 18.0), "cloture": (2, 24.5, 31.0, 37.5)},
    "phases": {P3: 1, P4: 3, P5: 1},
}
