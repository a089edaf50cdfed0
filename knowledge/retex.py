"""The retex base (phase 6): recording, search, the knowledge base per incident type, review and publication.

A retex is stored with the five fields of the instruction's bilan (causes, aggravating factors,
difficulties, measures, recommendations). Its anonymized text is proposed by knowledge.anonymize and
kept for review: an analyst edits it, then publishes it by an explicit action written to the
knowledge_events log. The community page only ever reads `published_text`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, and_, cast, exists, func, or_, select

from knowledge.anonymize import anonymize
from models import Dossier, KnowledgeEntry, KnowledgeEvent, Observable, Retex, Structure, User, db
from referentiel import INCIDENT_TYPES

FIELDS = {"causes_incident": "Causes de l'incident", "facteurs_aggravants": "Facteurs aggravants",
          "difficultes": "Difficultés rencontrées", "mesures_mises_en_place": "Mesures mises en place",
          "recommandations": "Recommandations"}
MAX_TEXT = 100_000


def search_text(content: dict) -> str:
    """The lower-case text a retex is searched on."""
    return "\n".join(str(v) for v in (content or {}).values() if v).lower()[:MAX_TEXT]


def record_retex(dossier: Dossier, data: dict, now: datetime) -> Retex:
    """Store the retex of a closed dossier with its proposed anonymized text; the caller commits."""
    content = {name: str(data.get(name) or "") for name in FIELDS}
    content.update({k: str(data.get(k) or "") for k in ("synthese_actions", "resultats", "vulnerabilites_residuelles",
                                                         "risques_residuels") if data.get(k)})
    retex = Retex(dossier_id=dossier.id, incident_types=list(data.get("types_incident") or dossier.incident_types or []),
                  region=dossier.region, qualification=data.get("qualification") or dossier.qualification or "",
                  content=content, anonymized={}, created_at=now, search_text=search_text(content))
    retex.review_text = propose_anonymized(retex, dossier, data)
    db.session.add(retex)
    db.session.flush()
    return retex


def identifying_names(dossier: Dossier, data: dict | None = None) -> dict:
    """What the application knows that names people or places: the structure, its town and FINESS numbers,
    the declarant and every user's name."""
    data = data or {}
    structure = db.session.get(Structure, dossier.structure_id)
    declared = data.get("structure") or {}
    people = [(data.get("declarant") or {}).get("nom", ""), str(data.get("analyste_referent") or "")]
    # Every person with an account: a retex names colleagues of other services and the analysts too.
    people += list(db.session.scalars(select(User.name)))
    return {"structures": [structure.name if structure else "", declared.get("nom", "")],
            "towns": [structure.city if structure else "", declared.get("ville", "")],
            "people": people,
            "others": [structure.finess_et if structure else "", structure.finess_ej if structure else ""]}


def propose_anonymized(retex: Retex, dossier: Dossier, data: dict | None = None) -> str:
    """The retex as one anonymized text, proposed to the analyst who reviews it."""
    names = identifying_names(dossier, data)
    lines = [f"Types d'incident : {', '.join(INCIDENT_TYPES.get(t, t) for t in retex.incident_types or [])}"]
    for name, label in FIELDS.items():
        value = (retex.content or {}).get(name)
        if value:
            lines.append(f"{label} :\n{anonymize(value, **names)}")
    return "\n\n".join(lines)


def log(actor, action: str, retex: Retex, now: datetime, details: dict | None = None) -> None:
    """Append to the knowledge log (who did what to which retex)."""
    db.session.add(KnowledgeEvent(at=now, actor=getattr(actor, "email", str(actor)), action=action,
                                  object_type="retex", object_id=retex.id, details=details or {}))


def review(retex: Retex, text: str, actor, now: datetime) -> None:
    """Save the analyst's edit of the anonymized text (not published); the caller commits."""
    retex.review_text = text.replace("\r\n", "\n")[:MAX_TEXT]
    log(actor, "retex_relu", retex, now)


def publish(retex: Retex, actor, now: datetime) -> None:
    """Publish the reviewed anonymized text to the community page; the caller commits."""
    retex.published_text = retex.review_text
    retex.published_at = now
    retex.published_by = getattr(actor, "id", None)
    retex.shared_with_community = True
    retex.anonymized = {"texte": retex.review_text, "types": retex.incident_types}
    log(actor, "retex_publie", retex, now, {"caracteres": len(retex.review_text)})


def unpublish(retex: Retex, actor, now: datetime) -> None:
    """Withdraw a retex from the community page; the caller commits."""
    retex.published_text = None
    retex.published_at = None
    retex.shared_with_community = False
    log(actor, "retex_retire", retex, now)


def search(dossier_condition, text: str = "", incident_type: str = "", observable: str = "", provider: str = "",
           software: str = "", limit: int = 50) -> list[Retex]:
    """Retex of the dossiers matching `dossier_condition` (the visibility model), filtered; newest first."""
    conditions = [dossier_condition]
    if text:
        for word in text.lower().split()[:8]:
            conditions.append(Retex.search_text.like(f"%{_escape(word)}%", escape="\\"))
    if incident_type in INCIDENT_TYPES:
        conditions.append(cast(Retex.incident_types, String).like(f'%"{incident_type}"%'))
    for kinds, value in ((None, observable), (("prestataire",), provider), (("logiciel",), software)):
        if value:
            conditions.append(_has_observable(kinds, value))
    query = (select(Retex).join(Dossier, Dossier.id == Retex.dossier_id).where(*conditions)
             .order_by(Retex.created_at.desc(), Retex.id.desc()).limit(limit))
    return list(db.session.scalars(query))


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_observable(kinds, value: str):
    condition = and_(Observable.dossier_id == Retex.dossier_id, Observable.removed_at.is_(None),
                     or_(Observable.normalized.like(f"%{_escape(value.strip().lower())}%", escape="\\"),
                         func.lower(Observable.value).like(f"%{_escape(value.strip().lower())}%", escape="\\")))
    if kinds:
        condition = and_(condition, Observable.kind.in_(kinds))
    return exists().where(condition)


def lessons_by_type(dossier_condition, incident_types: list | None = None, per_type: int = 5) -> dict:
    """{type: [(dossier number, date, recommendations or summary)]}: what past dossiers taught, per type."""
    types = [t for t in (incident_types or INCIDENT_TYPES) if t in INCIDENT_TYPES]
    found = {}
    for kind in types:
        rows = db.session.execute(
            select(Dossier.number, KnowledgeEntry.created_at, KnowledgeEntry.summary)
            .join(Dossier, Dossier.id == KnowledgeEntry.dossier_id)
            .where(KnowledgeEntry.incident_type == kind, dossier_condition)
            .order_by(KnowledgeEntry.created_at.desc(), KnowledgeEntry.id.desc()).limit(per_type)).all()
        if rows:
            found[kind] = [tuple(r) for r in rows]
    return found


def published() -> list[Retex]:
    """The retex published for the SSI community, newest first."""
    return list(db.session.scalars(select(Retex).where(Retex.published_text.is_not(None))
                                   .order_by(Retex.published_at.desc(), Retex.id.desc())))
