"""Outbox sender: delivers queued messages over SMTP after commit, at most once each.

Life of an outbox row: `pending` -> claimed by a sweep (lease) -> `sending` (committed BEFORE
the SMTP transaction starts) -> `sent` (committed after the server accepted the message).
A transient failure puts the row back to `pending` with exponential backoff; after
MAIL_MAX_ATTEMPTS, or on a permanent refusal (5xx on recipients or data), it becomes `dead`.

Why `sending` exists: if the process dies after the server accepted the message but before
`sent` is committed, we cannot know whether the mail left. Resending would risk a duplicate;
dropping would risk a loss. So a row found in `sending` once its lease has expired is NEVER
resent automatically: it moves to `a_verifier`, shown on the administration page with its
stable Message-ID, so an administrator searches the mail server's log for that id and then
either marks the row sent or requeues it. Duplicates are thus impossible without a human
decision, and no message is silently lost.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from flask import current_app
from sqlalchemy import or_, select, update

from models import OutboxMessage, db
from timekeeping import leases
from timekeeping.clock import app_now

log = logging.getLogger(__name__)

BATCH = 50
DEFAULTS = {"MAIL_MAX_ATTEMPTS": 8, "MAIL_RETRY_BASE_S": 60, "MAIL_RETRY_MAX_S": 6 * 3600}
STATES = {"pending": "En attente", "sending": "Envoi en cours", "sent": "Envoyé", "dead": "Abandonné",
          "a_verifier": "À vérifier"}

# Called between the SMTP transaction and the commit of `sent`; tests set it to simulate a crash.
after_send_hook = None


@dataclass
class DeliveryResult:
    """What one delivery sweep did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    to_verify: int = 0


class PermanentFailure(Exception):
    """The server refused the message for good: retrying cannot help."""


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


class SMTPTransport:
    """One SMTP connection per sweep, opened on first use (plain, STARTTLS or implicit TLS)."""

    def __init__(self, config):
        self.config = config
        self.connection = None

    def _connect(self):
        c = self.config
        security = (c.get("SMTP_SECURITY") or "none").lower()
        timeout = c.get("SMTP_TIMEOUT", 10)
        # Certificates are always verified; SMTP_CA_FILE names a private authority's certificate.
        context = ssl.create_default_context(cafile=c.get("SMTP_CA_FILE") or None)
        if security in ("tls", "ssl"):
            conn = smtplib.SMTP_SSL(c["SMTP_HOST"], c["SMTP_PORT"], timeout=timeout, context=context)
        else:
            conn = smtplib.SMTP(c["SMTP_HOST"], c["SMTP_PORT"], timeout=timeout)
            if security == "starttls":
                conn.starttls(context=context)
        if c.get("SMTP_USER"):
            conn.login(c["SMTP_USER"], c.get("SMTP_PASSWORD") or "")
        return conn

    def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> dict:
        """Send one message; returns the recipients the server refused (when others were accepted)."""
        if self.connection is None:
            self.connection = self._connect()
        try:
            return self.connection.send_message(msg, from_addr=sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise PermanentFailure(f"destinataires refusés : {exc.recipients}") from exc
            raise
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. an internationalized address and a server without SMTPUTF8: retrying cannot help.
            raise PermanentFailure(f"non pris en charge par le serveur : {exc}") from exc
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                raise PermanentFailure(f"message refusé ({exc.smtp_code}) : {exc.smtp_error!r}") from exc
            raise
        except Exception:
            self.close()  # the connection state is unknown: start afresh for the next message
            raise

    def close(self):
        """Quit the connection if one is open."""
        if self.connection is not None:
            try:
                self.connection.quit()
            except Exception:
                pass
            self.connection = None


class LogTransport:
    """Development backend: the message goes to the application log (and the outbox page)."""

    def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> dict:
        """Log the message instead of sending it."""
        current_app.logger.info("courriel (MAIL_BACKEND=log) %s -> %s : %s\n%s", msg["Message-ID"],
                                ", ".join(recipients), msg["Subject"], msg.get_body(("plain",)).get_content())
        return {}

    def close(self):
        """Nothing to close."""


def transport_for(config):
    """The transport chosen by MAIL_BACKEND ("smtp" or "log")."""
    return LogTransport() if config.get("MAIL_BACKEND", "log") == "log" else SMTPTransport(config)


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
                last_error="Envoi interrompu entre la remise au serveur et son enregistrement : vérifier dans "
                           "le journal du serveur de messagerie si ce Message-ID a été remis.")
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount or 0


def claim_messages(now: datetime, limit: int = BATCH) -> tuple[str, list[int]]:
    """Claim due pending rows for this process (SKIP LOCKED on PostgreSQL); returns token and ids."""
    token, rows = leases.claim(OutboxMessage, _due_filter(now), (OutboxMessage.id,), now, limit,
                               (OutboxMessage.id,))
    return token, [row_id for row_id, in rows]


def _mark_sending(row_id: int, token: str, now: datetime) -> OutboxMessage | None:
    # Committed before talking to the server: from here on, a crash leaves the row in `sending`.
    result = db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == token,
                                    OutboxMessage.status == "pending")
        .values(status="sending", attempts=OutboxMessage.attempts + 1, claimed_until=now + leases.LEASE)
        .execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.get(OutboxMessage, row_id, populate_existing=True)


def _mark_failed(row: OutboxMessage, now: datetime, error: str, permanent: bool) -> str:
    row.last_error = error[:2000]
    row.claimed_by = row.claimed_until = None
    if permanent or row.attempts >= _setting("MAIL_MAX_ATTEMPTS"):
        row.status, row.next_attempt_at = "dead", None
    else:
        row.status = "pending"
        row.next_attempt_at = now + leases.backoff(row.attempts, _setting("MAIL_RETRY_BASE_S"), _setting("MAIL_RETRY_MAX_S"))
    db.session.commit()
    return row.status


def deliver_one(row_id: int, token: str, transport, sender: str) -> str:
    """Deliver one claimed row; returns its new status (or "skipped")."""
    row = _mark_sending(row_id, token, app_now())
    if row is None:
        return "skipped"
    if not row.recipients:
        return _mark_failed(row, app_now(), "Aucun destinataire.", permanent=True)
    envelope_from = parseaddr(sender)[1] or sender
    try:
        refused = transport.send(build_message(row, sender), envelope_from, list(row.recipients))
    except PermanentFailure as exc:
        return _mark_failed(row, app_now(), str(exc), permanent=True)
    except Exception as exc:  # connection refused, timeout, 4xx: try again later
        log.warning("delivery of outbox row %s failed: %s", row_id, exc)
        return _mark_failed(row, app_now(), f"{type(exc).__name__}: {exc}", permanent=False)
    if after_send_hook is not None:
        after_send_hook(row)
    row.status, row.sent_at = "sent", app_now()
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
            for row_id in ids:
                done += 1
                status = deliver_one(row_id, token, transport, sender)
                if status == "sent":
                    result.sent += 1
                elif status == "pending":
                    result.retried += 1
                elif status == "dead":
                    result.dead += 1
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
