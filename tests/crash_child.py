"""A process for the crash tests (tests/test_crash_edges.py), killed with SIGKILL at a chosen point.

Usage (with the checkout on PYTHONPATH): python tests/crash_child.py URL NOW MODE ARGS...
  start-hook POINT KEY   start a declaration and kill itself at a start_command checkpoint
  start-loop PREFIX      start declarations one after another (keys PREFIX-0000, ...) until killed
  send-stage STAGE PORT  deliver the outbox over SMTP and kill itself when a row reaches STAGE
  claim KIND             claim due rows ("outbox" or "timers"), report, and wait to be killed
  complete-api TASK TOKEN KEY  complete a task through the API (the opening's data) and kill itself right
                         after the completion's commit, before any answer leaves
  declare-api TOKEN KEY  declare through the API (the four blocks of phase 1) and kill itself right after the
                         declaration's commit, before any answer leaves
"""
from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime

from sqlalchemy import select

from app import create_app
from cli import scenarios
from mail import mailer
from models import Structure, User, db
from timekeeping import clock as clock_mod
from web.api import declarations as api_declarations
from web.api import tasks as api_tasks
from workflow import start_command, timers

DECLARANT = "declarant.rennes@chu-rennes.example.fr"


def say(*parts) -> None:
    """One line to the test, in one write: with PYTHONUNBUFFERED (write-through) print() writes each part apart,
    and a kill between two of them would leave the test a line cut short."""
    sys.stdout.write(" ".join(str(part) for part in parts) + "\n")
    sys.stdout.flush()


def die(*_args) -> None:
    """SIGKILL this process: no cleanup, no rollback, no flush of anything."""
    os.kill(os.getpid(), signal.SIGKILL)


def start(index: int, key: str):
    """Start a declaration as the Rennes declarant: validated first step, or a draft for odd indexes."""
    user = db.session.scalar(select(User).where(User.email == DECLARANT))
    structure = db.session.get(Structure, user.structure_id)
    draft = index % 2 == 1
    return start_command.start_declaration(structure, user, "p1_perimetre",
                                           extra={"finess_site": structure.finess_et},
                                           data=None if draft else dict(scenarios.PERIMETRE),
                                           draft=dict(scenarios.PERIMETRE) if draft else None, key=key)


def main() -> None:
    url, now, mode, args = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3], sys.argv[4:]
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t", "SCHEDULER_ENABLED": False,
              "CLOCK": clock_mod.FrozenClock(now)}
    if mode == "send-stage":
        config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=int(args[1]))
    app = create_app(config)
    with app.app_context():
        if mode == "start-hook":
            start_command.checkpoint_hook = lambda point: die() if point == args[0] else None
            start(0, args[1])
        elif mode == "start-loop":
            say("READY")
            for index in range(100_000):
                key = f"{args[0]}-{index:04d}"
                say("TRY", index, key)
                dossier, _ = start(index, key)
                say("DONE", index, key, dossier.number)
        elif mode == "send-stage":
            mailer.stage_hook = lambda row_id, stage: die() if stage == args[0] else None
            mailer.deliver_due()
        elif mode == "complete-api":
            api_tasks.checkpoint_hook = lambda point: die() if point == "committed" else None
            response = app.test_client().post(f"/api/v1/tasks/{args[0]}/completion", json=dict(scenarios.OPENING[0][1]),
                                              headers={"Authorization": f"Bearer {args[1]}", "Idempotency-Key": args[2]})
            say("ANSWERED", response.status_code, response.get_data(as_text=True))
        elif mode == "declare-api":
            api_declarations.checkpoint_hook = lambda point: die() if point == "committed" else None
            structure = db.session.get(Structure, db.session.scalar(select(User).where(User.email == DECLARANT))
                                       .structure_id)
            body = {"finess_site": structure.finess_et, "perimetre": scenarios.PERIMETRE, "impact": scenarios.IMPACT,
                    "origine": scenarios.ORIGINE, "formulaire": scenarios.formulaire()}
            response = app.test_client().post("/api/v1/declarations", json=body, headers={
                "Authorization": f"Bearer {args[0]}", "Idempotency-Key": args[1]})
            say("ANSWERED", response.status_code, response.get_data(as_text=True))
        elif mode == "claim":
            claimed = (mailer.claim_messages(app.extensions["clock"].now())[1] if args[0] == "outbox"
                       else timers.claim_timers(app.extensions["clock"].now())[1])
            say("CLAIMED", len(claimed))
            time.sleep(120)
    say("NOT KILLED")


if __name__ == "__main__":
    main()
