"""The knowledge pages in Chromium: axe-core finds no serious or critical WCAG 2.1 A/AA violation on the
sheets, providers, retex, knowledge base, community and weak-signal pages, nor on the cause analysis
that offers the sheets and providers to send; the cell edits a sheet and previews it."""
from __future__ import annotations

import pytest

from browser_support import login
from cli import scenarios
from knowledge import retex as base
from models import Dossier, WeakSignalAlert, db
from test_accessibility import axe  # noqa: F401  (the fixture)
from test_knowledge_retex import PLANTED_RETEX
from test_web_support import ACSS, DECLARANT, open_task

pytestmark = pytest.mark.browser


def test_knowledge_pages_pass_axe(page, axe, clock):  # noqa: F811
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_analyse")
    task_id = open_task(dossier.id, "p4_analyse").id
    retex = base.record_retex(db.session.get(Dossier, dossier.id), dict(PLANTED_RETEX, types_incident=["rancongiciel"]),
                              clock.now())
    base.publish(retex, "test", clock.now())
    alert = WeakSignalAlert(dimension="logiciel", key="imagix", label="Imagix PACS", dossier_ids=[dossier.id],
                            first_at=clock.now(), last_at=clock.now(), created_at=clock.now())
    db.session.add(alert)
    db.session.commit()
    retex_id, alert_id = retex.id, alert.id
    db.session.remove()  # the server thread has its own session
    found = []
    login(page, ACSS)
    for address, name in [("/connaissances/fiches", "fiches"), ("/connaissances/fiches/rancongiciel", "fiche"),
                          ("/connaissances/prestataires?region=Bretagne", "prestataires"),
                          ("/connaissances/prestataires/nouveau", "prestataire-formulaire"),
                          ("/connaissances/retex", "retex"), (f"/connaissances/retex/{retex_id}", "retex-relecture"),
                          ("/connaissances/base", "base"), ("/connaissances/signaux-faibles", "signaux"),
                          (f"/connaissances/signaux-faibles/{alert_id}", "signal"), (f"/taches/{task_id}", "analyse")]:
        page.goto(page.base + address)
        found += axe(name)
    assert page.locator("input[name='fiches_choisies'][value='rancongiciel']").is_checked()
    page.goto(page.base + "/connaissances/fiches/nouvelle")
    page.fill("#body", "## Étapes\n\n- Ne pas payer")
    page.click("form button:has-text('Enregistrer')")
    assert page.locator("#resume-erreurs").count() == 1  # no title, no audience: errors, and a preview
    found += axe("fiche-erreurs")
    assert page.locator("h2:has-text('Aperçu') + article li").inner_text() == "Ne pas payer"
    login(page, DECLARANT)
    page.goto(page.base + "/connaissances/communaute")
    found += axe("communaute")
    assert "double authentification" in page.locator(f"#retex-{retex_id}").inner_text()
    assert found == [], "\n".join(found)
