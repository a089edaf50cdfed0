"""Crash edges under SIGKILL: a declaration starts in one commit and retries by key, the outbox knows
how far SMTP got, and the rows of a killed claimer are taken again within about the short lease."""
from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from audit import verifier
from cli import scenarios
from mail import mailer
from models import (ApiIdempotency, AuditEvent, Counter, Dossier, Draft, IdempotencyKey, OutboxMessage, ProcessInstance, TaskRow,
                    Timer, db)
from test_mail import Recorder, free_port, outbox, smtp  # noqa: F401 - smtp is a fixture
from test_web_support import DECLARANT, DECLARANT_METZ, form_data, login, post, structure_of, user
from timekeeping import leases
from workflow import commands, start_command, timers

ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "crash_child.py"
FIRST = "p1_perimetre"
KEY = "cle-de-reprise-0123456789"


def spawn(app, clock, *args) -> subprocess.Popen:
    """Run tests/crash_child.py on the test's database and clock (the test's session released first)."""
    db.session.remove()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(CHILD), app.config["SQLALCHEMY_DATABASE_URI"],
                             clock.now().isoformat(), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def killed(process: subprocess.Popen) -> bool:
    """Wait for a child; True if it died of SIGKILL."""
    process.wait(120)
    process.stdout.close()
    return process.returncode == -signal.SIGKILL


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def check_declarations() -> list[Dossier]:
    """Every dossier is whole (first step completed, or kept as a draft), carries its own provisional reference
    and took no SSI number (numbers are given at validation: tests/test_declarant_screens.py), and verifies."""
    dossiers = db.session.scalars(select(Dossier).order_by(Dossier.number)).all()
    assert all(re.fullmatch(r"BR-[0-9A-F]{10}", d.number) for d in dossiers)
    assert len({d.number for d in dossiers}) == len(dossiers)
    assert db.session.scalar(select(func.coalesce(func.max(Counter.value), 0))) == 0
    for dossier in dossiers:
        first = start_command.first_step(dossier, FIRST)
        commands = db.session.scalars(select(AuditEvent.command).where(AuditEvent.instance_id == dossier.instance_id)
                                      .order_by(AuditEvent.seq)).all()
        if first.status == "completed":
            assert commands == ["start", "complete"], dossier.number
            assert db.session.scalar(select(TaskRow.spec_name).where(TaskRow.dossier_id == dossier.id,
                                                                     TaskRow.status == "ready")) == "p1_impact"
        else:  # the declarant chose « brouillon »: the draft came with the dossier
            assert first.status == "ready" and commands == ["start"], dossier.number
            assert db.session.scalar(select(Draft.data).where(Draft.task_id == first.id)) == scenarios.PERIMETRE
        assert verifier.verify_dossier(dossier).ok, verifier.verify_dossier(dossier).message
    return dossiers


# --------------------------------------------------------------------------------------------
# Starting a declaration

@pytest.mark.parametrize("point", ["started", "completed"])
def test_a_start_killed_midway_leaves_nothing_and_the_retry_keeps_one_number(app, client, runner, clock, point):
    # Killed after the start's engine run and before the first completion, or just before the commit.
    assert killed(spawn(app, clock, "start-hook", point, KEY))
    for model in (Dossier, ProcessInstance, AuditEvent, TaskRow, Draft, IdempotencyKey, OutboxMessage):
        assert count(model) == 0, model
    assert db.session.scalar(select(func.coalesce(func.max(Counter.value), 0))) == 0

    # The browser's retry posts the same form, with the same key: one dossier, one number.
    login(client, DECLARANT)
    finess = structure_of(DECLARANT).finess_et
    sent = form_data(scenarios.PERIMETRE, finess_site=finess, idempotency_key=KEY)
    first = post(client, "/declarer", sent)
    assert first.status_code == 302, first.text
    again = post(client, "/declarer", sent)
    assert again.status_code == 302 and again.location == first.location
    [dossier] = check_declarations()
    next_step = db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier.id, TaskRow.status == "ready"))
    assert first.location.endswith(f"/taches/{next_step.id}")
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "1 dossier vérifié" in result.output and "aucune différence" in result.output


def test_a_completion_killed_after_its_commit_replays_its_answer_to_the_retry(app, client, clock):
    """A worker killed right after an API completion's commit, before answering: the client's retry with the
    same Idempotency-Key gets the original answer (200, replayed), not 409; a new key gets 409."""
    from test_api import _declared, call, is_problem, token
    from test_visibility_matrix import _drive
    from test_web_support import ACSS, DECLARANT_METZ

    clock.set(scenarios.MONDAY_MORNING)
    dossier = _drive(clock, DECLARANT_METZ, _declared("Metz déclaré"))
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    secret, task_id, dossier_id = token(ACSS), row.id, dossier.id
    child = spawn(app, clock, "complete-api", task_id, secret, KEY)
    output = child.stdout.read() if child.stdout else ""
    assert killed(child), output
    assert "ANSWERED" not in output
    db.session.expire_all()
    assert db.session.get(TaskRow, task_id).status == "completed"  # the commit happened before the kill
    pending = db.session.scalar(select(ApiIdempotency).where(ApiIdempotency.key == KEY))
    assert pending.status == 200 and pending.body["task"]["status"] == "completed"

    retry = call(client, "POST", f"/tasks/{task_id}/completion", secret, dict(scenarios.OPENING[0][1]), KEY)
    assert retry.status_code == 200, retry.get_data(as_text=True)
    assert retry.headers["Idempotent-Replayed"] == "true"
    body = retry.get_json()
    assert body["task"]["id"] == task_id and body["task"]["status"] == "completed"
    assert body["dossier"]["id"] == dossier_id
    assert scenarios.ready_task(db.session.get(Dossier, dossier_id), "p3_qualifier").id in {
        t["id"] for t in body["next_tasks"]}
    assert "déjà été traitée" in is_problem(call(client, "POST", f"/tasks/{task_id}/completion", secret,
                                                 dict(scenarios.OPENING[0][1]), "une-autre-cle-0123456789"), 409)["detail"]
    completions = db.session.scalars(select(AuditEvent.payload).where(AuditEvent.command == "complete")).all()
    assert sum(1 for p in completions if p.get("task_id") == task_id) == 1  # completed once
    assert verifier.verify_dossier(db.session.get(Dossier, dossier_id)).ok


def test_a_declaration_killed_after_its_commit_replays_its_answer_to_the_retry(app, client, clock):
    """A worker killed right after an API declaration's commit, before answering: the answer was kept with its key in
    that commit, so the retry with the same Idempotency-Key gets it at once (201, replayed), not 409 for the
    lease's minute; the entities it names are those the stored dossier gives."""
    from test_api import call, declaration, token
    from web.declaration.declare import alerted_entities

    clock.set(scenarios.MONDAY_MORNING)
    secret = token(DECLARANT)
    child = spawn(app, clock, "declare-api", secret, KEY)
    output = child.stdout.read() if child.stdout else ""
    assert killed(child), output
    assert "ANSWERED" not in output
    db.session.expire_all()
    [dossier] = db.session.scalars(select(Dossier)).all()  # the commit happened before the kill
    stored = db.session.scalar(select(ApiIdempotency).where(ApiIdempotency.key == KEY))
    assert stored.status == 201 and stored.location == f"/api/v1/dossiers/{dossier.id}"
    assert stored.body == {"id": dossier.id, "number": dossier.number, "state": dossier.state,
                           "href": stored.location, "entites_alertees": alerted_entities(dossier)}
    assert stored.body["entites_alertees"] and dossier.number.startswith("SSI-")

    retry = call(client, "POST", "/declarations", secret, declaration(structure_of(DECLARANT).finess_et), KEY)
    assert retry.status_code == 201, retry.get_data(as_text=True)
    assert retry.headers["Idempotent-Replayed"] == "true" and retry.get_json() == stored.body
    assert db.session.scalar(select(func.count()).select_from(Dossier)) == 1
    assert verifier.verify_dossier(dossier).ok


def test_random_kills_leave_no_orphan_and_no_hole(app, clock):
    rng = random.Random(20261201)
    in_flight = []
    for round_ in range(6):
        process = spawn(app, clock, "start-loop", f"boucle-{round_:02d}-aleatoire")
        assert process.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.05, 1.2))  # anywhere: in the engine, between the commands, in the commit
        os.kill(process.pid, signal.SIGKILL)
        lines = process.stdout.read().split("\n")
        assert killed(process)
        # A line the kill cut short says nothing (a TRY is written before its start begins).
        tries = [line.split() for line in lines if line.startswith("TRY") and len(line.split()) == 3]
        done = {line.split()[2] for line in lines if line.startswith("DONE") and len(line.split()) == 4}
        in_flight += [(int(index), key) for _, index, key in tries if key not in done]
    assert len(in_flight) >= 4  # kills land inside a start (a kill between two starts is possible, rare)
    check_declarations()

    # A retry of the request the kill interrupted: the dossier it committed, or one new whole dossier.
    before = count(Dossier)
    clients = []
    for index, key in in_flight:
        dossier, created = start_declaration(index, key)
        again, created_again = start_declaration(index, key)
        assert again.id == dossier.id and not created_again
        clients.append(created)
    assert count(Dossier) == before + sum(clients)
    assert count(IdempotencyKey) == count(Dossier)
    check_declarations()


def test_two_concurrent_requests_with_one_key_open_one_dossier(app):
    barrier = threading.Barrier(2)

    def request(_):
        with app.app_context():
            barrier.wait()
            dossier, created = start_declaration(0, KEY)
            return dossier.id, created

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(request, range(2)))
    assert {dossier_id for dossier_id, _ in outcomes} == {db.session.scalar(select(Dossier.id))}
    assert sorted(created for _, created in outcomes) == [False, True]
    check_declarations()


def start_declaration(index: int, key: str):
    declarant = user(DECLARANT)
    structure = structure_of(DECLARANT)
    draft = index % 2 == 1
    return start_command.start_declaration(structure, declarant, FIRST, extra={"finess_site": structure.finess_et},
                                           data=None if draft else dict(scenarios.PERIMETRE),
                                           draft=dict(scenarios.PERIMETRE) if draft else None, key=key)


def test_draft_start_is_one_commit_and_idempotent_and_keys_are_per_user(app, client):
    login(client, DECLARANT)
    page = client.get("/declarer")
    rendered = re.search(r'name="idempotency_key" value="([A-Za-z0-9_-]+)"', page.text).group(1)
    assert start_command.valid_key(rendered)
    assert rendered not in client.get("/declarer").text  # a new key for each form shown
    finess = structure_of(DECLARANT).finess_et
    draft = form_data({"elements_concernes": "Serveur de messagerie"}, finess_site=finess, action="brouillon",
                      idempotency_key=rendered)
    first = post(client, "/declarer", draft)
    assert first.status_code == 302
    again = post(client, "/declarer", draft)
    assert again.status_code == 302 and again.location == first.location
    [dossier] = db.session.scalars(select(Dossier)).all()
    row = start_command.first_step(dossier, FIRST)
    assert first.location.endswith(f"/taches/{row.id}") and row.status == "ready"
    assert db.session.scalar(select(Draft.data).where(Draft.task_id == row.id))["elements_concernes"] == \
        "Serveur de messagerie"

    # The same key from another user opens that user's own dossier; the header works as the field does.
    login(client, DECLARANT_METZ)
    other = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=structure_of(DECLARANT_METZ).finess_et),
                 headers={"Idempotency-Key": rendered})
    assert other.status_code == 302
    assert count(Dossier) == 2 and count(IdempotencyKey) == 2
    # A malformed key: a French 400 for people, a JSON 400 for programs; nothing is created.
    bad = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=finess, idempotency_key="x'; --"))
    assert bad.status_code == 400 and "idempotence de la déclaration est invalide" in bad.text
    api = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=finess),
               headers={"Idempotency-Key": "trop-court", "Accept": "application/json"})
    assert api.status_code == 400 and api.is_json and "idempotence" in api.json["message"]
    assert count(Dossier) == 2


def test_invalid_form_with_a_key_creates_nothing_then_the_corrected_form_does(app, client):
    login(client, DECLARANT)
    finess = structure_of(DECLARANT).finess_et
    wrong = post(client, "/declarer", {"finess_site": finess, "idempotency_key": KEY, "action": "valider"})
    assert wrong.status_code == 422 and f'value="{KEY}"' in wrong.text  # the key is kept for the corrected form
    assert count(Dossier) == 0 and count(IdempotencyKey) == 0
    fixed = post(client, "/declarer", form_data(scenarios.PERIMETRE, finess_site=finess, idempotency_key=KEY))
    assert fixed.status_code == 302
    check_declarations()


# --------------------------------------------------------------------------------------------
# Outbox: how far SMTP got

def test_a_crash_before_data_resends_automatically_exactly_once(app, clock, smtp):
    scenarios.run("b1", clock)
    rows = outbox()
    assert len(rows) == 6
    # Killed once the server accepted the recipients of the first message, before DATA.
    assert killed(spawn(app, clock, "send-stage", "rcpt", str(app.config["SMTP_PORT"])))
    assert smtp.received == []
    assert {r.status for r in outbox()} == {"pending"} and {r.attempts for r in outbox()} == {0}

    assert mailer.deliver_due().sent == 0  # the dead sender's lease still runs...
    clock.advance(seconds=leases.LEASE.total_seconds() + 1)  # ...for about 30 s only
    result = mailer.deliver_due()
    assert (result.sent, result.to_verify) == (6, 0)
    assert Tally(m["Message-ID"].strip() for _, _, m in smtp.received) == Tally(r.message_id for r in rows)
    assert len(smtp.received) == 6
    assert all(r.status == "sent" and r.attempts == 1 and r.smtp_stage == "accepted" for r in outbox())


def test_a_crash_once_data_may_have_started_waits_for_a_human(app, clock, smtp):
    scenarios.run("b1", clock)
    first = outbox()[0]
    assert killed(spawn(app, clock, "send-stage", "data", str(app.config["SMTP_PORT"])))
    db.session.expire_all()
    crashed = db.session.get(OutboxMessage, first.id)
    assert (crashed.status, crashed.smtp_stage, crashed.attempts) == ("sending", "data", 1)
    clock.advance(minutes=2)
    result = mailer.deliver_due()
    assert (result.sent, result.to_verify) == (5, 1)
    db.session.refresh(crashed)
    assert crashed.status == "a_verifier" and "Message-ID" in crashed.last_error and "DATA" in crashed.last_error
    assert first.message_id not in {m["Message-ID"].strip() for _, _, m in smtp.received}


class SlowToAnswer(Recorder):
    """Answers the first end of DATA only after the client has given up waiting."""

    delayed = False

    async def handle_DATA(self, server, session, envelope):
        if not self.delayed:
            self.delayed = True
            await asyncio.sleep(2)
        return await super().handle_DATA(server, session, envelope)


def test_no_answer_after_data_waits_for_a_human_and_is_never_resent(app, clock):
    port = free_port()
    recorder = SlowToAnswer()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_TIMEOUT=1)
        scenarios.run("b1", clock, until="p2_ouvrir")
        rows = outbox()
        result = mailer.deliver_due(max_rows=1)
        assert (result.sent, result.retried, result.to_verify) == (0, 0, 1)
        clock.advance(days=1)
        assert mailer.deliver_due().sent == len(rows) - 1
    finally:
        controller.stop()
    db.session.expire_all()
    unsure = db.session.get(OutboxMessage, rows[0].id)
    assert (unsure.status, unsure.smtp_stage, unsure.attempts) == ("a_verifier", "data", 1)
    assert "sans réponse du serveur" in unsure.last_error
    # The other message went; the unsure one was not sent a second time.
    assert [m["Message-ID"].strip() for _, _, m in recorder.received] == [rows[1].message_id]


# --------------------------------------------------------------------------------------------
# Leases: a killed claimer's rows come back within about the lease; a live one keeps them

@pytest.mark.parametrize("kind", ["outbox", "timers"])
def test_the_rows_of_a_killed_claimer_are_reclaimed_within_the_lease(app, clock, kind):
    if kind == "outbox":
        scenarios.run("b1", clock)
        expected = count(OutboxMessage)

        def sweep():
            return mailer.deliver_due().sent
    else:
        scenarios.run("grave_acss", clock, until="p4_accompagner")
        clock.set(db.session.scalar(select(Timer.due_at).where(Timer.status == "pending")) + timedelta(seconds=1))
        expected = 1

        def sweep():
            return timers.sweep_timers().fired
    process = spawn(app, clock, "claim", kind)
    assert process.stdout.readline().split() == ["CLAIMED", str(expected)]
    os.kill(process.pid, signal.SIGKILL)
    assert killed(process)
    clock.advance(seconds=leases.LEASE.total_seconds() - 1)
    assert sweep() == 0  # still within the dead claimer's lease
    clock.advance(seconds=2)
    assert sweep() == expected  # 31 s after the claim, not 5 minutes


def test_a_renewed_lease_keeps_the_rows_and_an_expired_one_frees_them(app, clock):
    scenarios.run("b1", clock)
    token, ids = mailer.claim_messages(clock.now())
    assert len(ids) == 6
    heartbeat = leases.Heartbeat(OutboxMessage, token, clock.now())
    clock.advance(seconds=5)
    assert not heartbeat.beat(clock.now())  # at most once per third of the lease
    clock.advance(seconds=15)
    assert heartbeat.beat(clock.now())
    clock.advance(seconds=20)  # 40 s after the claim: alive, so still ours
    assert mailer.claim_messages(clock.now()) == ("", [])
    clock.advance(seconds=11)  # no beat for 31 s: presumed dead
    other, taken = mailer.claim_messages(clock.now())
    assert sorted(taken) == sorted(ids) and other != token
    assert leases.renew(OutboxMessage, token, clock.now()) == 0  # the old claimer cannot take them back


def test_a_slow_live_sender_keeps_its_batch(app, clock, monkeypatch):
    scenarios.run("b1", clock)
    stolen = []

    def slow(row):
        clock.advance(seconds=20)  # each message takes 20 s: the batch outlives the 30 s lease
        with ThreadPoolExecutor(1) as pool:  # another sweep, with its own session, tries to take rows
            stolen.append(pool.submit(competitor).result())

    def competitor():
        with app.app_context():
            return mailer.claim_messages(clock.now())[1]

    monkeypatch.setattr(mailer, "after_send_hook", slow)
    assert mailer.deliver_due().sent == 6
    assert stolen == [[]] * 6
    assert all(r.status == "sent" and r.attempts == 1 for r in outbox())


def test_a_slow_live_timer_sweep_keeps_its_batch(app, clock):
    scenarios.run("grave_acss", clock, until="p4_accompagner")
    real = db.session.scalar(select(Timer).where(Timer.status == "pending"))
    for n in range(2):  # two more due rows on the same instance, fired by the stand-in below
        db.session.add(Timer(instance_id=real.instance_id, task_id=f"minuteur-{n}", spec_name="p4_hebdo",
                             due_at=real.due_at, status="pending", attempts=0))
    db.session.commit()
    clock.set(real.due_at + timedelta(seconds=1))
    stolen = []

    def slow_fire(timer):
        clock.advance(seconds=20)  # each timer takes 20 s: the batch outlives the 30 s lease
        with ThreadPoolExecutor(1) as pool:  # another sweep, with its own session, tries to take rows
            stolen.append(pool.submit(competitor).result())
        if timer.task_id.startswith("minuteur-"):
            timer.status, timer.fired_at = "fired", clock.now()
            db.session.commit()
        else:
            commands.fire_timer(timer)

    def competitor():
        with app.app_context():
            return timers.claim_timers(clock.now())[1]

    result = timers.sweep_timers(fire=slow_fire, threads=1)
    assert (result.fired, result.failed, result.skipped) == (3, 0, 0)
    assert stolen == [[], [], []]
