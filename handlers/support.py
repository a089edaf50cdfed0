"""Support to the structure: reflex sheets and providers (phase 4 task C), alert broadcast (4 bis task D)."""
from sqlalchemy import select

from models import Structure
from referentiel import INCIDENT_TYPES, REGIONS

# Reflex sheets published by the Cellule ACSS on its sector portal, by incident type.
REFLEX_SHEETS = {
    "rancongiciel": "Fiche réflexe « Attaque par rançongiciel » : isoler, ne pas payer, préserver les traces",
    "hameconnage": "Fiche réflexe « Hameçonnage » : bloquer l'expéditeur, réinitialiser les comptes exposés",
    "compromission_compte": "Fiche réflexe « Compromission de compte » : révoquer les sessions, changer les secrets",
    "cheval_de_troie": "Fiche réflexe « Poste infecté » : débrancher le poste du réseau, conserver le disque",
    "exploitation_vulnerabilite": "Fiche réflexe « Équipement exposé vulnérable » : couper l'exposition, corriger",
    "divulgation_donnees": "Fiche réflexe « Fuite de données » : qualifier les données, notifier la CNIL sous 72 h",
    "deni_de_service": "Fiche réflexe « Déni de service » : contacter l'opérateur, activer le filtrage",
}
GENERIC_SHEET = "Fiche réflexe « Incident de sécurité » : confiner, isoler, communiquer de façon ciblée"
PROVIDERS = "Liste des prestataires de réponse aux incidents référencés par l'État (portail SSI sectoriel)"


def fiches_reflexes(ctx, data):
    """Send the reflex sheets for the incident's types and the providers list to the declarant."""
    types = data.get("types_incident") or []
    sheets = [REFLEX_SHEETS[t] for t in types if t in REFLEX_SHEETS] or [GENERIC_SHEET]
    ctx.notify("fiches_reflexes", ["declarant"],
               {"fiches": sheets, "prestataires": PROVIDERS,
                "message": "\n".join(sheets) + "\n" + PROVIDERS})
    return {"fiches": sheets, "prestataires": PROVIDERS}


def diffuser_alerte(ctx, data):
    """Task D: broadcast the HFDS/FSSI alert to every ARS and to structures of the same kind."""
    message = data.get("message_alerte") or "Menace en cours de propagation dans le secteur santé."
    types = ", ".join(INCIDENT_TYPES.get(t, t) for t in data.get("types_incident") or [])
    kind = (data.get("structure") or {}).get("type")
    emails = ctx.session.execute(
        select(Structure.email).where(Structure.kind == kind, Structure.email != "").order_by(Structure.id)
    ).scalars().all()
    extra = {"message": f"{message}\nType de menace : {types}"}
    ctx.notify("alerte_diffusion", [("ars", region) for region in REGIONS], extra)
    if emails:
        ctx.notify("alerte_diffusion", [], extra, addresses=list(emails))
    return {"regions": len(REGIONS), "structures": len(emails)}
