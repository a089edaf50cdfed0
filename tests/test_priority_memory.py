"""Priority you can see, tasks that remember: the inbox's order and markers, the facts and contact on a task
page, re-opened tasks prefilled, people fields, « Qualifié le » following the latest decision."""
from __future__ import annotations

import re
from datetime import timedelta

from alembic import command as alembic_command
from sqlalchemy import select

import migrate

from cli import scenarios
from models import Dossier, TaskRow, User, db
from test_web_support import ACSS, DECLARANT, form_data, login, open_task, post
from web.forms import PARIS
from workflow import commands, context


def _declare(clock, prefix: str, impact: dict, at) -> Dossier:
    """A declaration of an incident without urgency, completed at a chosen instant."""
    clock.set(at)
    structure = scenarios.structure_for(prefix)
    person = db.session.scalars(select(User).where(User.structure_id == structure.id).order_by(User.id)).first()
    declarant = context.Actor.of(person)
    dossier = commands.start_dossier(structure, person, declarant)
    for spec, data in [("p1_perimetre", scenarios.PERIMETRE), ("p1_impact", impact), ("p1_origine", scenarios.ORIGINE),
                       ("p1_formulaire", scenarios.formulaire(("bogue_logiciel",), titre="Lenteurs"))]:
        commands.complete_task(scenarios.ready_task(dossier, spec).id, data, declarant)
    return dossier


def _inbox_numbers(page: str) -> list[str]:
    """Dossier numbers in the order of the inbox's rows."""
    table = page[page.index('<table id="boite">'):]
    return re.findall(r'class="numero"[^>]*>(SSI-[0-9-]+)<', table)


def _row_of(page: str, number: str) -> str:
    """The HTML of the inbox row of a dossier."""
    start = page.index(f">{number}<")
    return page[start:page.index("</tr>", start)]


def test_inbox_orders_by_priority_then_due_date_with_markers(client, clock):
    # Planted: two plain dossiers (the later-declared one due first), a grave one with impact on care,
    # a significatif one with impact on care, and an urgent off-hours one with impact on care.
    monday = scenarios.MONDAY_MORNING
    plain_late = _declare(clock, "35000002", scenarios.IMPACT_NONE, monday + timedelta(hours=3))
    plain_early = _declare(clock, "57000102", scenarios.IMPACT_NONE, monday)
    care, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    significatif, _ = scenarios.run("significatif_crise", clock, until="p4_analyse")
    urgent, _ = scenarios.run("hors_heures", clock, until="p2_ouvrir")
    assert (urgent.urgent_help, urgent.off_hours, urgent.care_impact) == (True, True, "mode_degrade")
    assert [d.priority for d in (urgent, significatif, care, plain_early, plain_late)] == [25, 12, 8, 0, 0]
    assert open_task(significatif.id, "p4_analyse").priority == 12  # copied on the open task, in SQL
    login(client, ACSS)
    page = client.get("/boite").text
    expected = [urgent.number, significatif.number, care.number, plain_early.number, plain_late.number]
    assert _inbox_numbers(page) == expected
    row = _row_of(page, urgent.number)
    for marker in ("Aide urgente demandée", "Impact sur les soins : soins en mode dégradé",
                   "Déclaré hors heures ouvrées"):
        assert marker in row
    assert "Aide urgente" not in _row_of(page, plain_early.number)
    by_due = _inbox_numbers(client.get("/boite?tri=echeance").text)
    assert by_due.index(plain_early.number) < by_due.index(plain_late.number) and by_due[0] != urgent.number

    # The task page: markers with the qualification, the facts the opening needs, the declarant's contact.
    task = open_task(urgent.id, "p2_ouvrir")
    page = client.get(f"/taches/{task.id}").text
    assert 'aria-label="Priorité du dossier"' in page and "Aide urgente demandée" in page and "Non qualifié" in page
    contact = page[page.index('id="contact-declarant"'):]
    contact = contact[:contact.index("</section>")]
    assert "Téléphone" in contact and 'href="tel:' in contact and "mailto:" in contact
    facts = page[page.index('id="titre-contexte"'):]
    assert "Impact sur les soins" in facts and "Aide urgente demandée" in facts

    # People field: the Cellule ACSS's users to choose from, the person logged in by default; others refused.
    assert re.search(r'<select id="f-analyste_referent"[^>]*>.*<option value="Karim Benali" selected>', page, re.S)
    refused = post(client, f"/taches/{task.id}", {"declaration_recuperee": "true", "analyste_referent": "Un inconnu"})
    assert refused.status_code == 422 and "Choisissez une personne de la liste." in refused.text
    assert open_task(urgent.id, "p2_ouvrir") is not None
    done = post(client, f"/taches/{task.id}", {"declaration_recuperee": "true", "analyste_referent": "Karim Benali"})
    assert done.status_code == 302 and open_task(urgent.id, "p2_ouvrir") is None


def test_reopened_task_is_prefilled_and_qualified_at_follows_the_latest_decision(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p3_complement")
    first = dossier.qualified_at
    assert first is not None and dossier.priority == 8 + 2  # impact on care, grave

    # The declarant answers: no analyst's markers, internal data nor declarant contact on their page.
    login(client, DECLARANT)
    question = open_task(dossier.id, "p3_complement")
    page = client.get(f"/taches/{question.id}").text
    assert "Quelle version du logiciel" in page  # the question addressed to them
    assert 'id="contact-declarant"' not in page and "Priorité du dossier" not in page
    assert "Analyse de la déclaration" not in page
    clock.advance(hours=2)
    answer = post(client, f"/taches/{question.id}", form_data({"reponse_informations": "Veeam 12"}))
    assert answer.status_code == 302

    # « Qualifier l'incident » comes round again with the values of its previous completion.
    login(client, ACSS)
    again = open_task(dossier.id, "p3_qualifier")
    page = client.get(f"/taches/{again.id}").text
    assert 'id="valeurs-reprises"' in page and "Karim Benali" in page
    assert re.search(r'name="qualification" value="grave" checked', page)
    assert re.search(r'name="criticite" value="elevee" checked', page)
    assert "Analyse de la déclaration et échange avec le RSSI.</textarea>" in page
    assert "Quelle version du logiciel de sauvegarde utilisez-vous ?</textarea>" in page

    # A new decision: « Qualifié le » follows it, and the priority follows the qualification.
    clock.advance(hours=1)
    decided_at = clock.now()
    data = scenarios.qualification("significatif")
    assert post(client, f"/taches/{again.id}", form_data(data)).status_code == 302
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier.id)
    assert dossier.qualification == "significatif" and dossier.qualified_at == decided_at > first
    assert dossier.priority == 8 + 4
    assert {row.priority for row in db.session.scalars(select(TaskRow).where(
        TaskRow.dossier_id == dossier.id, TaskRow.status == "ready"))} == {12}
    shown = client.get(f"/dossiers/{dossier.id}").text
    assert f"Qualifié le</dt><dd>{decided_at.astimezone(PARIS):%d/%m/%Y à %H:%M}" in shown


def test_upgrade_fills_the_markers_of_existing_dossiers(app, clock):
    """Migration 0012 on a database holding dossiers: their markers and priority come from the audit log."""
    urgent, _ = scenarios.run("hors_heures", clock, until="p2_ouvrir")
    db.session.remove()
    with db.engine.begin() as connection:
        alembic_command.downgrade(migrate.alembic_config(connection), "0010_merge_security")
    migrate.upgrade()
    dossier = db.session.get(Dossier, urgent.id)
    assert (dossier.urgent_help, dossier.care_impact, dossier.priority) == (True, "mode_degrade", 25)
    assert open_task(dossier.id, "p2_ouvrir").priority == 25
