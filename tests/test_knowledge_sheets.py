"""Reflex sheets and providers: suggestion by type and kind of structure, safe Markdown, versions, directory filters,
who may read and edit them."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from sqlalchemy import select

from handlers.support import propositions
from knowledge import providers as directory
from knowledge import sheets as library
from knowledge.rendering import render_markdown
from models import KnowledgeEvent, Provider, ReflexSheet, db
from test_web_support import ACSS, ARS_BRETAGNE, DECLARANT, HFDS, login, post


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def _elements(html: str) -> list:
    """The real elements of an HTML fragment with their attributes (escaped text is not an element)."""
    parser = _Elements()
    parser.feed(html)
    return parser.found


def _keys(found) -> list[str]:
    return [s.key for s in found]


def test_sheets_are_suggested_by_incident_type_and_structure_kind(app, clock):
    general = library.save_sheet(None, {"title": "Premiers gestes", "body": "Préserver les traces.",
                                        "audiences": ["direction"]}, "test", clock.now())
    hospital_only = library.save_sheet(None, {"title": "Rançongiciel à l'hôpital", "body": "Plan blanc.",
                                              "incident_types": ["rancongiciel"],
                                              "structure_kinds": ["etablissement_sante"],
                                              "audiences": ["direction"]}, "test", clock.now())
    db.session.commit()
    lab = _keys(library.suggest_sheets(["rancongiciel"], "laboratoire"))
    hospital = _keys(library.suggest_sheets(["rancongiciel"], "etablissement_sante"))
    phishing = _keys(library.suggest_sheets(["hameconnage"], "etablissement_sante"))
    # The demo sheet for ransomware and the laboratory one match a laboratory; never the hospital-only sheet.
    assert lab[:2] == ["laboratoire-automates", "rancongiciel"] and hospital_only.key not in lab
    assert {"rancongiciel", hospital_only.key} <= set(hospital) and "laboratoire-automates" not in hospital
    assert phishing[0] == "hameconnage" and "rancongiciel" not in phishing
    # Guidance for every incident comes after the specific sheets, for any type and kind.
    for found in (lab, hospital, phishing, _keys(library.suggest_sheets(["autre"], "radiotherapie"))):
        assert found[-1] == general.key
    assert _keys(library.suggest_sheets(["autre"], "radiotherapie")) == [general.key]


def test_providers_are_filtered_by_region_and_incident_types(app):
    bretagne = [p.name for p in directory.providers_for("Bretagne", ["rancongiciel"])]
    assert bretagne == ["Armorique Réponse Cyber", "Hexagone Forensics"]  # regional and national, PRIS
    guadeloupe = [p.name for p in directory.providers_for("Guadeloupe", ["hameconnage"])]
    assert guadeloupe == ["Caraïbes Numérique Sûr"]
    corse = directory.providers_for("Corse", ["deni_de_service"])
    assert [p.name for p in corse] == ["Sud Incident Response"]  # Est Cyberdéfense does not serve Corsica
    # No specialist in the region: every provider serving it is still proposed (national ones included).
    assert {p.name for p in directory.providers_for("Corse", ["vol_materiel"])} == {"Hexagone Forensics",
                                                                                   "Sud Incident Response"}
    inactive = db.session.scalar(select(Provider).where(Provider.name == "Hexagone Forensics"))
    inactive.active = False
    db.session.commit()
    assert [p.name for p in directory.providers_for("Bretagne", ["rancongiciel"])] == ["Armorique Réponse Cyber"]


def test_markdown_of_a_sheet_never_carries_script_links_or_raw_html(client, app):
    hostile = ("## Étapes\n\n<script>alert('x')</script>\n\n[cliquez](javascript:alert(1)) "
               "[ok](https://cyber.gouv.fr) <img src=x onerror=alert(2)> <a href=\"javascript:alert(3)\">a</a>\n\n"
               "[data](data:text/html;base64,PHNjcmlwdD4=) <iframe src=\"https://evil.example\"></iframe>\n\n"
               "- Ne pas payer\n")
    login(client, ACSS)
    response = post(client, "/connaissances/fiches/nouvelle",
                    {"title": "Fiche piégée", "body": hostile, "incident_types": ["rancongiciel"],
                     "audiences": ["equipe_si"]})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    article = re.search(r'<article class="encart" id="contenu-fiche">(.*?)</article>', page, re.S).group(1)
    tags = _elements(article)
    assert {tag for tag, _ in tags} <= {"h2", "p", "a", "ul", "li"}  # no script, img, iframe element
    assert [attrs for tag, attrs in tags if attrs] == [{"href": "https://cyber.gouv.fr", "rel": "noopener noreferrer"}]
    assert '<a href="https://cyber.gouv.fr"' in article and "<li>Ne pas payer</li>" in article
    assert "&lt;script&gt;" in article  # shown as text, never run
    assert _elements(render_markdown("[x](JaVaScRiPt:alert(1)) [y](vbscript:x)")) == [("p", {})]


def test_each_edit_is_a_new_version_and_old_versions_stay_readable(client, app):
    login(client, ACSS)
    before = library.current_sheet("rancongiciel")
    response = post(client, "/connaissances/fiches/rancongiciel/modifier",
                    {"title": before.title, "body": before.body + "\n- Prévenir l'assureur\n",
                     "incident_types": before.incident_types, "audiences": before.audiences})
    assert response.status_code == 302
    db.session.expire_all()
    versions = db.session.scalars(select(ReflexSheet).where(ReflexSheet.key == "rancongiciel")
                                  .order_by(ReflexSheet.version)).all()
    assert [(v.version, v.current) for v in versions] == [(1, False), (2, True)]
    assert "Prévenir l'assureur" in client.get("/connaissances/fiches/rancongiciel").get_data(as_text=True)
    old = client.get("/connaissances/fiches/rancongiciel/v1").get_data(as_text=True)
    assert "Prévenir l'assureur" not in old and "une version plus récente existe" in old
    logged = db.session.scalars(select(KnowledgeEvent.details).where(KnowledgeEvent.object_id == versions[1].id,
                                                                     KnowledgeEvent.object_type == "fiche")).all()
    assert logged == [{"cle": "rancongiciel", "version": 2}]


def test_bad_sheet_and_provider_input_gets_french_messages_and_keeps_nothing(client, app):
    login(client, ACSS)
    count = db.session.query(ReflexSheet).count()
    response = post(client, "/connaissances/fiches/nouvelle",
                    {"title": "", "body": "x" * 60_000, "incident_types": ["inconnu"], "audiences": []})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Le titre est obligatoire" in page and "Valeur inconnue pour « type d&#39;incident »" in page
    assert "Choisissez au moins un public visé." in page
    assert db.session.query(ReflexSheet).count() == count
    response = post(client, "/connaissances/prestataires/nouveau",
                    {"name": "Nouveau", "qualification": "royale", "regions": ["Atlantide"]})
    assert response.status_code == 422 and "Qualification inconnue." in response.get_data(as_text=True)
    assert client.get("/connaissances/fiches/inexistante/v1").status_code == 404
    assert client.get("/connaissances/prestataires/999999/modifier").status_code == 404


def test_the_cell_edits_others_read_and_declarants_see_only_what_was_sent(client, app):
    login(client, HFDS)
    assert client.get("/connaissances/fiches/rancongiciel").status_code == 200
    assert client.get("/connaissances/prestataires").status_code == 200
    assert post(client, "/connaissances/fiches/rancongiciel/modifier", {"title": "x"}).status_code == 403
    login(client, ARS_BRETAGNE)
    assert "Armorique" in client.get("/connaissances/prestataires?region=Bretagne").get_data(as_text=True)
    assert "Caraïbes" not in client.get("/connaissances/prestataires?region=Bretagne").get_data(as_text=True)
    assert post(client, "/connaissances/prestataires/nouveau", {"name": "x"}).status_code == 403
    login(client, DECLARANT)
    assert client.get("/connaissances/fiches/rancongiciel").status_code == 403
    assert client.get("/connaissances/fiches/rancongiciel/v1").status_code == 404  # not sent to its structure
    assert client.get("/connaissances/prestataires").status_code == 403
    assert "Aucune fiche réflexe" in client.get("/connaissances/fiches").get_data(as_text=True)


def test_the_handler_proposes_what_matches_and_sends_only_the_analysts_choice(app):
    from models import Dossier
    dossier = Dossier(structure_kind="laboratoire", region="Auvergne-Rhône-Alpes", incident_types=["hameconnage"])
    sheets, providers = propositions(dossier, {"types_incident": ["hameconnage"]})
    assert _keys(sheets) == ["hameconnage"]
    assert [p.name for p in providers] == ["Rhône Alpes Sécurité Numérique"]


def test_the_analyst_chooses_in_the_cause_analysis_which_sheets_and_providers_are_sent(client, app, clock):
    from cli import scenarios
    from models import Dossier, OutboxMessage, SheetDispatch
    from test_web_support import form_data, open_task
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_analyse")
    row = open_task(dossier.id, "p4_analyse")
    login(client, ACSS)
    page = client.get(f"/taches/{row.id}").get_data(as_text=True)
    # Proposed for a ransomware at a Breton hospital: the ransomware sheet, the Breton and national PRIS providers.
    assert 'value="rancongiciel" checked' in page and "Armorique Réponse Cyber" in page
    assert "Caraïbes Numérique Sûr" not in page and 'value="hameconnage"' not in page
    armorique = db.session.scalar(select(Provider.id).where(Provider.name == "Armorique Réponse Cyber"))
    hostile = post(client, f"/taches/{row.id}", form_data(dict(scenarios.ANALYSE, fiches_choisies=["piege"])))
    assert hostile.status_code == 422  # only a proposal can be chosen
    response = post(client, f"/taches/{row.id}",
                    form_data(scenarios.ANALYSE, prestataires_choisis=[str(armorique)]))
    assert response.status_code == 302
    db.session.expire_all()
    mail = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier.id,
                                                         OutboxMessage.kind == "fiches_reflexes"))
    assert "Armorique Réponse Cyber" in mail.body_text and "Hexagone Forensics" not in mail.body_text
    assert "/connaissances/fiches/" not in mail.body_text  # no sheet checked: none sent
    assert db.session.scalar(select(SheetDispatch.id).where(SheetDispatch.dossier_id == dossier.id)) is None
    assert db.session.get(Dossier, dossier.id).state == "à traiter"
