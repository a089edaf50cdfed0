"""Forms that keep and check what is typed, in Chromium: indicator rows added without losing a value or the
focus, incoherent dates answered with field messages, text over a limit counted and refused (never cut),
and the journal's forms answering their refusals on the fiche with the text kept."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from browser_support import login, shot
from test_accessibility import axe  # noqa: F401  (the axe-core fixture)
from cli import scenarios
from models import Observable, db
from test_web_support import ACSS, DECLARANT, open_task

pytestmark = pytest.mark.browser
NBSP = "\u00a0"


def _step_four(page, clock):
    """The declarant on step 4 (the validated form) of a declaration in progress."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p1_formulaire")
    row = open_task(dossier.id, "p1_formulaire")
    login(page, DECLARANT)
    page.goto(f"{page.base}/taches/{row.id}")
    return dossier, row


def _fill_valid(page, **overrides) -> None:
    data = dict(scenarios.formulaire(), **overrides)
    page.fill("#f-titre", data["titre"])
    page.check('input[name="types_incident"][value="rancongiciel"]')
    page.fill("#f-date_detection", data["date_detection"][:16])
    if data.get("date_debut"):
        page.fill("#f-date_debut", data["date_debut"][:16])
    page.fill("#f-description", data["description"])
    for name in ("incident_en_cours", "plainte_deposee", "cnil_notifiee", "anssi_notifiee", "besoin_accompagnement",
                 "besoin_aide_urgente"):
        page.check(f'input[name="{name}"][value="{"true" if data[name] else "false"}"]')
    page.check("#f-declaration_validee")


def test_adding_indicator_rows_keeps_every_value_and_moves_the_focus_to_the_new_row(page, clock):
    dossier, _ = _step_four(page, clock)
    _fill_valid(page)
    page.select_option("#f-indicateurs_techniques-0-type", "ip")
    page.fill("#f-indicateurs_techniques-0-valeur", "198.51.100.7")
    page.locator("button[data-ajouter-ligne]").scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    page.click("button[data-ajouter-ligne]")
    # Row 1 keeps its type and value; the focus is on row 2's first field; the page did not jump to the top.
    assert page.input_value("#f-indicateurs_techniques-0-type") == "ip"
    assert page.input_value("#f-indicateurs_techniques-0-valeur") == "198.51.100.7"
    assert page.evaluate("document.activeElement.name") == "indicateurs_techniques-1-type"
    assert page.evaluate("window.scrollY") >= before > 0
    assert page.input_value("#f-indicateurs_techniques-1-valeur") == ""
    page.select_option("#f-indicateurs_techniques-1-type", "domaine")
    page.fill("#f-indicateurs_techniques-1-valeur", "exemple-malveillant.fr")
    page.click("button[data-ajouter-ligne]")
    assert page.evaluate("document.activeElement.name") == "indicateurs_techniques-2-type"
    assert [page.input_value(f"#f-indicateurs_techniques-{i}-type") for i in range(3)] == ["ip", "domaine", ""]
    assert page.locator("fieldset.ligne-objet legend").all_inner_texts() == ["Ligne 1", "Ligne 2", "Ligne 3"]
    shot(page, "formulaires-01-lignes-ajoutees")
    page.click("form button[value='valider']")
    page.wait_for_selector("#numero-dossier")  # the empty third row is no error: validated
    found = set(db.session.execute(select(Observable.kind, Observable.normalized)
                                   .where(Observable.dossier_id == dossier.id, Observable.source == "declarant")).all())
    assert {("ip", "198.51.100.7"), ("domaine", "exemple-malveillant.fr")} <= found
    assert not page.js_errors


def test_incoherent_dates_get_field_messages_on_the_page_and_from_the_server(page, clock):
    dossier, row = _step_four(page, clock)
    _fill_valid(page, date_detection="2027-06-01T10:00", date_debut="2026-03-02T09:30")
    page.locator("#f-date_debut").dispatch_event("change")
    # Mirrored in the page as soon as a date changes...
    assert "futur" in page.inner_text("#erreur-client-date_detection")
    assert page.locator("#erreur-client-date_debut").count() == 0
    page.click("form button[value='valider']")
    page.wait_for_selector("#resume-erreurs")
    # ...and refused by the server with field messages, what was typed kept.
    assert "futur" in page.inner_text("#erreur-date_detection")
    assert page.input_value("#f-date_detection") == "2027-06-01T10:00"
    page.fill("#f-date_detection", "2026-03-02T07:45")
    page.locator("#f-date_detection").dispatch_event("change")
    assert "postérieure" in page.inner_text("#erreur-client-date_debut")
    assert page.locator("#erreur-client-date_detection").count() == 0
    page.click("form button[value='valider']")
    page.wait_for_selector("#resume-erreurs")
    message = page.inner_text("#erreur-date_debut")
    assert "postérieure" in message and "constatation" in message
    shot(page, "formulaires-02-dates-incoherentes")
    assert open_task(dossier.id, "p1_formulaire").id == row.id  # nothing validated
    page.fill("#f-date_debut", "2026-03-02T06:00")
    page.click("form button[value='valider']")
    page.wait_for_selector("#numero-dossier")


def test_text_over_its_limit_shows_the_counter_and_is_refused_never_cut(page, clock, axe):  # noqa: F811
    dossier, row = _step_four(page, clock)
    _fill_valid(page)
    assert page.locator("textarea[maxlength], input[maxlength]").count() == 0  # nothing cuts pasted text
    long_text = ("Matériels et logiciels touchés. " * 700)[:20412]
    page.fill("#f-description", long_text)
    counter = page.inner_text("#compteur-description").replace(NBSP, " ")
    assert counter.startswith("20 412 / 20 000 caractères") and "trop long de 412" in counter
    assert "compteur-depasse" in page.get_attribute("#compteur-description", "class")
    page.click("form button[value='valider']")
    page.wait_for_selector("#resume-erreurs")
    assert len(page.input_value("#f-description")) == 20412  # kept whole for the person to shorten
    assert "20 000" in page.inner_text("#erreur-description").replace(NBSP, " ")
    assert page.inner_text("#compteur-description").replace(NBSP, " ").startswith("20 412 / 20 000")
    shot(page, "formulaires-03-texte-trop-long")
    assert axe("formulaire-texte-trop-long") == []
    assert open_task(dossier.id, "p1_formulaire").id == row.id
    page.fill("#f-description", long_text[:19990])
    assert page.inner_text("#compteur-description").replace(NBSP, " ").startswith("19 990 / 20 000")
    page.click("form button[value='valider']")
    page.wait_for_selector("#numero-dossier")


def _refused(page, form: str, path: str, status: int) -> None:
    """Submit a journal form of the fiche: answered with `status`, the fiche back with the error beside it."""
    with page.expect_response(re.compile(rf"/journal/{path}")) as answer:
        page.click(f"#form-{form} button[type=submit]")
    assert answer.value.status == status
    page.wait_for_selector(f"#erreur-form-{form}")


def test_refused_journal_forms_come_back_on_the_fiche_with_the_text_kept(page, clock, axe):  # noqa: F811
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    login(page, ACSS)
    page.goto(f"{page.base}/dossiers/{dossier.id}")
    # An invalid indicator: the fiche again, the error beside the form, the value and comment kept.
    page.select_option("#indicateur-type", "ip")
    page.fill("#indicateur-valeur", "999.1.1.1")
    page.fill("#indicateur-commentaire", "vu dans les journaux du pare-feu")
    _refused(page, "indicateur", "indicateurs", 422)
    assert "Adresse IP invalide" in page.inner_text("#erreur-form-indicateur")
    assert page.input_value("#indicateur-type") == "ip"
    assert page.input_value("#indicateur-valeur") == "999.1.1.1"
    assert page.input_value("#indicateur-commentaire") == "vu dans les journaux du pare-feu"
    assert page.locator("#numero-dossier").count() == 1 and "Erreur 4" not in page.title()
    shot(page, "formulaires-04-indicateur-refuse")
    # A refused attachment (a web page): the comment kept, the person asked to choose the file again.
    page.set_input_files("#piece-fichier", files=[{"name": "page.html", "mimeType": "text/html",
                                                  "buffer": b"<html><script>alert(1)</script></html>"}])
    page.fill("#piece-commentaire", "capture de la page de rançon")
    _refused(page, "piece", "pieces", 415)
    assert "pas accepté" in page.inner_text("#erreur-form-piece")
    assert page.input_value("#piece-commentaire") == "capture de la page de rançon"
    # A note too long: counted, refused, kept whole.
    note = "n" * 20005
    page.fill("#note-texte", note)
    assert page.inner_text("#compteur-note-texte").replace(NBSP, " ").startswith("20 005 / 20 000")
    _refused(page, "note", "notes", 422)
    assert len(page.input_value("#note-texte")) == 20005
    shot(page, "formulaires-05-journal-refus")
    page.wait_for_selector("#diagramme[data-ready='1']")
    assert axe("fiche-journal-refus") == []
    assert db.session.scalar(select(func.count()).select_from(Observable)
                             .where(Observable.dossier_id == dossier.id, Observable.normalized == "999.1.1.1")) == 0
    assert not page.js_errors


def test_a_phone_gets_a_compact_header_with_a_menu_button(page, clock, axe):  # noqa: F811
    """At 390 x 844, the header with its folded menu takes under a quarter of the screen; « Menu » opens the
    navigation (a <details>: a button to assistive technologies, usable with the keyboard)."""
    login(page, ACSS)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.base + "/boite")
    height = page.evaluate("document.querySelector('header.entete').getBoundingClientRect().height")
    assert height < 844 * 0.25, height
    assert not page.is_visible("nav >> text=Dossiers")
    shot(page, "entete-telephone-replie")
    page.focus("#entete-menu > summary")
    page.keyboard.press("Enter")
    assert page.is_visible("nav >> text=Dossiers") and page.is_visible("text=Se déconnecter")
    shot(page, "entete-telephone-ouvert")
    assert axe("entete-telephone") == []
    page.click("nav >> text=Dossiers")
    page.wait_for_url("**/dossiers")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # On a wide screen the menu is open and its button hidden, as before.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(page.base + "/boite")
    assert page.is_visible("nav >> text=Dossiers") and not page.is_visible("#entete-menu > summary")
