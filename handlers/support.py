"""Support to the structure: reflex sheets and providers (phase 4 task C), alert broadcast (4 bis task D)."""
from sqlalchemy import select

from knowledge import providers as provider_directory
from knowledge import sheets as sheet_library
from models import Structure
from referentiel import INCIDENT_TYPES, REGIONS

# Only when the cell's library is empty (a database never seeded): the instruction's first steps.
GENERIC_SHEET = "Fiche réflexe « Incident de sécurité » : préserver les traces, isoler, ne pas payer de rançon"
PROVIDERS = "Liste des prestataires de réponse aux incidents référencés par l'État (portail SSI sectoriel)"


def propositions(dossier, data) -> tuple[list, list]:
    """The current sheets and active providers matching the dossier (types, kind of structure, region)."""
    types = data.get("types_incident") or dossier.incident_types or []
    return (sheet_library.suggest_sheets(types, dossier.structure_kind),
            provider_directory.providers_for(dossier.region, types))


def _chosen(items, choice, key):
    """The analyst's choice among the proposals when the form carried one, else every proposal."""
    if not isinstance(choice, list):
        return items
    wanted = {str(c) for c in choice}
    return [item for item in items if str(key(item)) in wanted]


def fiches_reflexes(ctx, data):
    """Send the reflex sheets and providers matching the dossier (or those the analyst chose) to the declarant."""
    sheets, providers = propositions(ctx.dossier, data)
    sheets = _chosen(sheets, data.get("fiches_choisies"), lambda s: s.key)
    providers = _chosen(providers, data.get("prestataires_choisis"), lambda p: p.id)
    links = [{"cle": sheet.key, "version": sheet.version, "titre": sheet.title,
              "lien": sheet_library.sheet_link(sheet)} for sheet in sheets]
    listed = [{"id": p.id, "nom": p.name, "contact": p.contact,
               "qualification": provider_directory.QUALIFICATIONS.get(p.qualification, p.qualification)}
              for p in providers]
    titles = [f"Fiche réflexe « {s.title} »" for s in sheets] or ([] if isinstance(data.get("fiches_choisies"), list)
                                                                 else [GENERIC_SHEET])
    sheet_library.record_dispatch(ctx.dossier.id, sheets, ctx.now)
    ctx.notify("fiches_reflexes", ["declarant"],
               {"fiches": titles, "fiches_liens": links, "prestataires_liste": listed,
                "prestataires": "" if listed else PROVIDERS})
    return {"fiches": titles, "fiches_transmises": links, "prestataires": [p["nom"] for p in listed]}


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
