"""Deadlines are part of the process: each user task's target is a BPMN property, versioned with the file.

A target edited in the BPMN and deployed as a new version changes the due date of the tasks created on that
version only; running dossiers migrated to it keep the due dates they have; an unusable target is refused
by the validator on every deploy path, in French, naming the element.
"""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from cli import scenarios
from models import Dossier, ProcessInstance, TaskRow, db
from tests.test_validation import SHIPPED, lines, only
from tests.test_web_support import csrf, login
from timekeeping import business_calendar, deadlines
from workflow import commands, context, deployment, versions

OWNER = "processus@hfds.example.fr"


def with_target(xml: str, task: str, duration: str, calendar: str = "working") -> str:
    """The BPMN with one user task's target properties set to new values (the edit must apply)."""
    pattern = re.compile(rf'(<bpmn:userTask id="{task}".*?)<spiffworkflow:property name="targetDuration" value="[^"]*" />'
                         rf'(\s*)<spiffworkflow:property name="targetCalendar" value="[^"]*" />', re.S)
    edited, count = pattern.subn(rf'\1<spiffworkflow:property name="targetDuration" value="{duration}" />'
                                 rf'\2<spiffworkflow:property name="targetCalendar" value="{calendar}" />', xml, count=1)
    assert count == 1, task
    return edited


def open_row(dossier: Dossier, spec: str) -> TaskRow:
    return scenarios.ready_task(db.session.get(Dossier, dossier.id), spec)


def definition_of(dossier: Dossier) -> int:
    return db.session.get(ProcessInstance, dossier.instance_id).definition_id


def complete(row: TaskRow, data: dict) -> None:
    actor = scenarios.actor_for(row)
    commands.complete_task(row.id, data, actor)


def working(created, hours: float, department: str):
    return business_calendar.support_cell_calendar(department).add_working_hours(created, hours)


def test_the_shipped_targets_are_todays_values():
    """The values TASK_TARGETS held, now carried by the BPMN (hours of the Cellule ACSS)."""
    expected = {"p2_ouvrir": 4, "p3_qualifier": 8, "p3_complement": 16, "p3_dgs_analyse": 8, "mil_traiter": 16,
                "p4_choix": 8, "p4_decision_similaires": 4, "p4_appui_ars": 80, "p4_analyse": 16,
                "p4_complement": 16, "p4bis_coordonner": 4, "p4bis_communication": 8, "p4_accompagner": 40,
                "p4_fin_structure": 40, "p5_cloturer": 16, "p5_bilan": 24, "p6_retex": 40}
    found = {}
    for task, block in re.findall(r'<bpmn:userTask id="([^"]+)"(.*?)</bpmn:userTask>', SHIPPED, re.S):
        props = dict(re.findall(r'<spiffworkflow:property name="(target\w+)" value="([^"]*)" />', block))
        if props:
            found[task] = deadlines.parse_target(props.get("targetDuration"), props.get("targetCalendar"))
    assert {k: v for k, v in found.items() if k != "p1_fssi_traiter"} == {
        name: deadlines.Target(timedelta(hours=hours), "working") for name, hours in expected.items()}
    assert found["p1_fssi_traiter"] == deadlines.Target(timedelta(hours=1), "calendar")


def test_an_edited_target_changes_new_tasks_only_and_migration_keeps_due_dates(app, clock):
    # Two dossiers wait on the opening of version 1 (4 working hours), a third is being declared.
    waiting, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    moved, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    kept_due = {d.id: open_row(d, "p2_ouvrir").due_at for d in (waiting, moved)}
    opened_at = open_row(waiting, "p2_ouvrir").created_at
    assert kept_due[waiting.id] == working(opened_at, 4, "35")

    # Version 2: the opening within 2 calendar hours, the qualification within 3 working hours.
    v2_xml = with_target(with_target(SHIPPED, "p2_ouvrir", "PT2H", "calendar"), "p3_qualifier", "PT3H")
    second = deployment.deploy_xml(v2_xml, actor="test", comment="Ouverture sous 2 heures")
    db.session.commit()
    assert deployment.active_definition().id == second.id != definition_of(waiting)

    # A dossier declared on version 2 gets version 2's target, counted in calendar hours.
    fresh, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    assert definition_of(fresh) == second.id
    row = open_row(fresh, "p2_ouvrir")
    assert row.due_at == row.created_at + timedelta(hours=2)

    # The tasks already open keep their due dates; one migrated dossier (alone, then all the rest) too.
    source = db.session.get(type(second), definition_of(waiting))
    commands.migrate_dossier(db.session.get(Dossier, moved.id), second, context.Actor(OWNER, "responsable_processus"))
    db.session.commit()
    report = versions.migrate_all(source, second, context.Actor(OWNER, "responsable_processus"), "conserver")
    assert [line["migre"] for line in report] == [True]
    for dossier in (waiting, moved):
        assert definition_of(dossier) == second.id
        assert open_row(dossier, "p2_ouvrir").due_at == kept_due[dossier.id]

    # Their next tasks are new: they take version 2's targets.
    clock.advance(minutes=5)
    complete(open_row(waiting, "p2_ouvrir"), scenarios.OPENING[0][1])
    qualify = open_row(waiting, "p3_qualifier")
    assert qualify.due_at == working(qualify.created_at, 3, "35")


def test_a_dossier_left_on_the_old_version_keeps_its_targets(app, clock):
    old, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    deployment.deploy_xml(with_target(SHIPPED, "p3_qualifier", "PT1H", "calendar"), actor="test", comment="x")
    db.session.commit()
    clock.advance(minutes=5)
    complete(open_row(old, "p2_ouvrir"), scenarios.OPENING[0][1])
    row = open_row(old, "p3_qualifier")
    assert row.due_at == working(row.created_at, 8, "35")  # version 1's 8 working hours


@pytest.mark.parametrize("duration, calendar, text", [
    ("4 heures", "working", "« 4 heures » n'est pas une durée ISO 8601"),
    ("P1M", "working", "les années et les mois, de longueur variable, sont exclus"),
    ("PT0H", "working", "la durée « PT0H » est nulle"),
    ("P2D", "working", "en heures ouvrées, la durée « P2D » doit s'exprimer en heures ou minutes"),
    ("PT4H", "ouvrees", "le calendrier « ouvrees » est inconnu"),
    ("PT" + "9" * 300 + "H", "calendar", "dépasse un an"),
    ("PT0.0001H", "calendar", "inférieure à une minute"),
    ("P400D", "calendar", "dépasse un an"),
])
def test_an_unusable_target_is_refused_naming_the_element(duration, calendar, text):
    found = lines(with_target(SHIPPED, "p3_qualifier", duration, calendar))
    line = only(found, "échéance inutilisable")
    assert line.startswith("v2.bpmn, élément « p3_qualifier » (Qualifier l'incident (tâche A)) : échéance inutilisable")
    assert text in line and "targetDuration" in line


def test_target_properties_belong_to_user_tasks_and_markers_must_be_known():
    on_service = SHIPPED.replace(
        '<spiffworkflow:serviceTaskOperator id="changer_etat" resultVariable="etat_dossier">',
        '<spiffworkflow:properties><spiffworkflow:property name="targetDuration" value="PT1H" />'
        '</spiffworkflow:properties><spiffworkflow:serviceTaskOperator id="changer_etat" resultVariable="etat_dossier">', 1)
    assert "seule une tâche utilisateur porte une échéance" in only(lines(on_service), "p1_etat_declare")
    unknown = SHIPPED.replace('value="traitement_hors_heures"', 'value="tout_en_haut"')
    assert "le marqueur de priorité « tout_en_haut » est inconnu" in only(lines(unknown), "p1_fssi_traiter")
    alone = SHIPPED.replace('<spiffworkflow:property name="targetDuration" value="PT1H" />', "", 1)
    assert "« targetCalendar » est donnée sans « targetDuration »" in only(lines(alone), "p1_fssi_traiter")


def test_an_unusable_target_is_refused_by_the_cli_and_the_web_upload(app, client, runner, tmp_path):
    bad = with_target(SHIPPED, "p2_ouvrir", "PT-4H")
    path = tmp_path / "v2.bpmn"
    path.write_text(bad, encoding="utf-8")
    result = runner.invoke(args=["deploy", str(path), "--commentaire", "cible erronée"])
    assert result.exit_code != 0 and "élément « p2_ouvrir »" in result.output
    assert "échéance inutilisable" in result.output and deployment.active_definition().id == 1
    login(client, OWNER)
    page = client.post("/admin/processus/deployer", data={"csrf_token": csrf(client),
                                                          "fichiers": [(io.BytesIO(bad.encode()), "v2.bpmn")]},
                       content_type="multipart/form-data", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.status_code in (200, 422) and "échéance inutilisable" in text and "p2_ouvrir" in text
    assert deployment.active_definition().id == 1
    assert db.session.scalar(select(TaskRow.id).limit(1)) is None  # nothing ran
