"""Chromium (Playwright, Debian's /usr/bin/chromium) for the browser tests: the `live` and `page`
fixtures (registered by conftest.py) and the helpers that act as a person would. Screenshots of the
pages go to test-artifacts/screenshots/, left behind for reading when a run fails."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli import scenarios
from live_server import served
from test_web_support import DECLARANT, PASSWORD, dossier_by_number, open_task, structure_of

CHROMIUM = "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


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
    with served(app):
        yield app.config["PUBLIC_URL"]


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
    """Log in through the form (logging out whoever was logged in).

    The previous page's own requests (a dossier page fetches its diagram) are let finish and the page left
    first: a response arriving after the cookies were cleared would set the previous session's cookie back,
    whose CSRF token the login form's is not, and the login would be refused (400)."""
    page.wait_for_load_state("networkidle")
    page.goto("about:blank")
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
