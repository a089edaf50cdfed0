"""Failed work, for the operators: what the sweeps gave up on or could not do, its retry, and the alert.

Four kinds of stuck work are listed (page « Exploitation », `/pret`, `/metrics`):
- timers given up after TIMER_MAX_ATTEMPTS (`failed`): the dossier stopped at that timer;
- timers whose firing command failed in the scheduler and is being retried (`pending` with an error);
- open tasks that nobody can take: their role is unknown, or no active account holds it where the task is;
- outbox dead letters (`dead`, `a_verifier`).

« Relancer » on a timer makes it due again and fires it once, at once, through the scheduler's own claim
and fire path (so a sweep running meanwhile cannot fire it twice); the firing is the dossier's `timer`
command with the administrator as its actor, in the dossier's audit chain, and the decision is recorded
in the chained account journal. Failed work mails the administrators once per item (and once more per
retry that fails again): the outbox row, with a message id derived from the item, is the memory.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from accounts import journal
from models import AccountEvent, Dossier, OutboxMessage, TaskRow, Timer, User, db
from referentiel import ROLES
from timekeeping import leases
from timekeeping.clock import app_now
from workflow import commands, timers
from workflow.context import Actor

ALERT_KIND = "alerte_exploitation"
DEAD_STATES = ("dead", "a_verifier")
RETRY_ACTION = "relance_minuteur"


@dataclass
class Item:
    """One piece of stuck work as the page shows it."""

    kind: str              # minuteur_abandonne, minuteur_en_echec, tache_sans_titulaire, message_abandonne
    ident: int | str
    dossier_id: int | None
    number: str | None
    element: str
    error: str
    attempts: int | None


def _numbers(ids) -> dict:
    ids = {i for i in ids if i is not None}
    return dict(db.session.execute(select(Dossier.id, Dossier.number).where(Dossier.id.in_(ids))).all()) if ids else {}


def _timer_rows(status_filter) -> list:
    return db.session.execute(select(Timer, Dossier.id).join(Dossier, Dossier.instance_id == Timer.instance_id)
                              .where(status_filter).order_by(Timer.id)).all()


def _french(error: str | None) -> str:
    """Engine errors are French already; a technical one is labelled as such."""
    error = (error or "").strip()
    if not error:
        return "Erreur non enregistrée."
    first = error.split(":", 1)[0]
    if first.isidentifier() and first[:1].isupper() and first.endswith(("Error", "Exception")):
        return f"Erreur technique ({first}) : {error.split(':', 1)[1].strip() if ':' in error else ''}"
    return error


def failed_timers() -> list[Item]:
    """Timers given up after their attempts."""
    rows = _timer_rows(Timer.status == "failed")
    numbers = _numbers(d for _, d in rows)
    return [Item("minuteur_abandonne", t.id, d, numbers.get(d), t.spec_name, _french(t.last_error), t.attempts)
            for t, d in rows]


def failing_timers() -> list[Item]:
    """Timers whose command failed in the scheduler and waits for its next attempt."""
    rows = _timer_rows(and_(Timer.status == "pending", Timer.attempts > 0, Timer.last_error.is_not(None)))
    numbers = _numbers(d for _, d in rows)
    return [Item("minuteur_en_echec", t.id, d, numbers.get(d), t.spec_name, _french(t.last_error), t.attempts)
            for t, d in rows]


def _orphan_conditions() -> tuple:
    """Open tasks no active account may take (unknown role, or nobody holding it in the task's scope), as two
    conditions that never hold together, each beside `status = 'ready'`:

    - every role but the declarant's: a role the platform does not know, one no active account holds, or an ARS
      task in a region without an active ARS account. These read only the columns of ix_tasks_inbox (status, role,
      region), so counting them never reads the task table; asking each task for a holder read every open task's
      row (25,000 pages, about 200 ms at 100,000 dossiers), on each readiness probe (/pret) and metrics scrape;
    - the declarant's: no active declarant in the task's structure (reads the declarant's open tasks only)."""
    held = select(User.role).where(User.active, User.role.is_not(None))
    ars_regions = select(User.region).where(User.active, User.role == "ars", User.region.is_not(None))
    declarant_structures = select(User.structure_id).where(User.active, User.role == "declarant",
                                                           User.structure_id.is_not(None))
    others = and_(TaskRow.role != "declarant",
                  or_(TaskRow.role.not_in(list(ROLES)), TaskRow.role.not_in(held),
                      and_(TaskRow.role == "ars", TaskRow.region.not_in(ars_regions))))
    declarant = and_(TaskRow.role == "declarant", TaskRow.structure_id.not_in(declarant_structures))
    return others, declarant


def _orphan_filter():
    """Open tasks no active account may take (_orphan_conditions)."""
    return and_(TaskRow.status == "ready", or_(*_orphan_conditions()))


def orphan_tasks(limit: int = 500) -> list[Item]:
    """Open tasks that nobody can take, with the reason in French."""
    rows = db.session.scalars(select(TaskRow).where(_orphan_filter()).order_by(TaskRow.created_at).limit(limit)).all()
    numbers = _numbers(row.dossier_id for row in rows)
    found = []
    for row in rows:
        if row.role not in ROLES:
            reason = f"Rôle « {row.role} » inconnu de la plateforme : personne ne peut prendre cette tâche."
        elif row.role == "ars":
            reason = f"Aucun compte ARS actif pour la région {row.region}."
        elif row.role == "declarant":
            reason = "Aucun déclarant actif dans la structure du dossier."
        else:
            reason = f"Aucun compte actif n'a le rôle « {ROLES[row.role]} »."
        found.append(Item("tache_sans_titulaire", row.id, row.dossier_id, numbers.get(row.dossier_id), row.title,
                          reason, None))
    return found


def dead_letters(*conditions) -> list[Item]:
    """Outbox messages given up or waiting for an administrator's check."""
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.status.in_(DEAD_STATES), *conditions)
                              .order_by(OutboxMessage.id)).all()
    numbers = _numbers(r.dossier_id for r in rows)
    state = {"dead": "Abandonné", "a_verifier": "À vérifier (envoi interrompu pendant la remise)"}
    return [Item("message_abandonne", r.id, r.dossier_id, numbers.get(r.dossier_id), r.subject,
                 f"{state[r.status]} : {_french(r.last_error)}", r.attempts) for r in rows]


def failed_work() -> dict[str, list[Item]]:
    """Every kind of stuck work, for the page."""
    return {"minuteurs_abandonnes": failed_timers(), "minuteurs_en_echec": failing_timers(),
            "taches_sans_titulaire": orphan_tasks(), "messages_abandonnes": dead_letters()}


def counts() -> dict[str, int]:
    """How much is stuck, per kind (cheap: counts only, orphan tasks aside)."""
    timer_failed = db.session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "failed"))
    timer_failing = db.session.scalar(select(func.count()).select_from(Timer).where(
        Timer.status == "pending", Timer.attempts > 0, Timer.last_error.is_not(None)))
    dead = db.session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status.in_(DEAD_STATES)))
    return {"minuteurs_abandonnes": timer_failed or 0, "minuteurs_en_echec": timer_failing or 0,
            "taches_sans_titulaire": sum(db.session.scalar(select(func.count()).select_from(TaskRow)
                                                           .where(TaskRow.status == "ready", condition)) or 0
                                         for condition in _orphan_conditions()),
            "messages_abandonnes": dead or 0}


class RetryRefused(ValueError):
    """The timer cannot be retried (unknown, or not given up / failing)."""


def retry_timer(timer_id: int, user: User) -> str:
    """Make a failed or failing timer due now and fire it once through the sweep's claim; returns the outcome.

    "fired": the dossier went on; "failed": it failed again (recorded on the row, retried by the sweep
    unless given up); "skipped": someone else fired or changed it meanwhile.
    """
    timer = db.session.get(Timer, timer_id)
    if timer is None or not (timer.status == "failed" or (timer.status == "pending" and timer.attempts)):
        db.session.rollback()
        raise RetryRefused("Ce minuteur n'est ni abandonné ni en échec : il n'y a rien à relancer.")
    now = app_now()
    previous = timer.last_error
    timer.status, timer.attempts, timer.next_attempt_at = "pending", 0, None
    timer.claimed_by = timer.claimed_until = None
    journal.record(user.email, RETRY_ACTION, "timer", timer.id,
                   {"element": timer.spec_name, "erreur_precedente": (previous or "")[:500]})
    db.session.commit()
    token, claimed = leases.claim(Timer, (Timer.id == timer_id, Timer.status == "pending",
                                          or_(Timer.claimed_until.is_(None), Timer.claimed_until < now)),
                                  (Timer.id,), now, 1, (Timer.id, Timer.instance_id))
    if not claimed:
        return "skipped"
    actor = Actor.of(user)
    outcome, _ = timers.fire_one(claimed[0][0], claimed[0][1], token, lambda row: commands.fire_timer(row, actor))
    return outcome


def _administrators() -> list[str]:
    return list(db.session.scalars(select(User.email).where(User.role == "admin", User.active).order_by(User.email)))


def _retries() -> dict[int, int]:
    """{timer id: how many times it was retried}: a retried timer that fails again is alerted again."""
    return dict(db.session.execute(select(AccountEvent.target_id, func.count()).where(
        AccountEvent.action == RETRY_ACTION, AccountEvent.target_kind == "timer").group_by(AccountEvent.target_id)).all())


def alert_administrators() -> int:
    """Queue one mail to the administrators per newly failed item (given-up timers, dead letters); returns how many."""
    items = failed_timers() + dead_letters(OutboxMessage.kind != ALERT_KIND)  # never an alert about an alert
    if not items:
        return 0
    recipients = _administrators()
    if not recipients:
        return 0
    domain = current_app.config.get("MAIL_DOMAIN", "localhost")
    now, queued = app_now(), 0
    retries = _retries()
    ids = []  # (item, its alert's message id): one alert per failed item and retry generation
    for item in items:
        generation = retries.get(item.ident, 0) if item.kind == "minuteur_abandonne" else 0
        digest = hashlib.sha256(f"{item.kind}:{item.ident}:{generation}".encode()).hexdigest()[:24]
        ids.append((item, f"<{digest}.{ALERT_KIND}@{domain}>"))
    # Only these ids are looked up, through the unique index on message_id: this runs at every scheduler pass
    # while a dead letter waits for an administrator, and reading every alert ever sent meant reading the whole
    # outbox (no index on kind; 290 ms at 100,000 dossiers).
    sent = set(db.session.scalars(select(OutboxMessage.message_id).where(
        OutboxMessage.message_id.in_(sorted({message_id for _, message_id in ids})))))
    for item, message_id in ids:
        if message_id in sent:
            continue
        what = "Minuteur abandonné" if item.kind == "minuteur_abandonne" else "Message abandonné"
        body = (f"Bonjour,\n\n{what} sur la plateforme de signalement des incidents SSI.\n\n"
                f"Dossier : {item.number or '-'}\nÉlément : {item.element}\nTentatives : {item.attempts}\n"
                f"Erreur : {item.error}\n\nLa page « Exploitation » de l'administration le montre et permet de "
                "le relancer.\n")
        try:
            with db.session.begin_nested():
                db.session.add(OutboxMessage(kind=ALERT_KIND, recipients=recipients, recipient_roles=["admin"],
                                             dossier_id=item.dossier_id, subject=f"[Exploitation] {what} : "
                                             f"{item.number or '-'} {item.element}"[:255],
                                             body_text=body, body_html="", status="pending", attempts=0,
                                             next_attempt_at=now, created_at=now, message_id=message_id))
            queued += 1
        except IntegrityError:  # another scheduler queued the same alert at the same moment
            continue
    db.session.commit()
    return queued
