"""SMTP transports for the outbox sender: one transaction with the low-level calls, stage by stage.

`SMTPTransport.send` runs EHLO, MAIL FROM, RCPT TO and DATA itself (rather than smtplib's
send_message) and calls `progress(stage)` as each one is reached, so that the sender knows how far
a message got and commits its marker just before DATA (see mailer.py). `LogTransport` is the
development backend.
"""
from __future__ import annotations

import io
import smtplib
import ssl
from email.generator import BytesGenerator
from email.message import EmailMessage

from flask import current_app


class PermanentFailure(Exception):
    """The server refused the message for good: retrying cannot help."""


class Skipped(Exception):
    """The row stopped being ours before DATA (its lease expired and another sweep took it)."""


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

    def send(self, msg: EmailMessage, sender: str, recipients: list[str], progress) -> dict:
        """Send one message, calling `progress(stage)` at each stage (see `STAGES`); returns the
        recipients the server refused (when others were accepted)."""
        try:
            if self.connection is None:
                self.connection = self._connect()
            return _transaction(self.connection, msg, sender, recipients, progress)
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
        except Skipped:
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


def _flatten(conn, msg: EmailMessage, sender: str, recipients: list[str]) -> tuple[bytes, list[str]]:
    """The message as bytes and the MAIL FROM options, as smtplib's send_message makes them."""
    options = []
    try:
        "".join([sender, *recipients]).encode("ascii")
        policy = None
    except UnicodeEncodeError:
        if not conn.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("adresse internationalisée et serveur sans SMTPUTF8") from None
        policy = msg.policy.clone(utf8=True)
        options += ["SMTPUTF8", "BODY=8BITMIME"]
    with io.BytesIO() as buffer:
        BytesGenerator(buffer, policy=policy).flatten(msg, linesep="\r\n")
        flat = buffer.getvalue()
    if conn.has_extn("size"):
        options.append(f"size={len(flat)}")
    return flat, options


def _reset(conn) -> None:
    try:
        conn.rset()
    except smtplib.SMTPServerDisconnected:
        pass


def _transaction(conn, msg: EmailMessage, sender: str, recipients: list[str], progress) -> dict:
    """One SMTP transaction with the low-level calls, so that each stage is known (`progress`)."""
    conn.ehlo_or_helo_if_needed()
    progress("connected")
    flat, options = _flatten(conn, msg, sender, recipients)
    code, reply = conn.mail(sender, options)
    if code != 250:
        _reset(conn)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    progress("mail")
    refused = {}
    for address in recipients:
        code, reply = conn.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, reply)
    if len(refused) == len(recipients):
        _reset(conn)
        raise smtplib.SMTPRecipientsRefused(refused)
    progress("rcpt")
    if not progress("data"):  # commits the `sending` marker; False: the row is no longer ours
        _reset(conn)
        raise Skipped()
    code, reply = conn.data(flat)
    if code != 250:
        _reset(conn)
        raise smtplib.SMTPDataError(code, reply)
    return refused


class LogTransport:
    """Development backend: the message goes to the application log (and the outbox page)."""

    def send(self, msg: EmailMessage, sender: str, recipients: list[str], progress) -> dict:
        """Log the message instead of sending it (after the same `sending` marker as SMTP)."""
        if not progress("data"):
            raise Skipped()
        current_app.logger.info("courriel (MAIL_BACKEND=log) %s -> %s : %s\n%s", msg["Message-ID"],
                                ", ".join(recipients), msg["Subject"], msg.get_body(("plain",)).get_content())
        return {}

    def close(self):
        """Nothing to close."""


def transport_for(config):
    """The transport chosen by MAIL_BACKEND ("smtp" or "log")."""
    return LogTransport() if config.get("MAIL_BACKEND", "log") == "log" else SMTPTransport(config)
