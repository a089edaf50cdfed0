"""Phase 6: retour d'expérience, knowledge base, shared base and anonymized community version.

The retex itself lives in knowledge/retex.py; these operators call it from the process.
"""
from sqlalchemy import String, cast, select

from knowledge import retex as retex_base
from models import KnowledgeEntry, Retex

RETEX_FIELDS = tuple(retex_base.FIELDS)


def retex_similaires(ctx, data):
    """Task A input: archived retex of the same incident types (most recent first)."""
    types = [t for t in data.get("types_incident") or [] if isinstance(t, str)]
    if not types:
        return {"nombre": 0, "retex": []}
    condition = cast(Retex.incident_types, String).like(f'%"{types[0]}"%')
    for kind in types[1:]:
        condition = condition | cast(Retex.incident_types, String).like(f'%"{kind}"%')
    rows = ctx.session.execute(select(Retex).where(condition, Retex.dossier_id != ctx.dossier.id)
                               .order_by(Retex.id.desc()).limit(5)).scalars().all()
    found = [{"id": r.id, "types": r.incident_types, "recommandations": r.content.get("recommandations", "")}
             for r in rows]
    return {"nombre": len(found), "retex": found}


def enrichir_base_connaissances(ctx, data):
    """Task B: one knowledge entry per incident type, to qualify future incidents better."""
    summary = f"{data.get('causes_incident', '')}\nRecommandations : {data.get('recommandations', '')}"
    count = 0
    for kind in data.get("types_incident") or []:
        ctx.session.add(KnowledgeEntry(incident_type=kind, dossier_id=ctx.dossier.id, summary=summary,
                                       created_at=ctx.now))
        count += 1
    return {"entrees": count}


def enregistrer_retex(ctx, data):
    """Task D: store the retex in the ACSS-ARS base used for statistics and searches."""
    retex = retex_base.record_retex(ctx.dossier, data, ctx.now)
    return {"retex_id": retex.id}


def anonymiser_retex(ctx, data):
    """Task E: propose the anonymized text for review; an analyst publishes it (never this service)."""
    retex_id = (data.get("retex") or {}).get("retex_id")
    retex = ctx.session.get(Retex, retex_id)
    if retex is None:
        raise ValueError("retex introuvable")
    retex.review_text = retex_base.propose_anonymized(retex, ctx.dossier, data)
    retex.anonymized = {"types": retex.incident_types}
    return {"retex_id": retex.id, "a_relire": True, "partage": False}
