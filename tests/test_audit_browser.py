"""The auditor's stepper in Chromium: bpmn-js draws the markers, the slider moves between steps, verify."""
from __future__ import annotations

import pytest

from audit import hash_chain
from browser_support import login, shot
from cli import scenarios
from models import db
from test_web_support import AUDITEUR

pytestmark = pytest.mark.browser


def test_stepper_in_the_browser(page, clock):
    dossier, _ = scenarios.run("grave_acss", clock)
    number = dossier.number
    events = hash_chain.events_of(dossier.instance_id)
    support = next(e.seq for e in events if e.visited and e.visited[0] == "p4_analyse")
    db.session.remove()  # the server thread has its own session
    login(page, AUDITEUR)
    page.goto(f"{page.base}/audit/")
    page.click(f"text={number}")
    page.click("text=Vérifier l'intégrité (rejeu complet)")
    assert page.get_attribute("#resultat-verification", "data-ok") == "oui"
    page.click("text=Rejouer pas à pas")
    page.goto(f"{page.base}/audit/dossiers/{number}/etapes/{support}")
    page.wait_for_selector("#diagramme[data-ready='1']")
    assert page.locator("#diagramme .djs-element.visite").count() >= 10
    assert page.locator("#diagramme .djs-connection.flux-pris").count() >= 10
    assert page.locator("#diagramme [data-element-id='p4_accompagner'].actif").count() == 1
    assert page.locator("#diagramme [data-element-id='p4_hebdo'].actif").count() == 1
    assert page.locator("#diagramme [data-element-id='p4_analyse'].etape-courante").count() == 1
    assert page.locator("#diagramme [data-element-id='p6_retex'].visite").count() == 0
    shot(page, "audit-stepper")
    # The slider: one step right, released, loads the next step.
    slider = page.locator("#curseur-etape")
    slider.focus()
    page.keyboard.press("ArrowRight")
    slider.dispatch_event("change")
    page.wait_for_url(f"**/audit/dossiers/{number}/etapes/{support + 1}")
    page.wait_for_selector("#diagramme[data-ready='1']")
    assert "p4_accompagner" in page.inner_text("#action-etape") or "Accompagner" in page.inner_text("#action-etape")
    assert page.js_errors == []
