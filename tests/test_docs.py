"""The documentation site (docs/, MkDocs with the Material theme): the README stays short, every role has its
French guide, and `mkdocs build --strict` passes, so a broken link, a page missing from the navigation or a
missing screenshot fails the suite. The guides' screenshots are taken here, in Chromium, from the pages as they
are when the suite runs: they follow the interface and are never committed (docs/captures/ is ignored)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audit import hash_chain
from browser_support import login
from cli import scenarios
from models import db
from test_web_support import (ACSS, ADMIN, ARMEES, ARS_GRANDEST, AUDITEUR, DECLARANT, DGS, HFDS, PROCESSUS,
                              open_task)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CAPTURES = DOCS / "captures"
# One guide per role of the instruction and of the application, in French.
GUIDES = ["declarant", "ars", "acss", "fssi", "dgs", "armees", "auditeur", "responsable-processus", "administrateur"]
IMAGE = re.compile(r"!\[[^\]]*\]\(\.\./captures/([\w-]+\.png)\)")


def captures_named_by_the_guides() -> dict[str, set[str]]:
    """{guide: the screenshot files its Markdown shows}."""
    return {name: set(IMAGE.findall((DOCS / "guides" / f"{name}.md").read_text(encoding="utf-8"))) for name in GUIDES}


def test_the_readme_is_short_and_leads_to_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    for needed in ("scripts/start", "scripts/test", "scripts/docs", "docs/"):
        assert needed in readme, needed
    for name in GUIDES:  # a newcomer finds their guide from the README
        assert f"docs/guides/{name}.md" in readme, name


def test_every_page_is_in_the_navigation_and_every_guide_has_its_journey():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["theme"]["name"] == "material"

    def pages(items):
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from pages(value) if isinstance(value, list) else [value]

    listed = set(pages(config["nav"]))
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert listed == on_disk
    for name, shots in captures_named_by_the_guides().items():
        assert len(shots) >= 2, f"le guide {name} doit montrer son parcours principal en captures"
        text = (DOCS / "guides" / f"{name}.md").read_text(encoding="utf-8")
        assert re.search(r"^## ", text, re.M), name  # steps, not one block
    assert set().union(*captures_named_by_the_guides().values()) == {f"{name}.png" for _, _, name in SHOTS}


# (who, address template, file name): the pages each guide shows, in the order of its journey.
SHOTS = [
    (DECLARANT, "/declarer", "declarant-declarer"),
    (DECLARANT, "/boite", "declarant-taches"),
    (DECLARANT, "/taches/{complement}", "declarant-complement"),
    (DECLARANT, "/dossiers/{grave}", "declarant-fiche"),
    (ARS_GRANDEST, "/boite", "ars-boite"),
    (ARS_GRANDEST, "/taches/{choix}", "ars-choix"),
    (ARS_GRANDEST, "/dossiers", "ars-dossiers"),
    (ACSS, "/boite", "acss-boite"),
    (ACSS, "/taches/{qualifier}", "acss-qualifier"),
    (ACSS, "/dossiers/{suivi}", "acss-fiche"),
    (ACSS, "/statistiques", "acss-statistiques"),
    (HFDS, "/boite", "fssi-boite"),
    (HFDS, "/taches/{hors_heures}", "fssi-hors-heures"),
    (HFDS, "/taches/{coordonner}", "fssi-coordination"),
    (DGS, "/boite", "dgs-boite"),
    (DGS, "/taches/{dgs}", "dgs-analyse"),
    (ARMEES, "/boite", "armees-boite"),
    (ARMEES, "/taches/{militaire}", "armees-traiter"),
    (AUDITEUR, "/audit/", "auditeur-audit"),
    (AUDITEUR, "/audit/dossiers/{numero}", "auditeur-historique"),
    (AUDITEUR, "/audit/dossiers/{numero}/etapes/{etape}", "auditeur-etape"),
    (PROCESSUS, "/admin/versions/", "processus-versions"),
    (PROCESSUS, "/admin/versions/1", "processus-version"),
    (PROCESSUS, "/admin/processus/modeleur", "processus-modeleur"),
    (ADMIN, "/admin/comptes", "admin-comptes"),
    (ADMIN, "/admin/outbox/", "admin-messages"),
    (ADMIN, "/admin/exploitation/", "admin-exploitation"),
]


def take_screenshots(page, clock) -> None:
    """Walk each role's main pages on dossiers at the right step, and keep a screenshot of each."""
    waiting, _ = scenarios.run("grave_acss", clock, until="p3_complement")
    support, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    choice, _ = scenarios.run("grave_ars", clock, until="p4_choix")
    opening, _ = scenarios.run("b1", clock, until="p3_qualifier")
    health, _ = scenarios.run("impact_sanitaire", clock, until="p3_dgs_analyse")
    crisis, _ = scenarios.run("significatif_crise", clock, until="p4bis_coordonner")
    military, _ = scenarios.run("militaire_sans_impact", clock, until="mil_traiter")
    urgent, _ = scenarios.run("hors_heures", clock, until="p1_fssi_traiter")
    events = hash_chain.events_of(support.instance_id)
    values = {"complement": open_task(waiting.id, "p3_complement").id, "grave": waiting.id,
              "choix": open_task(choice.id, "p4_choix").id, "qualifier": open_task(opening.id, "p3_qualifier").id,
              "suivi": support.id, "coordonner": open_task(crisis.id, "p4bis_coordonner").id,
              "dgs": open_task(health.id, "p3_dgs_analyse").id, "militaire": open_task(military.id, "mil_traiter").id,
              "hors_heures": open_task(urgent.id, "p1_fssi_traiter").id,
              "numero": support.number, "etape": events[len(events) // 2].seq}
    db.session.remove()  # the server thread has its own session
    CAPTURES.mkdir(parents=True, exist_ok=True)
    for old in CAPTURES.glob("*.png"):
        old.unlink()
    who = None
    for email, address, name in SHOTS:
        if email != who:
            login(page, email)
            who = email
        response = page.goto(page.base + address.format(**values))
        assert response.status == 200, (address, response.status)
        page.wait_for_load_state("networkidle")
        if page.locator("#diagramme").count():
            page.wait_for_selector("#diagramme[data-ready='1']")
        page.screenshot(path=str(CAPTURES / f"{name}.png"))


@pytest.mark.browser
def test_the_docs_build_strictly_with_fresh_screenshots(page, clock, tmp_path):
    take_screenshots(page, clock)
    assert {path.name for path in CAPTURES.glob("*.png")} == {f"{name}.png" for _, _, name in SHOTS}
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    guide = (site / "guides" / "declarant" / "index.html").read_text(encoding="utf-8")
    assert "declarant-declarer.png" in guide and (site / "captures" / "declarant-declarer.png").stat().st_size > 10_000
