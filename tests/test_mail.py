"""Mail: every notification of the process reaches a real SMTP server on loopback, exactly once."""
from __future__ import annotations

import email
import multiprocessing
import os
import socket
from collections import Counter
from datetime import datetime, timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app import create_app
from cli import scenarios
from mail import mailer
from models import OutboxMessage, db
from timekeeping import clock as clock_mod
from workflow import timers


class Recorder:
    """An aiosmtpd handler keeping what it accepted; addresses containing "refuse" get a 550."""

    def __init__(self):
        self.received = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "refuse" in address:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def by_message_id(self) -> dict:
        return {m["Message-ID"].strip(): (rcpts, m) for _, rcpts, m in self.received}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> tuple[Controller, Recorder]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    return controller, recorder


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free loopback port, the app configured to deliver to it."""
    port = free_port()
    controller, recorder = start_server(port)
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none")
    yield recorder
    controller.stop()


def outbox(**where) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for key, value in where.items():
        query = query.where(getattr(OutboxMessage, key) == value)
    return db.session.scalars(query).all()


def one(kind: str, dossier) -> OutboxMessage:
    rows = [r for r in outbox(kind=kind) if r.dossier_id == dossier.id]
    assert len(rows) == 1, (kind, rows)
    return rows[0]


def test_every_notification_of_the_process_is_delivered_with_its_content(app, clock, smtp):
    night, _ = scenarios.run("hors_heures", clock)
    crisis, _ = scenarios.run("significatif_crise", clock)
    health, _ = scenarios.run("impact_sanitaire", clock)
    military, _ = scenarios.run("militaire_sans_impact", clock)
    support, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    info = [r for r in outbox(kind="demande_informations") if r.dossier_id == support.id][0]
    clock.set(db.session.scalar(select(timers.Timer.due_at).where(timers.Timer.status == "pending"))
              + timedelta(seconds=1))
    assert timers.sweep_timers().fired == 1

    rows = outbox()
    result = mailer.deliver_due()
    assert result.sent == len(rows) and result.retried == result.dead == 0
    assert all(r.status == "sent" and r.sent_at == clock.now() for r in outbox())

    # Each outbox row arrived once, to its recipients, with its subject, bodies and Message-ID.
    received = smtp.by_message_id()
    assert len(smtp.received) == len(received) == len(rows)
    for row in rows:
        rcpts, message = received[row.message_id]
        assert rcpts == row.recipients
        assert message["Subject"].strip() == row.subject
        assert message["From"] == app.config["MAIL_FROM"]
        assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == row.body_text
        assert message.get_body(("html",)).get_content().replace("\r\n", "\n") == row.body_html
    assert {mail_from for mail_from, _, _ in smtp.received} == {"ne-pas-repondre@signalement-ssi.example.fr"}

    def mail(row):
        return received[row.message_id]

    # Acknowledgement to the declarant, listing the entities alerted.
    ack = one("accuse_reception", night)
    rcpts, message = mail(ack)
    assert rcpts == ["declarant.metz@chr-metz.example.fr"]
    text = message.get_body(("plain",)).get_content()
    assert "Entités alertées :" in text
    for entity in ("FSSI (boîte fonctionnelle ssi@sg.social.gouv.fr)", "ARS Grand Est", "Cellule ACSS (Agence du numérique en santé)"):
        assert f"  - {entity}" in text
        assert f"<li>{entity}</li>" in message.get_body(("html",)).get_content()
    # Off-hours escalation to the FSSI mailbox, saying why.
    rcpts, message = mail(one("escalade_hors_heures", night))
    assert rcpts == ["ssi@sg.social.gouv.fr"] and message["Subject"].strip().startswith("[URGENT]")
    assert "Aide urgente demandée : Oui" in message.get_body(("plain",)).get_content()
    # Notification of the ARS of the region and of the Cellule ACSS.
    rcpts, _ = mail(one("notification_signalement", night))
    assert rcpts == ["ssi-grand-est@ars.sante.fr", "cellule-acss@esante.example.fr"]
    # Information of the HFDS.
    rcpts, message = mail(one("information_hfds", crisis))
    assert rcpts == ["hfds@sg.social.example.fr"]
    assert "Qualification : Incident significatif" in message.get_body(("plain",)).get_content()
    # Alert to the DGS (and the FSSI) for a health impact.
    rcpts, message = mail(one("alerte_dgs", health))
    assert rcpts == ["alerte-dgs@sante.example.fr", "ssi@sg.social.gouv.fr"]
    assert "Panne de l'automate de biologie" in message.get_body(("plain",)).get_content()
    # Standard message to the ARS for a military hospital, which names no detail of the incident.
    rcpts, message = mail(one("message_type_ars", military))
    assert rcpts == ["ssi-ile-de-france@ars.sante.fr"]
    body = message.get_body(("plain",)).get_content()
    assert "chaîne « CYBER »" in body
    assert military.title and military.title not in body and "Types :" not in body
    assert military.title not in message.get_body(("html",)).get_content()
    # Request for information to the declarant, with the question.
    rcpts, message = mail(info)
    assert rcpts == ["declarant.rennes@chu-rennes.example.fr"]
    assert "Quelle version du logiciel de sauvegarde utilisez-vous ?" in message.get_body(("plain",)).get_content()
    # Weekly progress report to the ARS.
    rcpts, message = mail(one("point_hebdomadaire", support))
    assert rcpts == ["ssi-bretagne@ars.sante.fr"]
    assert "Modalité d'appui : Appui confié à la Cellule ACSS" in message.get_body(("plain",)).get_content()
    # Closure.
    rcpts, message = mail(one("cloture", crisis))
    assert rcpts == ["declarant.aphp@aphp.example.fr", "ssi-ile-de-france@ars.sante.fr", "hfds@sg.social.example.fr"]
    # Alert broadcast: every ARS, and the structures of the same kind, without naming the victim.
    broadcasts = [r for r in outbox(kind="alerte_diffusion") if r.dossier_id == crisis.id]
    assert len(broadcasts) == 2
    rcpts, message = mail(broadcasts[0])
    assert len(rcpts) == 18 and "ssi-mayotte@ars.sante.fr" in rcpts
    text = message.get_body(("plain",)).get_content()
    assert "Campagne de rançongiciel en cours" in text and "Saint-Louis" not in text
    # Reflex sheets and providers.
    _, message = mail(one("fiches_reflexes", crisis))
    assert "Fiche réflexe « Attaque par rançongiciel »" in message.get_body(("plain",)).get_content()

    assert mailer.deliver_due().sent == 0  # nothing is sent twice
    assert len(smtp.received) == len(rows)


def test_server_down_then_up_delivers_everything_once(app, clock):
    port = free_port()  # nobody listens there yet
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    dossier, _ = scenarios.run("b1", clock)
    rows = outbox()
    assert len(rows) == 6

    start = clock.now()
    result = mailer.deliver_due()
    assert (result.sent, result.retried) == (0, 6)
    for row in outbox():
        assert row.status == "pending" and row.attempts == 1
        assert row.next_attempt_at == start + timedelta(seconds=60)
        assert "ConnectionRefusedError" in row.last_error
    assert mailer.deliver_due().retried == 0  # not before the backoff
    clock.set(start + timedelta(seconds=60))
    assert mailer.deliver_due().retried == 6
    assert {r.next_attempt_at for r in outbox()} == {clock.now() + timedelta(seconds=120)}

    controller, recorder = start_server(port)
    try:
        clock.advance(seconds=119)
        assert mailer.deliver_due().sent == 0
        clock.advance(seconds=1)
        assert mailer.deliver_due().sent == 6
        assert mailer.deliver_due().sent == 0
        clock.advance(days=1)
        assert mailer.deliver_due().sent == 0
    finally:
        controller.stop()
    assert Counter(m["Message-ID"].strip() for _, _, m in recorder.received) == Counter(r.message_id for r in rows)
    assert all(r.status == "sent" and r.attempts == 3 and r.last_error is None for r in outbox())


def test_dead_letter_after_the_last_attempt_then_retry_by_an_administrator(app, clock):
    port = free_port()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_MAX_ATTEMPTS=3)
    scenarios.run("b1", clock)
    for _ in range(3):
        mailer.deliver_due()
        clock.advance(hours=1)
    assert {r.status for r in outbox()} == {"dead"}
    assert mailer.deliver_due().sent == 0
    controller, recorder = start_server(port)
    try:
        for row in outbox():
            mailer.requeue(row, "admin@sante.example.fr")
        assert mailer.deliver_due().sent == 6
    finally:
        controller.stop()
    assert len(recorder.received) == 6


def test_a_refused_recipient_is_a_dead_letter_at_once(app, clock, smtp):
    row = OutboxMessage(kind="cloture", recipients=["refuse@example.fr"], recipient_roles=[], subject="Essai",
                        body_text="Texte\n", body_html="", message_id="<essai-refus@signalement-ssi.example.fr>",
                        status="pending", attempts=0, next_attempt_at=clock.now(), created_at=clock.now())
    db.session.add(row)
    db.session.commit()
    assert mailer.deliver_due().dead == 1
    db.session.refresh(row)
    assert row.status == "dead" and row.attempts == 1 and "550" in row.last_error
    # The failure names the last SMTP stage reached: the sender was accepted, the recipient was not.
    assert row.smtp_stage == "mail" and "expéditeur accepté (MAIL FROM)" in row.last_error
    assert smtp.received == []


def test_log_backend_marks_messages_sent_without_a_server(app, clock):
    assert app.config["MAIL_BACKEND"] == "log"
    scenarios.run("b1", clock)
    assert mailer.deliver_due().sent == 6
    assert {r.status for r in outbox()} == {"sent"}


# --------------------------------------------------------------------------------------------
# A crash between the SMTP transaction and the commit of "sent"

def _crashing_sender(url: str, now_iso: str, port: int) -> None:
    """A sender process that dies (no cleanup at all) right after the server accepted a message."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t",
                      "CLOCK": clock_mod.FrozenClock(datetime.fromisoformat(now_iso)),
                      "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port})
    mailer.after_send_hook = lambda row: os._exit(3)
    with app.app_context():
        mailer.deliver_due()
    os._exit(0)  # not reached


def test_a_crash_after_sending_never_sends_twice(app, clock, smtp):
    scenarios.run("b1", clock)
    first = outbox()[0]
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.remove()

    process = multiprocessing.get_context("spawn").Process(
        target=_crashing_sender, args=(url, clock.now().isoformat(), app.config["SMTP_PORT"]))
    process.start()
    process.join(60)
    assert process.exitcode == 3
    assert [m["Message-ID"].strip() for _, _, m in smtp.received] == [first.message_id]

    # Until the dead sender's lease expires, its claimed rows are left alone.
    assert mailer.deliver_due().sent == 0
    crashed = db.session.get(OutboxMessage, first.id)
    assert crashed.status == "sending" and crashed.attempts == 1
    # Then the other rows it had claimed are delivered, and the one it was sending waits for a human check.
    clock.advance(minutes=6)
    result = mailer.deliver_due()
    assert (result.sent, result.to_verify) == (5, 1)
    db.session.refresh(crashed)
    assert crashed.status == "a_verifier" and "Message-ID" in crashed.last_error
    clock.advance(days=2)
    assert mailer.deliver_due().sent == 0
    ids = Counter(m["Message-ID"].strip() for _, _, m in smtp.received)
    assert len(ids) == 6 and set(ids.values()) == {1}

    mailer.mark_sent(crashed, "admin@sante.example.fr")
    assert crashed.status == "sent"
    with pytest.raises(ValueError):
        mailer.requeue(crashed, "admin@sante.example.fr")


# --------------------------------------------------------------------------------------------
# Administration page

def test_outbox_page_is_for_administrators_only(client):
    from test_web_support import ACSS, ADMIN, login
    assert client.get("/admin/outbox/").status_code in (302, 401)
    login(client, ACSS)
    assert client.get("/admin/outbox/").status_code == 403
    login(client, ADMIN)
    assert client.get("/admin/outbox/").status_code == 200


def test_outbox_page_lists_states_and_lets_an_administrator_retry(app, client, clock):
    from test_web_support import ADMIN, login, post
    port = free_port()
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_MAX_ATTEMPTS=1)
    dossier, _ = scenarios.run("b1", clock)
    mailer.deliver_due()  # server down, a single attempt: all dead
    rows = outbox()
    assert {r.status for r in rows} == {"dead"}
    sending = rows[0]
    sending.status, sending.claimed_until = "sending", clock.now()
    db.session.commit()
    clock.advance(minutes=1)
    mailer.recover_interrupted(clock.now())

    login(client, ADMIN)
    page = client.get("/admin/outbox/")
    assert page.status_code == 200
    assert 'id="compteur-dead">5<' in page.text and 'id="compteur-a_verifier">1<' in page.text
    assert "1 message à vérifier" in page.text
    assert page.text.count("Renvoyer<span") == 6
    only_dead = client.get("/admin/outbox/?etat=dead")
    assert only_dead.text.count("<tr>") == 1 + 5
    assert client.get("/admin/outbox/?etat=nimporte").status_code == 400
    assert "Aucun message dans l'état « Envoyé »" in client.get("/admin/outbox/?etat=sent").text

    detail = client.get(f"/admin/outbox/{sending.id}")
    assert sending.message_id.replace("<", "&lt;").replace(">", "&gt;") in detail.text
    assert "Marquer envoyé" in detail.text and "ConnectionRefusedError" not in detail.text
    assert client.get("/admin/outbox/999999").status_code == 404

    # Forms carry the CSRF token; without it, a 400 in French.
    refused = client.post(f"/admin/outbox/{rows[1].id}/renvoyer")
    assert refused.status_code == 400 and "jeton" in refused.text
    response = post(client, f"/admin/outbox/{rows[1].id}/renvoyer")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboxMessage, rows[1].id).status == "pending"
    # A row that is not dead cannot be retried: a clear 409, not a 500.
    again = post(client, f"/admin/outbox/{rows[1].id}/renvoyer")
    assert again.status_code == 409 and "Seuls les messages abandonnés ou à vérifier" in again.text
    assert post(client, f"/admin/outbox/{rows[2].id}/marquer-envoye").status_code == 409
    # The interrupted one: the administrator found it in the server's log.
    assert post(client, f"/admin/outbox/{sending.id}/marquer-envoye").status_code == 302
    db.session.expire_all()
    checked = db.session.get(OutboxMessage, sending.id)
    assert checked.status == "sent" and "admin@signalement.example.fr" in checked.last_error

    controller, recorder = start_server(port)
    try:
        assert mailer.deliver_due().sent == 1
    finally:
        controller.stop()
    assert [m["Message-ID"].strip() for _, _, m in recorder.received] == [rows[1].message_id]


def test_development_journal_shows_the_logged_mails(app, client, clock):
    from test_web_support import ADMIN, login
    scenarios.run("b1", clock)
    mailer.deliver_due()
    login(client, ADMIN)
    assert "Voir les courriels journalisés" in client.get("/admin/outbox/").text
    page = client.get("/admin/outbox/journal")
    assert page.status_code == 200
    assert "Votre signalement SSI-2026-00001 : pas de suite particulière" in page.text
    assert "aucune suite particulière ne sera apportée" in page.text


# --------------------------------------------------------------------------------------------
# STARTTLS, implicit TLS and authentication

@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    import shutil
    import subprocess
    if shutil.which("openssl") is None:
        pytest.skip("commande openssl absente : tests TLS ignorés")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def _server_context(certificate):
    import ssl
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult
    ok = auth_data.login == b"signalement" and auth_data.password == b"mot-de-passe"
    return AuthResult(success=ok, handled=False)  # let the server answer 535 on failure


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: it is required
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_delivery_over_tls_with_login(app, clock, certificate, security):
    port = free_port()
    recorder = Recorder()
    # With implicit TLS the whole connection is encrypted (aiosmtpd's auth_require_tls only knows STARTTLS).
    options = ({"tls_context": _server_context(certificate), "require_starttls": True, "auth_require_tls": True}
               if security == "starttls" else {"ssl_context": _server_context(certificate), "auth_require_tls": False})
    controller = Controller(recorder, hostname="127.0.0.1", port=port, authenticator=_authenticator,
                            auth_required=True, **options)
    controller.start()
    try:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY=security,
                          SMTP_USER="signalement", SMTP_PASSWORD="faux", SMTP_CA_FILE=str(certificate[0]))
        scenarios.run("b1", clock, until="p2_ouvrir")
        result = mailer.deliver_due()  # wrong password: nothing leaves, the rows wait
        assert (result.sent, result.retried) == (0, 2)
        assert "SMTPAuthenticationError" in outbox()[0].last_error
        app.config.update(SMTP_PASSWORD="mot-de-passe", SMTP_CA_FILE=None)
        clock.advance(minutes=1)
        result = mailer.deliver_due()  # an unknown authority is refused too
        assert result.sent == 0 and "CERTIFICATE_VERIFY_FAILED" in outbox()[0].last_error
        app.config.update(SMTP_CA_FILE=str(certificate[0]))
        clock.advance(minutes=2)
        assert mailer.deliver_due().sent == 2
    finally:
        controller.stop()
    assert len(recorder.received) == 2
