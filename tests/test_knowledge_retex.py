"""Retex: the process records it with a proposed anonymized text, an analyst reviews and publishes it, the
community page shows only that, the qualification of a later dossier offers what it taught; anonymization against planted identifiers; search by type, observable,
provider, software and text, through the visibility model."""
from __future__ import annotations

import re

from sqlalchemy import select

from audit import verifier
from cli import scenarios
from knowledge import retex as base
from knowledge.anonymize import anonymize
from models import Dossier, KnowledgeEvent, Observable, OutboxMessage, Retex, SheetDispatch, Structure, db
from referentiel import finess_with_key
from test_web_support import ACSS, ARMEES, ARS_BRETAGNE, ARS_GRANDEST, DECLARANT, DECLARANT_METZ, HFDS, login, post
from workflow import commands

FINESS_ET = finess_with_key("35000002")
FINESS_EJ = finess_with_key("35000001")
# Identifiers planted in the retex: every one must be gone from what is published.
PLANTED = {
    "structure": "Centre hospitalier universitaire de Rennes", "short": "CHU de Rennes", "town": "Rennes",
    "declarant": "Claire Le Gall", "surname": "Le Gall", "colleague": "Thomas Muller",
    "finess_et": FINESS_ET, "finess_ej": FINESS_EJ, "email": "claire.legall@chu-rennes.example.fr",
    "phone": "02 99 00 00 01", "mobile": "+33 6 12 34 56 78", "phone_dots": "06.12.34.56.78",
    "ipv4": "192.168.10.45", "ipv6": "2001:db8:85a3::8a2e:370:7334", "fqdn": "pacs.chu-rennes.local",
    "fqdn2": "srv-ad01.intra.chu-rennes.fr", "netbios": "SRV-PACS-01", "netbios2": "PC-URG12",
}
PLANTED_RETEX = {
    "causes_incident": (f"Le {PLANTED['structure']} (FINESS {PLANTED['finess_et']}, entité juridique "
                        f"{PLANTED['finess_ej']}) à {PLANTED['town']} : un VPN sans double authentification ; "
                        f"le serveur {PLANTED['netbios']} et {PLANTED['fqdn']} ont été chiffrés depuis "
                        f"{PLANTED['ipv4']} puis {PLANTED['ipv6']}."),
    "facteurs_aggravants": (f"Sauvegardes en ligne sur {PLANTED['fqdn2']} ; le poste {PLANTED['netbios2']} "
                            f"du service des urgences du {PLANTED['short']} restait allumé."),
    "difficultes": (f"Mme {PLANTED['surname']} ({PLANTED['email']}, {PLANTED['phone']}) et "
                    f"M. {PLANTED['colleague']} ({PLANTED['mobile']}, {PLANTED['phone_dots']}) joignables."),
    "mesures_mises_en_place": f"{PLANTED['declarant']} a fait isoler le réseau ; CVE-2023-4966 corrigée.",
    "recommandations": "Activer la double authentification du VPN ; ne pas payer la rançon ; SHA-256 des sauvegardes.",
}


def _gone(text: str) -> list[str]:
    """The planted identifiers still found in a text (case and accents aside)."""
    folded = text.lower()
    return [name for name, value in PLANTED.items() if value.lower() in folded]


def test_anonymization_removes_every_planted_identifier_and_keeps_the_lesson():
    text = "\n".join(PLANTED_RETEX.values())
    assert len(_gone(text)) == len(PLANTED)  # the test can fail: everything is there before
    result = anonymize(text, structures=[PLANTED["structure"], PLANTED["short"]], towns=[PLANTED["town"]],
                       people=[PLANTED["declarant"], PLANTED["colleague"]])
    assert _gone(result) == [], result
    for kept in ("VPN sans double authentification", "CVE-2023-4966", "ne pas payer la rançon", "SHA-256"):
        assert kept in result
    assert "[FINESS]" in result and "[adresse IP]" in result and "[machine]" in result and "[téléphone]" in result
    # A nine-digit number that is no FINESS (bad key) and a time of day are not identifiers.
    assert anonymize("Lot 123456789 à 10:30") == "Lot 123456789 à 10:30"


def test_overlapping_names_leave_no_part_behind():
    """Names that share words, met in every order and with or without accents: the longest name wins
    where it matches, and each remaining word of four letters or more is replaced on its own."""
    people = ["Claire Le Gall", "Marie-Claire Hélias", "Gall"]
    text = ("Mme Marie-Claire Helias appelle Claire Le Gall ; M. GALL rappelle Marie Claire, "
            "puis Mme Le Gall et Hélias.")
    result = anonymize(text, people=people)
    for part in ("Claire", "Gall", "GALL", "Helias", "Hélias", "Marie"):
        assert part not in result, result
    assert result.count("[nom]") >= 6 and "appelle" in result and "rappelle" in result
    # The first letter too is matched with or without its accent and in either case.
    assert anonymize("emilie DURAND, ÉMILIE et Durand ; l'émail reste.", people=["Émilie Durand"]) == \
        "[nom], [nom] et [nom] ; l'émail reste."


def _closed_with_planted_retex(clock) -> Dossier:
    """Run the grave_acss scenario to its retex and complete it with the planted identifiers."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p6_retex")
    row = scenarios.ready_task(dossier, "p6_retex")
    commands.complete_task(row.id, PLANTED_RETEX, scenarios.actor_for(row))
    return db.session.get(Dossier, dossier.id)


def test_retex_is_reviewed_then_published_and_offered_at_the_next_qualification(client, app, clock):
    dossier = _closed_with_planted_retex(clock)
    retex = db.session.scalar(select(Retex).where(Retex.dossier_id == dossier.id))
    assert retex.content["causes_incident"] == PLANTED_RETEX["causes_incident"]  # the ACSS-ARS base keeps it all
    assert _gone(retex.review_text) == [] and retex.published_text is None  # proposed, not published
    # Phase 4 task C sent the matching sheets with links to their versions, and the declarant may read them.
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                         OutboxMessage.kind == "fiches_reflexes"))
    assert "/connaissances/fiches/rancongiciel/v1" in mail.body_text and "Armorique Réponse Cyber" in mail.body_text
    assert db.session.scalar(select(SheetDispatch.id).where(SheetDispatch.dossier_id == dossier.id)) is not None
    login(client, DECLARANT)
    assert client.get("/connaissances/fiches/rancongiciel/v1").status_code == 200
    assert "Attaque par rançongiciel" in client.get("/connaissances/fiches").get_data(as_text=True)
    community = client.get("/connaissances/communaute").get_data(as_text=True)
    assert "Aucun retour d'expérience publié" in community
    assert client.get(f"/connaissances/retex/{retex.id}").status_code == 403
    login(client, DECLARANT_METZ)  # another structure: the sheets were not sent to it
    assert client.get("/connaissances/fiches/rancongiciel/v1").status_code == 404

    login(client, ARS_BRETAGNE)  # the region's ARS reads the retex but does not publish
    assert "VPN sans double" in client.get(f"/connaissances/retex/{retex.id}").get_data(as_text=True)
    assert post(client, f"/connaissances/retex/{retex.id}", {"action": "publier", "review_text": "x"}).status_code == 403
    login(client, ARS_GRANDEST)
    assert client.get(f"/connaissances/retex/{retex.id}").status_code == 404

    login(client, ACSS)
    reviewed = retex.review_text + "\nRelu par la Cellule ACSS."
    assert post(client, f"/connaissances/retex/{retex.id}", {"action": "relire", "review_text": reviewed}).status_code == 302
    assert post(client, f"/connaissances/retex/{retex.id}", {"action": "publier", "review_text": ""}).status_code == 422
    assert post(client, f"/connaissances/retex/{retex.id}", {"action": "effacer"}).status_code == 400
    assert post(client, f"/connaissances/retex/{retex.id}", {"action": "publier", "review_text": reviewed}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Retex, retex.id).published_text == reviewed
    actions = db.session.scalars(select(KnowledgeEvent.action).where(KnowledgeEvent.object_id == retex.id,
                                                                     KnowledgeEvent.object_type == "retex")
                                 .order_by(KnowledgeEvent.id)).all()
    assert actions == ["retex_relu", "retex_relu", "retex_publie"]

    login(client, DECLARANT_METZ)
    community = client.get("/connaissances/communaute").get_data(as_text=True)
    published = re.search(r'<div class="texte-saisi">(.*?)</div>', community, re.S).group(1)
    assert "Relu par la Cellule ACSS." in published and "double authentification" in published
    assert _gone(published) == [] and dossier.number not in community  # (the header names who is logged in)
    # The process history of the dossier is intact: the chain verifies and every step replays.
    assert verifier.verify_dossier(db.session.get(Dossier, dossier.id)).ok

    # What it taught is offered when the next ransomware is qualified, and in the knowledge base.
    following, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    row = scenarios.ready_task(following, "p3_qualifier")
    login(client, ACSS)
    page = client.get(f"/taches/{row.id}").get_data(as_text=True)
    section = re.search(r'<section[^>]*id="base-connaissances".*?</section>', page, re.S).group(0)
    assert dossier.number in section and "Activer la double authentification du VPN" in section
    assert following.number not in section
    login(client, ARS_GRANDEST)  # another region's ARS: nothing from a Breton dossier
    assert dossier.number not in client.get("/connaissances/base?type=rancongiciel").get_data(as_text=True)
    login(client, HFDS)
    assert dossier.number in client.get("/connaissances/base?type=rancongiciel").get_data(as_text=True)


def _bare_dossier(clock, finess_prefix: str, types: list, title: str) -> Dossier:
    """A declared dossier of a demo structure (started through the commands, then marked declared)."""
    structure = scenarios.structure_for(finess_prefix)
    dossier = commands.start_dossier(structure, None, scenarios.context.Actor("test", "declarant"))
    dossier.state, dossier.declared_at, dossier.incident_types, dossier.title = (
        "en attente de qualification", clock.now(), types, title)
    db.session.commit()
    return dossier


def _retex(dossier: Dossier, clock, **content) -> Retex:
    retex = base.record_retex(dossier, dict(content, types_incident=dossier.incident_types), clock.now())
    db.session.commit()
    return retex


def _observable(dossier: Dossier, kind: str, value: str, clock) -> None:
    db.session.add(Observable(dossier_id=dossier.id, kind=kind, value=value, normalized=value.lower(), comment="",
                              source="analyste", created_at=clock.now()))
    db.session.commit()


def test_retex_search_by_type_observable_provider_software_and_text(client, app, clock):
    clock.set(scenarios.MONDAY_MORNING)
    rennes = _bare_dossier(clock, "35000002", ["rancongiciel"], "Rançongiciel Rennes")
    metz = _bare_dossier(clock, "57000102", ["hameconnage"], "Hameçonnage Metz")
    begin = _bare_dossier(clock, "94000202", ["rancongiciel"], "Rançongiciel Bégin")
    begin.military = True
    db.session.commit()
    r_rennes = _retex(rennes, clock, causes_incident="Mot de passe faible du VPN", recommandations="MFA partout")
    r_metz = _retex(metz, clock, causes_incident="Lien piégé dans un courriel", recommandations="Filtrage")
    r_begin = _retex(begin, clock, causes_incident="VPN militaire", recommandations="Secret")
    _observable(rennes, "logiciel", "PACS Imagix 4.2", clock)
    _observable(rennes, "prestataire", "InfoSanté Hébergement", clock)
    _observable(metz, "ip", "203.0.113.7", clock)
    _observable(metz, "logiciel", "Messagerie Zimbra 9", clock)

    def ids(**filters):
        from web import access
        from test_web_support import user
        return {r.id for r in base.search(access.dossier_filter(user(filters.pop("who", ACSS))), **filters)}

    assert ids(incident_type="rancongiciel") == {r_rennes.id}  # the military dossier's retex stays confined
    assert ids(incident_type="rancongiciel", who=ARMEES) == {r_begin.id}
    assert ids(text="vpn") == {r_rennes.id} and ids(text="courriel piégé") == {r_metz.id}
    assert ids(observable="203.0.113.7") == {r_metz.id}
    assert ids(provider="infosanté") == {r_rennes.id} and ids(provider="zimbra") == set()
    assert ids(software="imagix") == {r_rennes.id} and ids(software="zimbra 9") == {r_metz.id}
    assert ids(text="100%_") == set()  # LIKE wildcards are literal
    assert ids(who=ARS_BRETAGNE) == {r_rennes.id}
    login(client, ACSS)
    page = client.get("/connaissances/retex?logiciel=imagix").get_data(as_text=True)
    assert rennes.number in page and metz.number not in page
    login(client, HFDS)
    page = client.get("/connaissances/retex?q=vpn").get_data(as_text=True)
    assert rennes.number in page and begin.number not in page
    assert client.get(f"/connaissances/retex/{r_begin.id}").status_code == 404



def test_generic_words_of_a_structure_name_stay_readable():
    text = anonymize("Le Centre de données du Centre hospitalier de Bastia, à Bastia, est isolé.",
                     structures=["Centre hospitalier de Bastia"], towns=["Bastia"])
    assert text == "Le Centre de données du [structure], à [structure], est isolé."
