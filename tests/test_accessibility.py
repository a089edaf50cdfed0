"""Accessibility in Chromium: axe-core (npm) checks the main pages of every role against WCAG 2.1
A and AA (labels, contrast, landmarks, names of links and buttons, ARIA), in their ordinary state and
with validation errors shown. Any violation of serious or critical impact fails, named with the
elements it concerns."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit import hash_chain
from browser_support import login, shot, submit
from cli import scenarios
from modeller_bundle import ensure_bundle
from models import ModellerDraft, TaskRow, db
from test_web_support import ACSS, ADMIN, ARS_BRETAGNE, AUDITEUR, DECLARANT, PASSWORD, PROCESSUS, open_task, user
from timekeeping.clock import app_now
from workflow import deployment

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture
def axe(page):
    """A function checking the page on screen; returns the serious and critical violations."""
    if not AXE.exists():
        message = "axe-core absent (lancez `npm ci`) : le contrôle d'accessibilité est ignoré"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)

    source = AXE.read_text(encoding="utf-8")

    def check(name: str) -> list[str]:
        # Evaluated through the DevTools protocol: the pages' Content-Security-Policy (script-src
        # 'self') rightly refuses an injected <script>, and stays as it is served.
        page.evaluate(f"() => {{ {source}\n }}")
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
        shot(page, f"a11y-{name}")
        return [f"{name}: {v['id']} ({v['impact']}) {v['help']} -> "
                + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
                for v in result["violations"] if v["impact"] in ("serious", "critical")]
    return check


def test_main_pages_of_every_role_pass_axe(page, axe, clock):
    grave, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    closed, _ = scenarios.run("b1", clock)
    number, grave_id, closed_id = grave.number, grave.id, closed.id
    support_task = open_task(grave.id, "p4_accompagner").id
    middle = hash_chain.events_of(grave.instance_id)[len(hash_chain.events_of(grave.instance_id)) // 2].seq
    db.session.remove()  # the server thread has its own session
    found = []

    page.goto(page.base + "/connexion")
    found += axe("connexion")
    page.fill("#email", DECLARANT)
    page.fill("#password", "mauvais")
    page.click("button:has-text('Se connecter')")
    found += axe("connexion-erreur")

    login(page, DECLARANT)
    page.goto(page.base + "/declarer")
    found += axe("declaration")
    page.fill("#f-finess_site", "123")
    submit(page)  # required fields missing, FINESS wrong: errors next to the fields
    assert page.locator("#resume-erreurs").count() == 1
    found += axe("declaration-erreurs")
    pages = [  # (who, address, name); pages with a diagram are checked once bpmn-js has drawn it
        (DECLARANT, f"/dossiers/{closed_id}", "fiche-declarant"),
        (ACSS, "/boite", "boite-acss"), (ACSS, f"/taches/{support_task}", "tache-suivi"),
        (ACSS, "/dossiers", "liste-dossiers"), (ACSS, f"/dossiers/{grave_id}", "fiche-acss"),
        (ARS_BRETAGNE, "/boite", "boite-ars"), (ARS_BRETAGNE, "/dossiers", "liste-dossiers-ars"),
        (ACSS, "/statistiques?annee=abc", "statistiques-filtre-refuse"),
        (AUDITEUR, "/audit/", "audit-accueil"), (AUDITEUR, f"/audit/dossiers/{number}", "audit-historique"),
        (AUDITEUR, f"/audit/dossiers/{number}/etapes/{middle}", "audit-etape"),
        (PROCESSUS, "/admin/", "admin-processus"), (ADMIN, "/admin/outbox/", "admin-courriels"),
        (PROCESSUS, "/admin/versions/", "versions"), (PROCESSUS, "/admin/versions/1", "version-attentes"),
    ]
    for email, address, name in pages:
        login(page, email)
        page.goto(page.base + address)
        if page.locator("#diagramme").count():
            page.wait_for_selector("#diagramme[data-ready='1']")
        found += axe(name)
    assert found == [], "\n".join(found)



def test_the_modeller_passes_axe(page, axe):
    """The modeller with bpmn-js, the properties panel, the problem list and the stale-draft warning on screen."""
    ensure_bundle()
    base = deployment.active_definition()
    db.session.add(ModellerDraft(user_id=user(PROCESSUS).id, process_id=base.process_id, base_definition_id=base.id,
                                 bpmn_xml=base.bpmn_xml, forms={}, updated_at=app_now()))
    db.session.commit()
    deployment.deploy_xml(base.bpmn_xml.replace("Remplir et valider le formulaire de déclaration (tâche D)",
                                                "Remplir et valider la déclaration (tâche D)"), forms=base.forms)
    db.session.remove()
    login(page, PROCESSUS)
    page.goto(page.base + "/admin/processus/modeleur")
    page.wait_for_selector("#modeleur[data-ready='1'][data-stale='1']")
    page.evaluate("""() => { const m = window.SignalementModeler.modeler();
                             m.get('selection').select(m.get('elementRegistry').get('p4_hebdo')); }""")
    page.wait_for_selector("#bio-properties-panel-timerEventDefinitionValue")
    found = axe("modeleur")
    page.click("#bouton-verifier")
    page.wait_for_selector("#modeleur[data-checked]", timeout=60_000)
    found += axe("modeleur-verifie")
    assert found == [], "\n".join(found)

def _tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus (it must be reachable)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement !== null && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} n'est pas atteignable au clavier")


def test_a_task_is_worked_with_the_keyboard_alone(page, clock):
    """Log in, find the task in the inbox, fill its form and validate it without the mouse."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    task_id = open_task(dossier.id, "p2_ouvrir").id
    db.session.remove()
    page.goto(page.base + "/connexion")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"
    assert page.locator(".lien-evitement").bounding_box()["x"] >= 0  # shown when focused
    _tab_to(page, "#email")
    page.keyboard.type(ACSS)
    _tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Se déconnecter")
    page.goto(page.base + "/boite")
    _tab_to(page, f'#boite a[href$="/taches/{task_id}"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#f-declaration_recuperee")
    _tab_to(page, "#f-declaration_recuperee")
    page.keyboard.press("Space")
    _tab_to(page, '[name="analyste_referent"]')
    page.keyboard.type("Karim Benali")
    _tab_to(page, "form button[value='valider']")
    page.keyboard.press("Enter")
    page.wait_for_selector(".alerte-succes")
    shot(page, "clavier-tache-validee")
    row = db.session.get(TaskRow, task_id)
    assert row.status == "completed"
