"""Reference data shared by the process, the forms and the UI: roles, regions, kinds, FINESS."""
from __future__ import annotations

import re
import unicodedata

# Role codes; each BPMN lane declares one of the first six (DESIGN.md decision 6, validation/lanes.py).
ROLES = {
    "declarant": "Déclarant (structure de santé)",
    "armees": "Ministère des armées",
    "ars": "ARS",
    "acss": "Cellule ACSS",
    "hfds": "HFDS/FSSI",
    "dgs": "DGS",
    "auditeur": "Auditeur",
    "responsable_processus": "Responsable de processus",
    "admin": "Administrateur",
}
LANE_ROLE_CODES = ("declarant", "armees", "ars", "acss", "hfds", "dgs")
# Only for versions deployed before lanes declared their role: the lane label they were looked up by.
LEGACY_LANE_LABELS = {ROLES[code]: code for code in LANE_ROLE_CODES}

REGIONS = [
    "Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Bretagne", "Centre-Val de Loire", "Corse",
    "Grand Est", "Hauts-de-France", "Île-de-France", "Normandie", "Nouvelle-Aquitaine", "Occitanie",
    "Pays de la Loire", "Provence-Alpes-Côte d'Azur", "Guadeloupe", "Martinique", "Guyane",
    "La Réunion", "Mayotte",
]

STRUCTURE_KINDS = {
    "etablissement_sante": "Établissement de santé",
    "hopital_armees": "Hôpital des armées",
    "laboratoire": "Laboratoire de biologie médicale",
    "radiotherapie": "Centre de radiothérapie",
}

INCIDENT_TYPES = {
    "rancongiciel": "Rançongiciel",
    "hameconnage": "Hameçonnage / malspam",
    "compromission_compte": "Compromission de compte (annuaire, VPN, messagerie)",
    "cheval_de_troie": "Cheval de Troie / infostealer",
    "exploitation_vulnerabilite": "Exploitation de vulnérabilité d'un équipement exposé",
    "incident_prestataire": "Incident chez un prestataire ou hébergeur",
    "dysfonctionnement_infrastructure": "Dysfonctionnement d'infrastructure",
    "perte_lien_telecom": "Perte de lien télécom",
    "bogue_logiciel": "Bogue logiciel",
    "vol_materiel": "Vol de matériel",
    "divulgation_donnees": "Divulgation ou exfiltration de données",
    "defiguration_site": "Défiguration de site",
    "deni_de_service": "Déni de service",
    "erreur_humaine": "Erreur humaine",
    "usurpation_identite": "Usurpation d'identité",
    "autre": "Autre",
}

QUALIFICATIONS = {
    "non_incident": "Pas un incident de sécurité (B1)",
    "grave": "Incident grave",
    "significatif": "Incident significatif",
}

# Dossier states named by annex 1, in the order a dossier goes through them.
STATES = ["en cours de déclaration", "déclaré", "en attente de qualification", "à traiter", "à clôturer",
          "clôturé", "transmis au ministère des armées"]


def slugify(text: str) -> str:
    """ASCII, lower-case, hyphenated form of a name (for mailbox addresses)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _luhn_digits(number: str) -> list[int]:
    # Corsican department codes count as 21 and 22 in the key computation.
    number = number.upper().replace("2A", "21", 1) if number.upper().startswith("2A") else number
    number = number.upper().replace("2B", "22", 1) if number.upper().startswith("2B") else number
    return [int(c) for c in number]


def luhn_sum(digits: list[int]) -> int:
    """Luhn checksum of a list of digits (rightmost digit not doubled)."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10


def finess_valid(finess: str) -> bool:
    """True for a nine-character FINESS number whose last digit is its Luhn key."""
    if not isinstance(finess, str) or not re.fullmatch(r"(\d{2}|2[AB])\d{7}", finess.upper()):
        return False
    return luhn_sum(_luhn_digits(finess)) == 0


def finess_with_key(first_eight: str) -> str:
    """Complete an eight-character FINESS prefix with its Luhn key."""
    for key in range(10):
        candidate = f"{first_eight}{key}"
        if finess_valid(candidate):
            return candidate
    raise ValueError(first_eight)
