"""Import of the public FINESS extract (open data, « etalab » stock file) into the structures.

The published layout: Latin-1 (UTF-8 accepted too), semicolon-separated, a first « meta » line, then
header-less rows; rows starting `structureet;` describe a site (31 fields after the tag, nofinesset
first), rows starting `geolocalisation;` give its coordinates (not needed here). Sites whose category is
outside the instruction's scope (EHPAD, pharmacies, medico-social…) are counted, not imported; malformed
rows are rejected with their line number and the reason. Existing structures (same FINESS ET) are updated.
"""
from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from accounts import journal, structures
from models import Structure, db

SITE_FIELDS = ("nofinesset", "nofinessej", "rs", "rslongue", "complrs", "compldistrib", "numvoie", "typvoie", "voie",
               "compvoie", "lieuditbp", "commune", "departement", "libdepartement", "ligneacheminement", "telephone",
               "telecopie", "categetab", "libcategetab", "categagretab", "libcategagretab", "siret", "codeape",
               "codemft", "libmft", "codesph", "libsph", "dateouv", "dateautor", "datemaj", "numuai")
# FINESS writes the overseas départements with a letter.
OVERSEAS = {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9F": "976"}
# Categories of health establishments (établissements de santé) in the FINESS nomenclature.
HOSPITAL_CATEGORIES = {"101", "106", "109", "122", "128", "129", "131", "141", "146", "156", "161", "292", "355",
                       "362", "365", "366", "412", "415", "425", "430", "444", "697", "698"}
MAX_REJECTS_LISTED = 200


def kind_of(category: str, label: str, name: str = "") -> str | None:
    """The structure kind of a FINESS category (code and label) and name, or None when outside the instruction's
    scope. Radiotherapy centres have no category of their own: their name tells."""
    label = label.lower()
    if category == "114" or "armées" in label:
        return "hopital_armees"
    if "radiothérapie" in label or "radiothérapie" in name.lower() and category in HOSPITAL_CATEGORIES:
        return "radiotherapie"
    if "laboratoire" in label and "biologie" in label or category in {"610", "611"}:
        return "laboratoire"
    if category in HOSPITAL_CATEGORIES or "hospitalier" in label or "centre de lutte contre" in label:
        return "etablissement_sante"
    return None


def _city(routing_line: str) -> str:
    """« 35033 RENNES CEDEX 9 » -> « RENNES »."""
    city = re.sub(r"^\d{5}\s+", "", routing_line.strip())
    return re.sub(r"\s+CEDEX(\s+\d+)?$", "", city, flags=re.IGNORECASE).strip()


def _phone(digits: str) -> str:
    digits = re.sub(r"\D", "", digits or "")
    return " ".join(digits[i:i + 2] for i in range(0, len(digits), 2)) if len(digits) == 10 else ""


def decode(raw: bytes) -> str:
    """The text of the file: UTF-8 when it is valid UTF-8, else Latin-1 (the published encoding)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def import_extract(raw: bytes, actor: str) -> dict:
    """Create or update the structures of an extract; returns the counts and the rejected lines (not committed)."""
    report = {"lignes": 0, "creees": 0, "modifiees": 0, "inchangees": 0, "hors_champ": 0, "rejets": [], "nb_rejets": 0}

    def reject(number: int, reason: str) -> None:
        report["nb_rejets"] += 1
        if len(report["rejets"]) < MAX_REJECTS_LISTED:
            report["rejets"].append((number, reason))

    for number, row in enumerate(csv.reader(io.StringIO(decode(raw)), delimiter=";"), start=1):
        report["lignes"] += 1
        if number == 1 or not row or row[0] != "structureet":
            continue                                     # the meta line, geolocalisation rows, blank lines
        if len(row) - 1 != len(SITE_FIELDS):
            reject(number, f"{len(row) - 1} champs au lieu de {len(SITE_FIELDS)} après « structureet ».")
            continue
        site = dict(zip(SITE_FIELDS, (value.strip() for value in row[1:])))
        kind = kind_of(site["categetab"], site["libcategetab"], site["rslongue"] or site["rs"])
        if kind is None:
            report["hors_champ"] += 1
            continue
        department = OVERSEAS.get(site["departement"].upper(), site["departement"])
        current = db.session.scalar(select(Structure).where(Structure.finess_et == site["nofinesset"].upper()))
        data = {"name": site["rslongue"] or site["rs"], "finess_ej": site["nofinessej"], "finess_et": site["nofinesset"],
                "kind": kind, "department": department, "city": _city(site["ligneacheminement"]).title(),
                "phone": _phone(site["telephone"]), "email": current.email if current else "",
                "oiv": "oui" if current is not None and current.oiv else ""}
        before = {field: getattr(current, field) for field in structures.FIELDS} if current is not None else None
        saved, errors = structures.save(data, actor, current)
        if errors:
            reject(number, f"FINESS {site['nofinesset'] or '(vide)'} : " + " ".join(errors.values()))
        elif before is None:
            report["creees"] += 1
        elif before != {field: getattr(saved, field) for field in structures.FIELDS}:
            report["modifiees"] += 1
        else:
            report["inchangees"] += 1
    journal.record(actor, "import_finess", "structure", None,
                   {key: report[key] for key in ("lignes", "creees", "modifiees", "inchangees", "hors_champ", "nb_rejets")})
    return report
