"""Phase 6: retour d'expérience, knowledge base, shared base and anonymized community version."""
import re

from sqlalchemy import select

from models import KnowledgeEntry, Retex

RETEX_FIELDS = ("causes_incident", "facteurs_aggravants", "difficultes", "mesures_mises_en_place",
                "recommandations")


def retex_similaires(ctx, data):
    """Task A input: archived retex of the same incident types (most recent first)."""
    types = set(data.get("types_incident") or [])
    rows = ctx.session.execute(select(Retex).order_by(Retex.id.desc())).scalars().all()
    found = [{"id": r.id, "types": r.incident_types, "recommandations": r.content.get("recommandations", "")}
             for r in rows if types & set(r.incident_types or [])][:5]
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
    """Task D: store the retex in the ACSS-ARS base used for statistics."""
    content = {name: data.get(name, "") for name in RETEX_FIELDS}
    content.update({k: data.get(k, "") for k in ("synthese_actions", "resultats", "vulnerabilites_residuelles",
                                                  "risques_residuels")})
    retex = Retex(dossier_id=ctx.dossier.id, incident_types=list(data.get("types_incident") or []),
                  region=ctx.dossier.region, qualification=data.get("qualification", ""), content=content,
                  anonymized={}, created_at=ctx.now)
    ctx.session.add(retex)
    ctx.session.flush()
    return {"retex_id": retex.id}


def anonymize_text(text: str, secrets: list[str]) -> str:
    """Remove names, FINESS numbers, e-mail addresses and phone numbers from a text."""
    for secret in sorted({s for s in secrets if s and len(s) > 2}, key=len, reverse=True):
        text = re.sub(re.escape(secret), "[structure]", text, flags=re.IGNORECASE)
    text = re.sub(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", "[courriel]", text)
    text = re.sub(r"\b(?:\d{2}|2[AB])\d{7}\b", "[FINESS]", text)
    text = re.sub(r"(?:\+33|0)\s?[1-9](?:[\s.-]?\d{2}){4}", "[téléphone]", text)
    return text


def anonymiser_retex(ctx, data):
    """Task E: anonymize the stored retex and mark it shared with the SSI community."""
    retex_id = (data.get("retex") or {}).get("retex_id")
    retex = ctx.session.get(Retex, retex_id)
    if retex is None:
        raise ValueError("retex introuvable")
    structure = data.get("structure") or {}
    declarant = data.get("declarant") or {}
    secrets = [structure.get("nom", ""), structure.get("ville", ""), declarant.get("nom", ""),
               structure.get("finess_et", ""), structure.get("finess_ej", "")]
    retex.anonymized = {k: anonymize_text(str(v), secrets) for k, v in retex.content.items()}
    retex.anonymized["types"] = retex.incident_types
    retex.shared_with_community = True
    return {"retex_id": retex.id, "partage": True}
