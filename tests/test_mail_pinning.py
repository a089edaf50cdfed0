"""Messages are rendered when delivered, from the template set they were queued with.

A command stores a message's subject, the values its template reads and the hash of the release's
template set; the sender renders the bodies at delivery and stores what it sent. An upgrade that
changes the templates between the two does not change a message already queued.
"""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import delete, select, text

from cli import scenarios
from mail import mailer, notifications
from models import MailTemplateSet, OutboxMessage, db
from test_mail import smtp  # noqa: F401  (the real SMTP server fixture)


def rows() -> list[OutboxMessage]:
    return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


@pytest.fixture
def upgraded_templates(monkeypatch):
    """Switch this process to another release's templates (every message says so in its body)."""
    _, files = notifications._current_set()
    changed = {name: source.replace("{% block details %}", "{% block details %}NOUVELLE VERSION DES MODÈLES\n")
               for name, source in files.items()}
    assert changed != files  # the test can fail: the new release does differ
    digest = "f" * 64

    def switch():
        monkeypatch.setattr(notifications, "_current_set", lambda: (digest, changed))
        notifications._data_names.cache_clear()
    yield switch
    notifications._data_names.cache_clear()


def test_a_command_queues_the_message_unrendered_and_the_sender_stores_what_it_sent(app, clock, smtp):  # noqa: F811
    dossier, _ = scenarios.run("b1", clock)
    queued = rows()
    assert queued and all(r.stored_text == "" and r.stored_html == "" for r in queued)
    assert {r.template_set for r in queued} == {notifications.template_set_hash()}
    assert db.session.get(MailTemplateSet, notifications.template_set_hash()).files == notifications.template_files()
    # The context holds the few task values the templates read, not the whole dossier.
    context = json.loads(queued[0].context)
    assert set(context["data"]) <= notifications._data_names() and "structure" in context
    # A page shows a queued message by rendering it, without storing anything.
    preview = queued[0].body_text
    assert dossier.number in preview and rows()[0].stored_text == ""

    assert mailer.deliver_due().sent == len(queued)
    received = smtp.by_message_id()
    for row in rows():
        assert row.status == "sent" and row.stored_text and row.stored_html
        message = received[row.message_id][1]
        assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == row.stored_text
    assert rows()[0].stored_text == preview


def test_an_upgrade_between_queueing_and_delivery_keeps_the_pinned_templates(app, clock, smtp,  # noqa: F811
                                                                            upgraded_templates):
    before, _ = scenarios.run("b1", clock)
    old = rows()
    upgraded_templates()  # the new release starts; the old one's messages are still queued
    after, _ = scenarios.run("b1", clock)
    new = [r for r in rows() if r.dossier_id == after.id]
    assert {r.template_set for r in old} != {r.template_set for r in new} == {"f" * 64}
    assert db.session.get(MailTemplateSet, "f" * 64) is not None  # the new set is stored on first use

    assert mailer.deliver_due().sent == len(old) + len(new)
    received = smtp.by_message_id()
    for row in rows():
        body = received[row.message_id][1].get_body(("plain",)).get_content()
        assert ("NOUVELLE VERSION DES MODÈLES" in body) == (row.dossier_id == after.id), (row.kind, body)
    assert any(before.number in r.stored_text for r in old)


def test_a_message_whose_templates_are_lost_is_a_dead_letter_with_its_reason(app, client, clock, smtp,  # noqa: F811
                                                                           upgraded_templates):
    from test_web_support import ADMIN, login
    scenarios.run("b1", clock)
    pinned = rows()[0].template_set
    db.session.execute(delete(MailTemplateSet).where(MailTemplateSet.hash == pinned))
    db.session.commit()
    upgraded_templates()
    # A page shows such a message with the reason instead of failing.
    assert rows()[0].body_text.startswith("Ce message ne peut pas être affiché : ") and rows()[0].body_html == ""
    login(client, ADMIN)
    page = client.get(f"/admin/outbox/{rows()[0].id}")
    assert page.status_code == 200 and "Ce message ne peut pas être affiché" in page.text
    result = mailer.deliver_due()
    assert result.sent == 0 and result.dead == len(rows()) and not smtp.received
    assert all(r.status == "dead" and r.last_error.startswith("Rendu du message impossible : jeu de modèles")
               for r in rows())


def test_templates_read_task_data_only_by_name():
    """The queued context keeps the `data.<name>` values the templates name: any other way of reading
    `data` (a subscript, a loop, passing it whole) would read values the context no longer holds."""
    for name, source in notifications.template_files().items():
        for match in re.finditer(r"\bdata\b", source):
            assert re.match(r"data\.[A-Za-z_]\w*", source[match.start():]), (name, source[match.start():][:40])
    assert {"impact_soins", "analyse_qualification", "heures_ouvrees"} <= notifications._data_names()


def test_a_downgrade_renders_the_queued_messages_from_their_pinned_templates(app, clock, upgraded_templates):
    """The schema before 0026 has no template context: a downgrade renders what is still queued (with the
    set each message is pinned to, not the running release's), so no message loses its body."""
    from alembic import command as alembic_command

    import migrate
    scenarios.run("b1", clock)
    expected = {r.id: r.body_text for r in rows()}
    upgraded_templates()  # the release running the downgrade has other templates
    db.session.remove()
    with db.engine.begin() as connection:
        alembic_command.downgrade(migrate.alembic_config(connection), "0019_platform")
        stored = dict(connection.execute(text("SELECT id, body_text FROM outbox")).all())
    assert stored == expected and all(stored.values())
    assert not any("NOUVELLE VERSION" in body for body in stored.values())
    migrate.upgrade()


def test_the_subject_reads_its_value_from_the_queued_context(app, clock):
    """The ANSM coordination's subject names the device from the task data: the queued context keeps that
    value even though no template body reads it."""
    dossier, _ = scenarios.run("dispositif_medical", clock)
    row = next(r for r in rows() if r.kind == "coordination_ansm")
    assert row.subject == f"Coordination ANSM : incident SSI impliquant un DM - {dossier.number}"
    assert json.loads(row.context)["data"]["dispositif_ansm"] == "DM"
