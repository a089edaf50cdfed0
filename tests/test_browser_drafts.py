"""Nothing typed is lost, in Chromium: the session ends while a form is being filled, two analysts race on one
task; and the declarant's journey (no analyst control; a military hospital's acknowledgement and closing)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from browser_support import fill, login, shot, submit
from cli import scenarios
from models import Dossier, LoginSession, User, db
from test_web_support import ACSS, ARMEES, DECLARANT, DECLARANT_BEGIN, PASSWORD, open_task, structure_of, user
from web.auth.login import hash_password
from workflow import commands, context

pytestmark = pytest.mark.browser

ACSS_BIS = "seconde.analyste@acss.example.fr"


def autosaved(page) -> None:
    """Wait until autosave.js says the draft is on the server."""
    page.wait_for_selector("#etat-brouillon:has-text('Brouillon enregistré automatiquement')")


def test_the_session_ends_while_typing_and_the_form_comes_back_after_login(page, clock):
    login(page, DECLARANT)
    page.goto(page.base + "/declarer")
    fill(page, scenarios.PERIMETRE)
    autosaved(page)
    # The session ends server-side (idle timeout, revocation) while the person keeps typing.
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user(DECLARANT).id)
                       .values(revoked_at=datetime.now(timezone.utc)))
    db.session.commit()
    page.fill("#f-elements_concernes", "Serveurs de fichiers, 40 postes du bloc et la messagerie (tapé après)")
    submit(page)
    assert page.locator("#saisie-conservee").count() == 1
    shot(page, "brouillons-01-session-terminee")
    page.fill("#email", DECLARANT)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Se connecter')")
    page.wait_for_selector("#f-elements_concernes")
    assert page.url.endswith("/declarer")
    assert page.input_value("#f-elements_concernes") == \
        "Serveurs de fichiers, 40 postes du bloc et la messagerie (tapé après)"
    assert page.is_checked('input[name="perimetre"][value="serveurs"]')
    assert page.is_checked('input[name="perimetre"][value="postes"]')
    assert db.session.scalar(select(Dossier.id)) is None  # nothing was declared behind the person's back
    shot(page, "brouillons-02-saisie-retrouvee")
    assert not page.js_errors


def test_two_analysts_on_one_task_the_second_keeps_text_and_sees_the_first(page, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = open_task(dossier.id, "p2_ouvrir")
    db.session.add(User(email=ACSS_BIS, name="Claire Seconde", password_hash=hash_password(PASSWORD), role="acss"))
    db.session.commit()
    other = page.context.browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}).new_page()
    other.base = page.base
    login(page, ACSS)
    login(other, ACSS_BIS)
    for tab in (page, other):
        tab.goto(tab.base + f"/taches/{row.id}")
    fill(other, {"declaration_recuperee": True, "commentaire_ouverture": "SECONDE : analyse longue et précieuse"})
    autosaved(other)
    fill(page, {"declaration_recuperee": True, "commentaire_ouverture": "PREMIERE : dossier ouvert"})
    submit(page)
    assert page.locator(".alerte-succes").count()
    submit(other)
    other.wait_for_selector("#saisie-conservee")
    assert "SECONDE : analyse longue et précieuse" in other.inner_text("#saisie-conservee")
    assert "PREMIERE : dossier ouvert" in other.inner_text("#saisie-enregistree")
    shot(other, "brouillons-03-course-perdue")


def test_the_military_declarant_journey(page, clock):
    login(page, DECLARANT_BEGIN)
    page.goto(page.base + "/boite")
    for control in ("Prendre", "Attribution", "Qualification"):
        assert control not in page.inner_text("main")
    page.goto(page.base + "/declarer")
    assert page.input_value("#f-finess_site") == structure_of(DECLARANT_BEGIN).finess_et
    fill(page, scenarios.PERIMETRE)
    submit(page)
    for data in (scenarios.IMPACT, scenarios.ORIGINE):
        fill(page, data)
        submit(page)
    assert page.locator('[name="besoin_accompagnement"]').count() == 0  # not asked of a military hospital
    assert "Non attribuée" not in page.inner_text("main") and "Prendre en charge" not in page.inner_text("main")
    formulaire = dict(scenarios.formulaire())
    formulaire.pop("besoin_accompagnement")
    fill(page, formulaire)
    shot(page, "brouillons-04-militaire-etape-4")
    submit(page)
    suite = page.inner_text("#suite-signalement")
    assert "uniquement par la chaîne « CYBER » du ministère des armées" in suite and "message type" in suite
    assert "Cellule ACSS vont" not in page.inner_text("main")
    assert "Ministère des armées" in page.inner_text("#entites-alertees")
    number = page.inner_text("#numero-dossier")
    shot(page, "brouillons-05-militaire-accuse")
    dossier = db.session.scalar(select(Dossier).where(Dossier.number == number))
    armees = open_task(dossier.id, "mil_traiter")
    commands.complete_task(armees.id, {"information_armees": "hfds", "synthese_armees": "Poste isolé et réinstallé",
                                       "niveau_confidentialite": "non_protege"}, context.Actor.of(user(ARMEES)))
    page.goto(page.base + f"/dossiers/{dossier.id}")
    assert page.inner_text("#etat-dossier") == "clôturé par le ministère des armées"
    assert page.inner_text("#qualification-dossier") == "Qualifié et traité par le ministère des armées"
    assert "Issue du traitement" in page.inner_text("#notifications")
    shot(page, "brouillons-06-militaire-cloture")
    assert not page.js_errors
