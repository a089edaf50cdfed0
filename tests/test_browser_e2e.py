"""End-to-end in Chromium (Playwright): a grave incident walked by every actor, a B1 path, and the
validation-error round trip. Screenshots of the main pages go to test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

from browser_support import declare, login, shot, submit, work
from cli import scenarios
from referentiel import finess_valid
from test_web_support import ACSS, DECLARANT, GRAVE_STEPS, dossier_by_number, structure_of

pytestmark = pytest.mark.browser


def test_grave_incident_walked_by_each_actor(page, clock):
    number = declare(page, scenarios.formulaire(), "grave")
    entities = page.inner_text("#entites-alertees")
    assert "ARS Bretagne" in entities and "Cellule ACSS" in entities
    login(page, ACSS)
    shot(page, "grave-06-boite-acss")
    assert number in page.inner_text("#boite")
    for index, (email, spec, data) in enumerate(GRAVE_STEPS, start=7):
        work(page, email, number, spec, data, clock, f"grave-{index:02d}-{spec}")
    dossier = dossier_by_number(number)
    page.goto(page.base + f"/dossiers/{dossier.id}")
    page.wait_for_selector("#diagramme[data-ready='1']")
    assert page.locator(".djs-element.visite").count() >= 10
    assert page.inner_text("#etat-dossier") == "clôturé"
    assert "Enrichir le bilan pour en faire un retex" in page.inner_text("#chronologie")
    shot(page, "grave-20-fiche-de-suivi")
    assert not page.js_errors


def test_b1_path(page, clock):
    number = declare(page, scenarios.formulaire(("bogue_logiciel",), titre="Lenteurs du logiciel de paie"), "b1")
    work(page, ACSS, number, "p2_ouvrir", scenarios.OPENING[0][1], clock, "b1-06-ouverture")
    work(page, ACSS, number, "p3_qualifier", scenarios.qualification("non_incident"), clock, "b1-07-qualification")
    work(page, ACSS, number, "p5_cloturer", scenarios.CLOTURE, clock, "b1-08-cloture")
    dossier = dossier_by_number(number)
    assert dossier.state == "clôturé" and dossier.qualification == "non_incident"
    page.goto(page.base + f"/dossiers/{dossier.id}")
    page.wait_for_selector("#diagramme[data-ready='1']")
    assert "Pas un incident de sécurité" in page.text_content("#qualification-dossier")
    shot(page, "b1-09-fiche-de-suivi")


def test_validation_errors_round_trip(page):
    wrong = "350000021"
    assert not finess_valid(wrong)
    login(page, DECLARANT)
    page.goto(page.base + "/declarer")
    page.fill("#f-finess_site", wrong)
    page.check('input[name="perimetre"][value="serveurs"]')
    page.check('input[name="perimetre"][value="messagerie"]')
    page.fill("#f-nombre_postes_impactes", "12")
    submit(page)
    shot(page, "erreurs-01-declaration")
    finess_error = page.locator("#champ-finess_site #erreur-finess_site")
    assert "clé de contrôle" in finess_error.inner_text()
    assert "obligatoire" in page.locator("#champ-elements_concernes #erreur-elements_concernes").inner_text()
    assert page.get_attribute("#f-finess_site", "aria-invalid") == "true"
    assert page.input_value("#f-finess_site") == wrong
    assert page.input_value("#f-nombre_postes_impactes") == "12"
    assert page.is_checked('input[name="perimetre"][value="serveurs"]')
    assert page.is_checked('input[name="perimetre"][value="messagerie"]')
    assert not page.is_checked('input[name="perimetre"][value="postes"]')
    assert page.locator("#resume-erreurs").count() == 1
    # Correct the two fields: the declaration goes on to step 2.
    page.fill("#f-finess_site", structure_of(DECLARANT).finess_et)
    page.fill("#f-elements_concernes", "Serveurs de messagerie")
    submit(page)
    assert page.locator("[aria-current='step']").inner_text().startswith("Étape 2 sur 4")
    shot(page, "erreurs-02-etape-2")
