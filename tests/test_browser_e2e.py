"""End-to-end in Chromium (Playwright): a grave incident walked by every actor, a B1 path, and the
validation-error round trip. Screenshots of the main pages go to test-artifacts/screenshots/."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

import scenarios
from referentiel import finess_valid
from test_web_support import ACSS, DECLARANT, GRAVE_STEPS, PASSWORD, dossier_by_number, structure_of

CHROMIUM = "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture
def live(app, backend):
    """The test app served over HTTP from a thread (SQLite half only: the browser adds no backend coverage)."""
    if not os.path.exists(CHROMIUM):
        message = f"Chromium absent ({CHROMIUM}) : tests navigateur ignorés (REQUIRE_BROWSER=1 les rend obligatoires)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    if backend != "sqlite":
        pytest.skip("tests navigateur exécutés sur la moitié SQLite seulement")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(live):
    """A Chromium page (Debian's binary, never a downloaded one)."""
    from playwright.sync_api import sync_playwright
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        tab.base = live
        errors = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.js_errors = errors
        yield tab
        browser.close()


def shot(page, name: str) -> None:
    """Keep a screenshot of the page (left behind for reading when a run fails)."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def login(page, email: str) -> None:
    """Log in through the form (logging out whoever was logged in)."""
    page.context.clear_cookies()
    page.goto(page.base + "/connexion")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Se connecter')")
    page.wait_for_selector("text=Se déconnecter")


def fill(page, data: dict) -> None:
    """Fill a task form from typed data, the way a person would."""
    for name, value in data.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            raw = "true" if item is True else "false" if item is False else str(item)
            choice = page.locator(f'input[name="{name}"][value="{raw}"]')
            if choice.count():
                choice.check()
            elif page.locator(f'select[name="{name}"]').count():
                page.select_option(f'select[name="{name}"]', raw)
            elif page.locator(f'input[name="{name}"][type="datetime-local"]').count():
                page.fill(f'[name="{name}"]', raw[:16])
            else:
                page.fill(f'[name="{name}"]', raw)


def submit(page) -> None:
    """Press the form's main button and wait for the next page."""
    page.click("form button[value='valider']")
    page.wait_for_load_state()


def declare(page, formulaire: dict, prefix: str) -> str:
    """The four-step declaration wizard; returns the dossier number from the confirmation page."""
    login(page, DECLARANT)
    page.click("nav >> text=Déclarer un incident")
    assert page.input_value("#f-finess_site") == structure_of(DECLARANT).finess_et
    shot(page, f"{prefix}-01-declaration-etape-1")
    fill(page, scenarios.PERIMETRE)
    submit(page)
    for step, data in enumerate([scenarios.IMPACT, scenarios.ORIGINE, formulaire], start=2):
        assert page.locator("[aria-current='step']").inner_text().startswith(f"Étape {step} sur 4")
        fill(page, data)
        shot(page, f"{prefix}-0{step}-declaration-etape-{step}")
        submit(page)
    number = page.inner_text("#numero-dossier")
    shot(page, f"{prefix}-05-confirmation")
    return number


def work(page, email: str, number: str, spec: str, data: dict, clock, name: str) -> None:
    """Log in as an actor, open the task from the inbox, fill it and validate it."""
    clock.advance(minutes=30)
    login(page, email)
    dossier = dossier_by_number(number)
    from test_web_support import open_task
    row = open_task(dossier.id, spec)
    assert row is not None, f"{spec} n'est pas ouverte"
    if row.role != "declarant":
        page.goto(page.base + "/boite")
        page.locator("#boite tbody tr", has_text=number).first.locator(f'a[href$="/taches/{row.id}"]').click()
    else:
        page.goto(page.base + f"/dossiers/{dossier.id}")
        page.click(f'#taches-ouvertes a[href$="/taches/{row.id}"]')
    page.wait_for_selector("h1")
    fill(page, data)
    shot(page, name)
    submit(page)
    assert page.locator(".alerte-succes").count(), page.content()[:2000]


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
