"""Outbox sender: delivers queued messages over SMTP after commit, at most once each.

Life of an outbox row: `pending` -> claimed by a sweep (a short lease, renewed while the sweep
works) -> `sending` (committed just BEFORE the DATA command) -> `sent` (committed after the server
accepted the message). A transient failure puts the row back to `pending` with exponential
backoff; after MAIL_MAX_ATTEMPTS, or on a permanent refusal (5xx on recipients or data), it
becomes `dead`.

How far SMTP got is recorded per row (`smtp_stage`: connected, mail, rcpt, data, accepted), and
only one stage needs a commit before it. A server can accept a message only when it answers the
end of DATA: before the DATA command (connection, EHLO, MAIL FROM, RCPT TO) it holds an envelope
and no message, and a dropped connection makes it discard that envelope. So a sender killed
before DATA leaves its row `pending` under an expiring lease: another sweep takes it again and
sends it, automatically, with no risk of a duplicate. The other stages are written with the
attempt's outcome (which step refused, for the administrator) and cost no extra commit.

Why `sending` exists: once DATA is under way, if the process dies after the server accepted the
message but before `sent` is committed (or the connection drops before the server's answer), we
cannot know whether the mail left. Resending would risk a duplicate; dropping would risk a loss.
So a row found in `sending` once its lease has expired (or whose DATA got no answer) is NEVER
resent automatically: it moves to `a_verifier`, shown on the administration page with its
stable Message-ID, so an administrator searches the mail server's log for that id and
then either marks the row sent or requeues it. Duplicates are thus impossible without a human
decision, and no message is silently lost.
"""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from flask import current_app
from sqlalchemy import or_, select, update

from models import OutboxMessage, db
from mail import notifications
from mail.smtp_transport import PermanentFailure, Skipped, transport_for
from timekeeping import leases
from timekeeping.clock import app_now

log = logging.getLogger(__name__)

BATCH = 50
DEFAULTS = {"MAIL_MAX_ATTEMPTS": 8, "MAIL_RETRY_BASE_S": 60, "MAIL_RETRY_MAX_S": 6 * 3600}
STATES = {"pending": "En attente", "sending": "Envoi en cours", "sent": "Envoyé", "dead": "Abandonné",
          "a_verifier": "À vérifier"}
# The SMTP stages of one attempt, in order, as recorded in `OutboxMessage.smtp_stage`.
STAGES = {"connected": "connexion établie", "mail": "expéditeur accepté (MAIL FROM)",
          "rcpt": "destinataires acceptés (RCPT TO)", "data": "transmission du message (DATA)",
          "accepted": "message accepté par le serveur"}

# Called between the SMTP transaction and the commit of `sent`; tests set it to simulate a crash.
after_send_hook = None
# Called with (row id, stage) as each stage is reached ("data": after its marker is committed); tests set it.
stage_hook = None


@dataclass
class DeliveryResult:
    """What one delivery sweep did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    to_verify: int = 0


def _setting(name: str):
    return current_app.config.get(name, DEFAULTS[name])



def build_message(row: OutboxMessage, sender: str) -> EmailMessage:
    """The MIME message of an outbox row: plain text and HTML alternatives, stable Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(row.recipients)
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = row.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body_text)
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html")
    return msg


# --------------------------------------------------------------------------------------------
# Claims and state changes

def _due_filter(now: datetime):
    return (OutboxMessage.status == "pending",
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))


def recover_interrupted(now: datetime) -> int:
    """Rows left in `sending` by a dead sender go to `a_verifier` (see the module docstring)."""
    result = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now)
        .values(status="a_verifier", claimed_by=None, claimed_until=None,
                last_error="Envoi interrompu pendant ou après la transmission du message (DATA), avant que la "
                           "réponse du serveur soit enregistrée : vérifier dans le journal du serveur de "
                           "messagerie si ce Message-ID a été remis.")
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


def claim_messages(now: datetime, limit: int = BATCH) -> tuple[str, list[int]]:
    """Claim due pending rows for this process (SKIP LOCKED on PostgreSQL); returns token and ids."""
    token, rows = leases.claim(OutboxMessage, _due_filter(now), (OutboxMessage.id,), now, limit,
                               (OutboxMessage.id,))
    return token, [row_id for row_id, in rows]


def _claimed_row(row_id: int, token: str) -> OutboxMessage | None:
    row = db.session.get(OutboxMessage, row_id, populate_existing=True)
    if row is None or row.status != "pending" or row.claimed_by != token:
        db.session.rollback()
        return None
    return row


def _sending_lease() -> timedelta:
    # Long enough for the DATA step itself (three socket operations, each bounded by SMTP_TIMEOUT).
    return leases.LEASE + timedelta(seconds=3 * float(current_app.config.get("SMTP_TIMEOUT", 10)))


def _mark_sending(row_id: int, token: str, now: datetime) -> bool:
    # Committed before DATA: from here on, a crash leaves the row in `sending` (never resent blindly).
    result = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == token,
                                    OutboxMessage.status == "pending")
        .values(status="sending", smtp_stage="data", attempts=OutboxMessage.attempts + 1,
                claimed_until=now + _sending_lease())
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def _mark_failed(row: OutboxMessage, now: datetime, error: str, permanent: bool, stage: str | None) -> str:
    if row.status == "pending":  # the failure came before the `sending` marker, which counts the attempt
        row.attempts = (row.attempts or 0) + 1
    row.smtp_stage = stage
    row.last_error = (f"{error} (dernière étape atteinte : {STAGES[stage]})" if stage else error)[:2000]
    row.claimed_by = row.claimed_until = None
    if permanent or row.attempts >= _setting("MAIL_MAX_ATTEMPTS"):
        row.status, row.next_attempt_at = "dead", None
    else:
        row.status = "pending"
        row.next_attempt_at = now + leases.backoff(row.attempts, _setting("MAIL_RETRY_BASE_S"), _setting("MAIL_RETRY_MAX_S"))
    db.session.commit()
    return row.status


def _mark_to_verify(row: OutboxMessage, error: str) -> str:
    row.status, row.smtp_stage = "a_verifier", "data"
    row.claimed_by = row.claimed_until = None
    row.last_error = (f"Connexion perdue pendant la transmission du message (DATA), sans réponse du serveur "
                      f"({error}) : vérifier dans le journal du serveur de messagerie si ce Message-ID a été remis.")[:2000]
    db.session.commit()
    return "a_verifier"


def deliver_one(row_id: int, token: str, transport, sender: str, heartbeat: leases.Heartbeat | None = None) -> str:
    """Deliver one claimed row; returns its new status (or "skipped")."""
    row = _claimed_row(row_id, token)
    if row is None:
        return "skipped"
    if not row.recipients:
        return _mark_failed(row, app_now(), "Aucun destinataire.", permanent=True, stage=None)
    if not row.rendered:
        # Rendered now from the templates it was queued with; stored with the `sending` marker, so the
        # record shows what left. A message that cannot be rendered will not render on a retry either.
        try:
            row.stored_text, row.stored_html = notifications.render_row(row)
        except Exception as exc:
            log.exception("outbox row %s could not be rendered", row_id)
            return _mark_failed(row, app_now(), f"Rendu du message impossible : {exc}", permanent=True, stage=None)
    reached = []

    def progress(stage: str) -> bool:
        reached.append(stage)
        if stage == "data" and not _mark_sending(row_id, token, app_now()):
            return False
        if stage_hook is not None:
            stage_hook(row_id, stage)
        if heartbeat is not None and stage != "data":
            heartbeat.beat(app_now())  # a slow server must not let the batch's lease run out
        return True

    envelope_from = parseaddr(sender)[1] or sender
    try:
        refused = transport.send(build_message(row, sender), envelope_from, list(row.recipients), progress)
    except Skipped:
        return "skipped"
    except PermanentFailure as exc:
        return _mark_failed(row, app_now(), str(exc), permanent=True, stage=reached[-1] if reached else None)
    except Exception as exc:  # connection refused, timeout, 4xx: try again later
        log.warning("delivery of outbox row %s failed: %s", row_id, exc)
        if "data" in reached and not isinstance(exc, smtplib.SMTPDataError):
            return _mark_to_verify(row, f"{type(exc).__name__}: {exc}")  # no reply: the server may have it
        return _mark_failed(row, app_now(), f"{type(exc).__name__}: {exc}", permanent=False,
                            stage=reached[-1] if reached else None)
    if after_send_hook is not None:
        after_send_hook(row)
    row.status, row.sent_at, row.smtp_stage = "sent", app_now(), "accepted"
    row.claimed_by = row.claimed_until = None
    row.last_error = f"Destinataires refusés : {refused}" if refused else None
    db.session.commit()
    return "sent"


def deliver_due(max_rows: int = 10_000, batch: int = BATCH) -> DeliveryResult:
    """One delivery sweep: recover interrupted rows, then send every due pending row."""
    result = DeliveryResult()
    result.to_verify = recover_interrupted(app_now())
    config = current_app.config
    transport = transport_for(config)
    sender = config["MAIL_FROM"]
    done = 0
    try:
        while done < max_rows:
            token, ids = claim_messages(app_now(), min(batch, max_rows - done))
            if not ids:
                break
            heartbeat = leases.Heartbeat(OutboxMessage, token, app_now())
            for row_id in ids:
                done += 1
                status = deliver_one(row_id, token, transport, sender, heartbeat)
                heartbeat.beat(app_now())  # between rows: the rows still waiting stay ours
                if status == "sent":
                    result.sent += 1
                elif status == "pending":
                    result.retried += 1
                elif status == "dead":
                    result.dead += 1
                elif status == "a_verifier":
                    result.to_verify += 1
    finally:
        transport.close()
    return result


def next_delivery_due() -> datetime | None:
    """The earliest instant at which a delivery sweep has work (pending row or lease expiry)."""
    first = db.session.scalar(select(OutboxMessage.next_attempt_at)
                              .where(OutboxMessage.status == "pending", OutboxMessage.claimed_until.is_(None))
                              .order_by(OutboxMessage.next_attempt_at).limit(1))
    lease = db.session.scalar(select(OutboxMessage.claimed_until)
                              .where(OutboxMessage.status.in_(("pending", "sending")),
                                     OutboxMessage.claimed_until.is_not(None))
                              .order_by(OutboxMessage.claimed_until).limit(1))
    candidates = [c for c in (first, lease) if c is not None]
    return min(candidates) if candidates else None


# --------------------------------------------------------------------------------------------
# Administrator actions

def requeue(row: OutboxMessage, actor: str) -> None:
    """Send a dead or to-verify row again (an administrator's decision), with a fresh set of attempts."""
    if row.status not in ("dead", "a_verifier"):
        raise ValueError("seuls les messages abandonnés ou à vérifier peuvent être renvoyés")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, app_now()
    row.claimed_by = row.claimed_until = None
    row.last_error = f"Renvoi demandé par {actor}. Erreur précédente : {row.last_error or '-'}"[:2000]
    db.session.commit()


def mark_sent(row: OutboxMessage, actor: str) -> None:
    """Record that a to-verify row did reach the server (checked by an administrator)."""
    if row.status != "a_verifier":
        raise ValueError("seuls les messages à vérifier peuvent être marqués envoyés")
    row.status, row.sent_at = "sent", app_now()
    row.last_error = f"Remise confirmée par {actor} après vérification sur le serveur."
    db.session.commit()
