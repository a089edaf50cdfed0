"""Similar incidents for phase 4 task A: rank the open dossiers that look like this one, with the reasons.

Two dossiers are similar when they share evidence, not merely an incident type: the same observables
(IP, domain, URL, e-mail, file hash, CVE), the same malware family, software or provider, then, as
weaker hints, incident types, the region and declarations close in time. Each criterion has a weight
(settings `SIMILARITY_WEIGHTS`); a candidate whose total reaches `SIMILARITY_THRESHOLD` is a match
and is proposed to the analyst, who confirms or dismisses the switch to phase 4 bis.

`score` is pure (profiles in, points and French reasons out); `rank` loads the profiles in SQL and
applies the confinement of web/access.py: a civil dossier is compared with civil dossiers only and a
military hospital's with military ones only (the armées chain sees no civil dossier, and the national
bodies see a military dossier only when the armées address it, which the handler cannot assume).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import select

from models import Dossier, Observable
from referentiel import INCIDENT_TYPES, OBSERVABLE_KINDS, plural

# Criteria and their default weights (points per shared value, or once for region and time window).
DEFAULT_WEIGHTS = {
    "famille_rancongiciel": 4,   # the same malware family
    "observable": 3,             # each shared technical indicator (TECHNICAL_KINDS)
    "logiciel": 2,               # the same software and version
    "prestataire": 2,            # the same provider or host
    "type_incident": 1,          # each shared incident type
    "region": 1,                 # the same region
    "fenetre": 1,                # declared within the time window of each other
}
DEFAULT_THRESHOLD = 4            # a shared type, region and week (3 points) is not enough; one shared indicator is
DEFAULT_WINDOW_DAYS = 30
TECHNICAL_KINDS = ("ip", "domaine", "url", "courriel", "empreinte", "cve")
# Shared values counted per criterion: a dossier listing a hundred addresses does not outweigh all the rest.
MAX_COUNTED = 3
# Matches kept in the result: the task data and the audit event stay small, the analyst reads the best ones.
MAX_MATCHES = 10
OPEN_STATES = ("à traiter", "à clôturer")
HANDLED_QUALIFICATIONS = ("grave", "significatif")


@dataclass(frozen=True)
class Settings:
    """Weights per criterion, the threshold of a match, and the time window."""

    weights: dict
    threshold: float
    window: timedelta


@dataclass(frozen=True)
class Profile:
    """What similarity compares of a dossier."""

    dossier_id: int
    number: str
    region: str
    military: bool
    types: frozenset
    declared_at: datetime | None
    observables: frozenset  # of (kind, normalized)


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} : un nombre positif ou nul est attendu, pas {value!r}.")
    return value


def settings(config: Mapping) -> Settings:
    """The similarity settings of an app config (defaults for what is missing); ValueError when one is invalid."""
    given = config.get("SIMILARITY_WEIGHTS") or {}
    if not isinstance(given, Mapping):
        raise ValueError("SIMILARITY_WEIGHTS : un dictionnaire critère -> poids est attendu.")
    unknown = sorted(set(given) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise ValueError("SIMILARITY_WEIGHTS : critère inconnu " + ", ".join(map(str, unknown))
                         + " (connus : " + ", ".join(DEFAULT_WEIGHTS) + ").")
    weights = {name: _number(given.get(name, default), f"SIMILARITY_WEIGHTS[{name}]")
               for name, default in DEFAULT_WEIGHTS.items()}
    threshold = _number(config.get("SIMILARITY_THRESHOLD", DEFAULT_THRESHOLD), "SIMILARITY_THRESHOLD")
    if threshold <= 0:
        raise ValueError("SIMILARITY_THRESHOLD : un seuil strictement positif est attendu.")
    days = _number(config.get("SIMILARITY_WINDOW_DAYS", DEFAULT_WINDOW_DAYS), "SIMILARITY_WINDOW_DAYS")
    return Settings(weights, threshold, timedelta(days=days))


def criterion_of(kind: str) -> str | None:
    """The criterion an observable kind counts for (None for a kind that similarity ignores)."""
    if kind in TECHNICAL_KINDS:
        return "observable"
    return kind if kind in ("famille_rancongiciel", "logiciel", "prestataire") else None


REASON_TEXT = {
    "famille_rancongiciel": "Même famille de code malveillant",
    "logiciel": "Même logiciel",
    "prestataire": "Même prestataire ou hébergeur",
}


def _points(weight: float, count: int) -> float:
    return weight * min(count, MAX_COUNTED)


def score(source: Profile, candidate: Profile, conf: Settings) -> tuple[float, list[dict]]:
    """Points of a candidate against the source and the reasons, strongest first (pure function)."""
    weights, reasons = conf.weights, []
    shared = source.observables & candidate.observables
    for criterion in ("famille_rancongiciel", "observable", "logiciel", "prestataire"):
        found = sorted((kind, value) for kind, value in shared if criterion_of(kind) == criterion)
        if not found or not weights[criterion]:
            continue
        if criterion == "observable":
            text = "Observables communs : " + " ; ".join(f"{OBSERVABLE_KINDS.get(k, k)} {v}" for k, v in found)
        else:
            text = f"{REASON_TEXT[criterion]} : " + ", ".join(v for _, v in found)
        reasons.append({"critere": criterion, "points": _points(weights[criterion], len(found)), "texte": text})
    types = sorted(source.types & candidate.types)
    if types and weights["type_incident"]:
        reasons.append({"critere": "type_incident", "points": _points(weights["type_incident"], len(types)),
                        "texte": "Même type d'incident : " + ", ".join(INCIDENT_TYPES.get(t, t) for t in types)})
    if source.region and source.region == candidate.region and weights["region"]:
        reasons.append({"critere": "region", "points": weights["region"],
                        "texte": f"Même région : {source.region}"})
    if source.declared_at and candidate.declared_at and weights["fenetre"]:
        gap = abs(source.declared_at - candidate.declared_at)
        if gap <= conf.window:
            apart = "le même jour" if gap.days == 0 else f"à {plural(gap.days, 'jour')} d'intervalle"
            reasons.append({"critere": "fenetre", "points": weights["fenetre"],
                            "texte": f"Déclarés {apart} (fenêtre de {plural(conf.window.days, 'jour')})"})
    total = sum(r["points"] for r in reasons)
    reasons.sort(key=lambda r: -r["points"])
    return total, reasons


def _observables(session, dossier_ids: list[int], values: set | None = None) -> dict[int, set]:
    """{dossier id: {(kind, normalized)}} of the live observables (removed ones are ignored)."""
    found: dict[int, set] = {dossier_id: set() for dossier_id in dossier_ids}
    if not dossier_ids or values == set():
        return found
    query = (select(Observable.dossier_id, Observable.kind, Observable.normalized)
             .where(Observable.dossier_id.in_(dossier_ids), Observable.removed_at.is_(None)))
    if values is not None:  # only the rows that can match: the source's own values
        query = query.where(Observable.normalized.in_(sorted(values)))
    for dossier_id, kind, normalized in session.execute(query):
        if criterion_of(kind) is not None:
            found[dossier_id].add((kind, normalized))  # already canonical per kind (models/casework.py)
    return found


def profile_of(session, dossier: Dossier, types=None) -> Profile:
    """The source dossier's profile (its incident types from the process data when given)."""
    observables = _observables(session, [dossier.id])[dossier.id]
    return Profile(dossier.id, dossier.number, dossier.region, bool(dossier.military),
                   frozenset(types if types is not None else dossier.incident_types or []),
                   dossier.declared_at or dossier.created_at, frozenset(observables))


def rank(session, source: Profile, conf: Settings) -> list[dict]:
    """Open handled dossiers of the same confinement scored against the source, best first, with reasons."""
    rows = session.execute(
        select(Dossier.id, Dossier.number, Dossier.region, Dossier.military, Dossier.incident_types,
               Dossier.declared_at, Dossier.created_at)
        .where(Dossier.state.in_(OPEN_STATES), Dossier.id != source.dossier_id,
               Dossier.qualification.in_(HANDLED_QUALIFICATIONS),
               Dossier.military == bool(source.military))  # confinement: never across the civil / armées line
    ).all()
    values = {value for _, value in source.observables}
    observables = _observables(session, [row.id for row in rows], values)
    ranked = []
    for row in rows:
        candidate = Profile(row.id, row.number, row.region, bool(row.military), frozenset(row.incident_types or []),
                            row.declared_at or row.created_at, frozenset(observables[row.id] & source.observables))
        points, reasons = score(source, candidate, conf)
        ranked.append({"numero": row.number, "score": points, "raisons": reasons})
    ranked.sort(key=lambda match: (-match["score"], match["numero"]))
    return ranked


def result(ranked: list[dict], conf: Settings) -> dict:
    """The service result recorded in the audit event: the matches reaching the threshold, and how many were compared."""
    matches = [match for match in ranked if match["score"] >= conf.threshold]
    kept = matches[:MAX_MATCHES]
    return {"nombre": len(matches), "dossiers": [m["numero"] for m in kept], "correspondances": kept,
            "seuil": conf.threshold, "candidats_examines": len(ranked)}
