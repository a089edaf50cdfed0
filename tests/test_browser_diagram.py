"""The process diagram on the fiche de suivi: it opens at full size on the dossier's current position (not a
fit of the whole 13,000-pixel process), and zooms with its buttons and with the keyboard."""
from __future__ import annotations

import re

import pytest

from browser_support import login, shot
from cli import scenarios
from test_web_support import ACSS

pytestmark = pytest.mark.browser


def scale(page) -> float:
    """The diagram's zoom, read from the transform bpmn-js puts on its viewport."""
    transform = page.get_attribute("#diagramme .viewport", "transform")
    return float(re.match(r"matrix\(([-\d.e]+)", transform).group(1))


def test_the_diagram_opens_on_the_dossier_and_zooms(page, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_qualifier")
    login(page, ACSS)
    page.goto(page.base + f"/dossiers/{dossier.id}")
    page.wait_for_selector("#diagramme[data-ready='1']")
    assert scale(page) == pytest.approx(1, abs=0.01)
    waiting = page.locator(".djs-element.actif").first.bounding_box()
    frame = page.locator("#diagramme").bounding_box()
    assert frame["x"] <= waiting["x"] and waiting["x"] + waiting["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= waiting["y"] and waiting["y"] + waiting["height"] <= frame["y"] + frame["height"]
    shot(page, "diagramme-position-du-dossier")
    page.click("button[aria-label='Zoom avant']")
    assert scale(page) == pytest.approx(1.25, abs=0.01)
    page.click(".zoom-diagramme button:has-text('Tout le processus')")
    assert scale(page) < 0.3
    shot(page, "diagramme-tout-le-processus")
    page.click(".zoom-diagramme button:has-text('Position du dossier')")
    assert scale(page) == pytest.approx(1, abs=0.01)
    page.focus("#diagramme")
    page.keyboard.press("-")
    assert scale(page) == pytest.approx(0.8, abs=0.01)
    page.keyboard.press("0")
    assert scale(page) < 0.3
    page.keyboard.press("1")
    assert scale(page) == pytest.approx(1, abs=0.01)
    assert not page.js_errors
