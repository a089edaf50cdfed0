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

# One French vocabulary for incident types: the declaration form's choices, filters, mails and exports.
# tests/test_vocabulary.py checks that every form offering types uses exactly these labels.
INCIDENT_TYPES = {
    "rancongiciel": "Rançongiciel",
    "hameconnage": "Hameçonnage / courriel malveillant",
    "compromission_compte": "Compromission de compte (annuaire, VPN, messagerie)",
    "cheval_de_troie": "Cheval de Troie / logiciel espion",
    "exploitation_vulnerabilite": "Exploitation d'une vulnérabilité d'un équipement exposé",
    "incident_prestataire": "Incident chez un prestataire ou un hébergeur",
    "dysfonctionnement_infrastructure": "Dysfonctionnement d'infrastructure",
    "perte_lien_telecom": "Perte de lien télécom",
    "bogue_logiciel": "Bogue logiciel",
    "vol_materiel": "Vol de matériel",
    "divulgation_donnees": "Divulgation ou exfiltration de données",
    "defiguration_site": "Défiguration de site web",
    "deni_de_service": "Déni de service",
    "erreur_humaine": "Erreur humaine",
    "usurpation_identite": "Usurpation d'identité",
    "autre": "Autre",
}

# Kinds of observables (indicators of compromise) a dossier carries: models/casework.py stores them,
# similarity (phase 4 task A), weak signals and searches compare their normalized values.
OBSERVABLE_KINDS = {
    "ip": "Adresse IP",
    "domaine": "Nom de domaine",
    "url": "URL",
    "courriel": "Adresse électronique",
    "empreinte": "Empreinte de fichier (MD5, SHA-1, SHA-256)",
    "famille_rancongiciel": "Famille de rançongiciel ou de code malveillant",
    "cve": "Vulnérabilité (CVE)",
    "logiciel": "Logiciel et version",
    "prestataire": "Prestataire ou hébergeur",
}

QUALIFICATIONS = {
    "non_incident": "Pas un incident de sécurité (B1)",
    "grave": "Incident grave",
    "significatif": "Incident significatif",
}

# The declarant's « impact sur les soins » (form p1-impact): every answer but "aucun" affects care.
CARE_IMPACTS = {
    "mise_en_danger_potentielle": "mise en danger potentielle des patients",
    "mise_en_danger_averee": "mise en danger avérée des patients",
    "mode_degrade": "soins en mode dégradé",
    "interruption": "interruption des soins",
}
# Weights of a dossier's priority (the inbox sorts on their sum, highest first): each marker outranks
# every combination of the ones below it, so the order reads the same as the markers.
PRIORITY_WEIGHTS = {"aide_urgente": 16, "impact_soins": 8, "significatif": 4, "grave": 2, "hors_heures": 1}
# What one task adds to its dossier's priority when its BPMN element names the marker (`priorityMarker`): the
# FSSI's handling of an urgent off-hours declaration outranks every combination of the dossier markers.
TASK_PRIORITY_WEIGHTS = {"traitement_hors_heures": 64}

# Dossier states named by annex 1, in the order a dossier goes through them.
STATES = ["en cours de déclaration", "déclaré", "en attente de qualification", "à traiter", "à clôturer",
          "clôturé", "transmis au ministère des armées"]


def priority_score(urgent_help: bool, care_impact: str | None, health_impact: bool, qualification: str | None,
                   off_hours: bool) -> int:
    """A dossier's priority from its markers (PRIORITY_WEIGHTS); 0 when none applies."""
    weights = PRIORITY_WEIGHTS
    return ((weights["aide_urgente"] if urgent_help else 0)
            + (weights["impact_soins"] if care_impact in CARE_IMPACTS or health_impact else 0)
            + (weights[qualification] if qualification in ("significatif", "grave") else 0)
            + (weights["hors_heures"] if off_hours else 0))


def priority_markers(urgent_help: bool, care_impact: str | None, health_impact: bool, off_hours: bool) -> list:
    """[(code, French label)] of a dossier's priority markers, most urgent first (words, never colour alone)."""
    found = []
    if urgent_help:
        found.append(("aide_urgente", "Aide urgente demandée"))
    if care_impact in CARE_IMPACTS:
        found.append(("impact_soins", f"Impact sur les soins : {CARE_IMPACTS[care_impact]}"))
    if health_impact:
        found.append(("impact_soins", "Impact sanitaire retenu (B3)"))
    if off_hours:
        found.append(("hors_heures", "Déclaré hors heures ouvrées"))
    return found


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """« 1 dossier », « 7 dossiers », « 0 dossier » (French: 0 and 1 take the singular)."""
    word = singular if abs(count) < 2 else (plural_form or _plural_of(singular))
    return f"{count} {word}"


def _plural_of(words: str) -> str:
    """Plural of a short noun phrase: its words up to the first preposition, whose complement stays as it
    is (« étape rejouée » -> « étapes rejouées », « anomalie de service » -> « anomalies de service »)."""
    head, *rest = re.split(r"(?= (?:de|du|des|d'|à|en|sur|par|pour|avec) )", words, maxsplit=1)
    marked = " ".join(w if w.endswith(("s", "x", "z")) else w + "s" for w in head.split(" "))
    return marked + "".join(rest)


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


# A spreadsheet reads a cell starting with one of these as a formula (or splits it): every CSV the platform writes
# (statistics, process-mining events) passes its text cells through spreadsheet_cell().
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value):
    """A CSV cell safe to open in a spreadsheet: text starting like a formula gets a leading apostrophe.

    Numbers are left as they are (a negative figure is a figure); only text can carry a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
