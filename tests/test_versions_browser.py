"""In Chromium: a version's diagram carries, on each element, the number of running dossiers waiting there."""
from __future__ import annotations

import pytest

from browser_support import login, shot
from cli import scenarios
from test_validation import SHIPPED
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


def test_owner_uploads_reads_the_dry_run_and_deploys(page, tmp_path):
    path = tmp_path / "point-3-jours.bpmn"
    path.write_text(SHIPPED.replace('"P7D"', '"P3D"'), encoding="utf-8")
    login(page, PROCESSUS)
    page.goto(page.base + "/admin/")
    page.set_input_files("#fichiers", str(path))
    page.click("button:has-text('Essayer avant de déployer')", no_wait_after=True)
    page.wait_for_selector("#scenarios", timeout=120_000)  # the scenarios run twice, on a shared machine
    differences = page.inner_text("#differences")
    assert "TimerDef_p4_hebdo" in differences and "Expression du minuteur" in differences
    timer = page.locator('#differences li[data-element="TimerDef_p4_hebdo"] tbody tr').inner_text()
    assert timer.index("P7D (7 jours)") < timer.index("P3D (3 jours)")  # before, then after
    assert page.locator("#scenarios tbody tr").count() == len(scenarios.SCENARIOS)
    shot(page, "versions-02-essai")
    page.fill("#commentaire", "Point d'avancement tous les 3 jours")
    page.click("button:has-text('Déployer')")
    page.wait_for_selector("#versions")
    assert page.inner_text("#version-active") == "2"
    assert "Point d'avancement tous les 3 jours" in page.inner_text("#version-2")
    shot(page, "versions-03-liste")
    assert not page.js_errors
