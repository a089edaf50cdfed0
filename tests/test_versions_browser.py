"""In Chromium: a version's diagram carries, on each element, the number of running dossiers waiting there."""
from __future__ import annotations

import pytest

from browser_support import login, shot
from cli import scenarios
from test_web_support import PROCESSUS

pytestmark = pytest.mark.browser


def test_version_diagram_shows_how_many_dossiers_wait_on_each_element(page, clock):
    for name, until in [("b1", "p3_qualifier"), ("grave_ars", "p3_qualifier"), ("grave_acss", "p4_choix")]:
        scenarios.run(name, clock, until=until)
    login(page, PROCESSUS)
    page.goto(page.base + "/admin/versions/1")
    page.wait_for_selector("#diagramme[data-ready='1']")
    badges = {page.locator(f'.djs-overlays[data-container-id="{element}"] .compte-attente').inner_text()
              for element in ("p3_qualifier", "p4_choix")}
    assert badges == {"2", "1"}
    assert page.locator(".compte-attente").count() == 2
    shot(page, "versions-01-attentes")
    assert not page.js_errors
