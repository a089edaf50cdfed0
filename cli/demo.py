"""Demo data: structures with valid FINESS numbers in several regions, one user per role, the cell's knowledge."""
from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from sqlalchemy import select

from accounts import structures, users
from cli.demo_knowledge import load_knowledge
from models import Structure, User, db
from referentiel import finess_with_key, slugify

DEMO_PASSWORD = "demo-signalement-2026"
DEMO_ACTOR = "données de démonstration"

# name, FINESS EJ prefix, FINESS ET prefix (8 digits; the key is computed), kind, region, department, city, OIV
STRUCTURES = [
    ("Centre hospitalier universitaire de Rennes", "35000001", "35000002", "etablissement_sante", "Bretagne", "35", "Rennes", True),
    ("Centre hospitalier de Metz-Thionville", "57000101", "57000102", "etablissement_sante", "Grand Est", "57", "Metz", False),
    ("Hôpital d'instruction des armées Bégin", "94000201", "94000202", "hopital_armees", "Île-de-France", "94", "Saint-Mandé", False),
    ("Laboratoire Biolyon Confluence", "69000301", "69000302", "laboratoire", "Auvergne-Rhône-Alpes", "69", "Lyon", False),
    ("Centre de radiothérapie du Val de Loire", "37000401", "37000402", "radiotherapie", "Centre-Val de Loire", "37", "Tours", False),
    ("Centre hospitalier universitaire de Pointe-à-Pitre", "97100501", "97100502", "etablissement_sante", "Guadeloupe", "971", "Pointe-à-Pitre", False),
    ("Assistance publique - Hôpitaux de Paris, hôpital Saint-Louis", "75000601", "75000602", "etablissement_sante", "Île-de-France", "75", "Paris", True),
    ("Centre hospitalier de Bastia", "2B000701", "2B000702", "etablissement_sante", "Corse", "2B", "Bastia", False),
]

# e-mail, name, role, region, index of structure (for déclarants), phone, title
USERS = [
    ("declarant.rennes@chu-rennes.example.fr", "Claire Le Gall", "declarant", None, 0, "02 99 00 00 01", "Directrice générale adjointe"),
    ("declarant.metz@chr-metz.example.fr", "Thomas Muller", "declarant", None, 1, "03 87 00 00 02", "RSSI (délégué du directeur)"),
    ("declarant.begin@sante.defense.example.fr", "Cdt Julien Armand", "declarant", None, 2, "01 43 00 00 03", "Directeur de l'hôpital"),
    ("declarant.lyon@biolyon.example.fr", "Sophie Garnier", "declarant", None, 3, "04 72 00 00 04", "Biologiste responsable"),
    ("declarant.tours@radiotherapie.example.fr", "Marc Robin", "declarant", None, 4, "02 47 00 00 05", "Directeur"),
    ("declarant.pap@chu-guadeloupe.example.fr", "Nadia Bellance", "declarant", None, 5, "05 90 00 00 06", "Directrice du système d'information"),
    ("declarant.aphp@aphp.example.fr", "Paul Durand", "declarant", None, 6, "01 42 00 00 07", "RSSI"),
    ("ars.bretagne@ars.example.fr", "Anne Morvan", "ars", "Bretagne", None, "02 22 00 00 10", "Référente SSI ARS"),
    ("ars.grandest@ars.example.fr", "Luc Schmitt", "ars", "Grand Est", None, "03 83 00 00 11", "Référent SSI ARS"),
    ("ars.idf@ars.example.fr", "Inès Haddad", "ars", "Île-de-France", None, "01 44 00 00 12", "Référente SSI ARS"),
    ("ars.guadeloupe@ars.example.fr", "Jean Lubin", "ars", "Guadeloupe", None, "05 90 00 00 13", "Référent SSI ARS"),
    ("ars.ara@ars.example.fr", "Hélène Roux", "ars", "Auvergne-Rhône-Alpes", None, "04 72 00 00 14", "Référente SSI ARS"),
    ("ars.cvl@ars.example.fr", "Olivier Petit", "ars", "Centre-Val de Loire", None, "02 38 00 00 15", "Référent SSI ARS"),
    ("ars.corse@ars.example.fr", "Marie Santoni", "ars", "Corse", None, "04 95 00 00 16", "Référente SSI ARS"),
    ("analyste@acss.example.fr", "Karim Benali", "acss", None, None, "01 58 00 00 20", "Analyste Cellule ACSS"),
    ("fssi@hfds.example.fr", "Catherine Vidal", "hfds", None, None, "01 40 00 00 30", "FSSI"),
    ("dgs@dgs.example.fr", "Dr Élise Martin", "dgs", None, None, "01 40 00 00 40", "Médecin, centre opérationnel DGS"),
    ("cyber@armees.example.fr", "Lt-col Yann Kerbrat", "armees", None, None, "01 80 00 00 50", "Chaîne cyber, ministère des armées"),
    ("auditeur@igas.example.fr", "Bernard Lefèvre", "auditeur", None, None, "01 40 00 00 60", "Auditeur"),
    ("processus@hfds.example.fr", "Sandrine Colin", "responsable_processus", None, None, "01 40 00 00 70", "Responsable de processus"),
    ("admin@signalement.example.fr", "Admin Plateforme", "admin", None, None, "01 40 00 00 80", "Administrateur"),
]


@lru_cache(maxsize=4)
def _demo_hash(password: str) -> str:
    """One argon2 hash for every demo account, computed once per process: it is most of a load's cost, and the
    test suite loads the demo for each test."""
    return PasswordHasher().hash(password)


def load_demo(password: str = DEMO_PASSWORD) -> dict:
    """Insert the demo structures and users if they are missing, through the same checks and journal as the
    administration pages; return what was created."""
    hashed = _demo_hash(password)
    created = {"structures": 0, "users": 0}
    by_index = []
    for name, ej, et, kind, region, department, city, oiv in STRUCTURES:
        finess_et = finess_with_key(et)
        structure = db.session.scalar(select(Structure).where(Structure.finess_et == finess_et))
        if structure is None:
            structure, errors = structures.save(
                {"name": name, "finess_ej": finess_with_key(ej), "finess_et": finess_et, "kind": kind,
                 "department": department, "city": city, "oiv": "oui" if oiv else "",
                 "email": f"ssi@{slugify(city).replace('-', '')}.example.fr"}, DEMO_ACTOR)
            if errors:
                raise ValueError(f"structure de démonstration {name} : {errors}")
            created["structures"] += 1
        by_index.append(structure)
    for email, name, role, region, index, phone, title in USERS:
        if db.session.scalar(select(User).where(User.email == email)) is None:
            user, errors = users.save({"email": email, "name": name, "role": role, "region": region or "",
                                       "structure_id": by_index[index].id if index is not None else "",
                                       "phone": phone, "title": title}, DEMO_ACTOR)
            if errors:
                raise ValueError(f"compte de démonstration {email} : {errors}")
            user.password_hash = hashed
            created["users"] += 1
    created.update(load_knowledge())
    db.session.commit()
    return created
