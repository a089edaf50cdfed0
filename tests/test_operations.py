"""« Exploitation »: a timer that fails its attempts is shown with its dossier, element, French error and attempts;
« Relancer » fires it once (in the dossier's audit chain, and in the account journal), the dossier goes on; the
administrators are mailed once; /pret counts failed work; tasks nobody can take and dead letters are listed."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

import scheduler
from accounts import journal
from mail import mailer
from models import AccountEvent, AuditEvent, OutboxMessage, ProcessInstance, Structure, TaskRow, Timer, User, db
from referentiel import REGIONS
from test_timers import at_support, weekly
from test_web_support import ACSS, ADMIN, login, post
from workflow import operations

ALERTS = select(OutboxMessage).where(OutboxMessage.kind == operations.ALERT_KIND)


def _fail_until_given_up(app, clock, dossier, repair: bool = True) -> Timer:
    """Corrupt the dossier's stored state so its weekly timer fails, and sweep through every backoff."""
    timer = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id,
                                                   Timer.status.in_(("pending", "failed")))).one()
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    kept = instance.state_json
    instance.state_json = '{"not": "a workflow"}'
    db.session.commit()
    clock.set(max(clock.now(), timer.due_at + timedelta(seconds=1)))
    for _ in range(app.config.get("TIMER_MAX_ATTEMPTS", 5) + 1):
        scheduler.run_sweeps()
        db.session.refresh(timer)
        if timer.status == "failed":
            break
        clock.set(timer.next_attempt_at)
    assert timer.status == "failed" and timer.attempts == 5, (timer.status, timer.attempts)
    # The cause goes away (here: the state is put back), the timer stays given up until someone retries it.
    if repair:
        instance.state_json = kept
        db.session.commit()
    return timer


def test_a_failed_timer_is_shown_retried_once_audited_and_the_dossier_goes_on(app, clock, client):
    dossier = at_support(clock)
    timer = _fail_until_given_up(app, clock, dossier)
    assert weekly(dossier) == []

    # One mail to the administrators, however many sweeps see the failure.
    for _ in range(3):
        clock.advance(minutes=5)
        scheduler.run_sweeps()
    [alert] = db.session.scalars(ALERTS).all()
    admins = set(db.session.scalars(select(User.email).where(User.role == "admin", User.active)))
    assert set(alert.recipients) == admins and ADMIN in admins
    assert dossier.number in alert.subject and timer.spec_name in alert.body_text
    assert alert.status == "sent"  # the mail sweep of the same pass delivered it (log backend)

    ready = client.get("/pret").get_json()
    assert ready["verifications"]["travail_en_echec"]["minuteurs_abandonnes"] == 1
    assert ready["verifications"]["travail_en_echec"]["total"] >= 1

    login(client, ACSS)
    assert client.get("/admin/exploitation/").status_code == 403
    post(client, "/deconnexion")
    login(client, ADMIN)
    page = client.get("/admin/exploitation/").get_data(as_text=True)
    section = page.split('id="minuteurs_abandonnes"')[1].split("</section>")[0]
    assert dossier.number in section and timer.spec_name in section
    assert "Le processus n&#39;a pas pu avancer" in section or "Le processus n'a pas pu avancer" in section
    assert re.search(r'data-label="Tentatives">5<', section)
    assert "Exploitation" in client.get("/admin/").get_data(as_text=True)  # in the administrator's menu

    answer = post(client, f"/admin/exploitation/minuteurs/{timer.id}/relancer")
    assert answer.status_code == 303
    db.session.expire_all()
    assert db.session.get(Timer, timer.id).status == "fired"
    assert len(weekly(dossier)) == 1                              # fired once: the weekly point is out
    fired = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id,
                                                        AuditEvent.command == "timer")).all()
    assert [event.actor for event in fired] == [ADMIN]             # in the dossier's chain, by the administrator
    [decision] = db.session.scalars(select(AccountEvent).where(AccountEvent.action == operations.RETRY_ACTION)).all()
    assert (decision.actor, decision.target_id) == (ADMIN, timer.id) and journal.verify() == []
    assert "s&#39;est déclenché" in client.get("/admin/exploitation/").get_data(as_text=True)
    # A second click finds nothing to retry: 409, nothing fired twice.
    assert post(client, f"/admin/exploitation/minuteurs/{timer.id}/relancer").status_code == 409
    assert len(weekly(dossier)) == 1

    # The dossier goes on: the next weekly timer waits and fires on time through the sweep.
    following = db.session.scalars(select(Timer).where(Timer.instance_id == dossier.instance_id,
                                                       Timer.status == "pending")).one()
    clock.set(following.due_at + timedelta(seconds=1))
    scheduler.run_sweeps()
    assert len(weekly(dossier)) == 2
    assert len(db.session.scalars(ALERTS).all()) == 1              # still the one alert
    assert client.get("/pret").get_json()["verifications"]["travail_en_echec"]["minuteurs_abandonnes"] == 0
    assert subprocess_verify(app) == 0


def subprocess_verify(app) -> int:
    """`flask audit verify` through the CLI runner: every dossier's chain still verifies after the retry."""
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert "aucune différence" in result.output, result.output
    return result.exit_code


def test_tasks_nobody_can_take_and_dead_letters_are_listed_and_retried(app, clock, client):
    dossier = at_support(clock)
    for analyst in db.session.scalars(select(User).where(User.role == "acss")):
        analyst.active = False
    dead = OutboxMessage(kind="notification", recipients=["x@example.fr"], recipient_roles=[], subject="Essai perdu",
                         body_text="corps", body_html="", status="dead", attempts=8, dossier_id=dossier.id,
                         last_error="SMTPRecipientsRefused: destinataire refusé", created_at=clock.now(),
                         message_id="<perdu@signalement.example.fr>")
    db.session.add(dead)
    db.session.commit()
    login(client, ADMIN)
    page = client.get("/admin/exploitation/").get_data(as_text=True)
    orphans = page.split('id="taches_sans_titulaire"')[1].split("</section>")[0]
    assert dossier.number in orphans and "Aucun compte actif n&#39;a le rôle" in orphans
    letters = page.split('id="messages_abandonnes"')[1].split("</section>")[0]
    assert "Essai perdu" in letters and "Abandonné" in letters and "destinataire refusé" in letters
    assert client.get("/pret").get_json()["verifications"]["travail_en_echec"]["taches_sans_titulaire"] >= 1
    assert post(client, f"/admin/exploitation/messages/{dead.id}/relancer").status_code == 303
    db.session.expire_all()
    assert db.session.get(OutboxMessage, dead.id).status == "pending"
    assert ADMIN in db.session.get(OutboxMessage, dead.id).last_error
    assert mailer.deliver_due().sent >= 1


def test_a_retry_that_fails_again_is_shown_and_alerted_once_more(app, clock, client):
    dossier = at_support(clock)
    timer = _fail_until_given_up(app, clock, dossier, repair=False)
    assert len(db.session.scalars(ALERTS).all()) == 1
    login(client, ADMIN)
    assert post(client, f"/admin/exploitation/minuteurs/{timer.id}/relancer").status_code == 303
    db.session.expire_all()
    again = db.session.get(Timer, timer.id)
    assert (again.status, again.attempts) == ("pending", 1)       # failed once more, back to the sweep's backoff
    page = client.get("/admin/exploitation/").get_data(as_text=True)
    assert "a de nouveau échoué" in page
    assert dossier.number in page.split('id="minuteurs_en_echec"')[1].split("</section>")[0]
    assert weekly(dossier) == []
    _fail_until_given_up(app, clock, dossier, repair=False)       # given up again after its attempts
    assert len(db.session.scalars(ALERTS).all()) == 2              # a new failure, a new mail; then no more
    scheduler.run_sweeps()
    assert len(db.session.scalars(ALERTS).all()) == 2


def _nobody_can_take(task: TaskRow, users: list[User]) -> bool:
    """The rule, read directly: an open task whose role no active account holds in the task's scope."""
    return not any(u.active and u.role == task.role and (task.role != "ars" or u.region == task.region)
                   and (task.role != "declarant" or u.structure_id == task.structure_id) for u in users)


def test_tasks_nobody_can_take_are_counted_as_the_rule_reads_in_every_case(app, clock):
    """/pret and /metrics count these tasks with conditions on indexed columns (operations._orphan_conditions);
    the count and the list agree with the rule read task by task, for each way a task can lose its holders."""
    dossier = at_support(clock)
    model = db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier.id,
                                                     TaskRow.status == "ready")).first()
    columns = {c.key: getattr(model, c.key) for c in TaskRow.__table__.columns if c.key != "id"}
    users = db.session.scalars(select(User)).all()
    ars = next(u for u in users if u.role == "ars" and u.active)
    declarant = next(u for u in users if u.role == "declarant" and u.active)
    covered_regions = {u.region for u in users if u.role == "ars" and u.active}
    lost_region = next(r for r in REGIONS if r not in covered_regions)
    staffed = {u.structure_id for u in users if u.role == "declarant" and u.active}
    other_structure = next(i for i in db.session.scalars(select(Structure.id)) if i not in staffed)
    cases = [("ars", ars.region, model.structure_id), ("ars", lost_region, model.structure_id),
             ("declarant", model.region, declarant.structure_id), ("declarant", model.region, other_structure),
             ("hfds", model.region, model.structure_id), ("dgs", model.region, model.structure_id),
             ("inconnu", model.region, model.structure_id), ("acss", model.region, model.structure_id)]
    for n, (role, region, structure_id) in enumerate(cases):
        db.session.add(TaskRow(**dict(columns, id=f"orphan-check-{n}", role=role, region=region,
                                      structure_id=structure_id)))
    db.session.commit()

    def expected() -> set[str]:
        db.session.expire_all()
        people = db.session.scalars(select(User)).all()
        return {t.id for t in db.session.scalars(select(TaskRow).where(TaskRow.status == "ready"))
                if _nobody_can_take(t, people)}

    for change in (None, "dgs", "ars", "declarant"):  # then nobody holds the role at all, one role after another
        if change:
            for user in db.session.scalars(select(User).where(User.role == change)):
                user.active = False
            db.session.commit()
        want = expected()
        assert {"orphan-check-1", "orphan-check-3", "orphan-check-6"} <= want  # a region, a structure, a role lost
        assert operations.counts()["taches_sans_titulaire"] == len(want), change
        assert {item.ident for item in operations.orphan_tasks()} == want, change
    assert {"orphan-check-0", "orphan-check-2", "orphan-check-5"} <= want  # their holders were deactivated too
