"""A dossier opened in a transaction is seen by no other until the commit: the declaration's steps that follow
in the same transaction take no row lock on it and read nothing of it again (workflow/commands.py,
opened_in_this_transaction), and the transaction's end forgets it."""
from __future__ import annotations

from sqlalchemy import event, func, select

from cli import scenarios
from models import AuditEvent, db
from test_web_support import DECLARANT, structure_of, user
from workflow import commands, context, start_command


def _declare():
    structure = structure_of(DECLARANT)
    return start_command.start_declaration(structure, user(DECLARANT), "p1_perimetre",
                                           extra={"finess_site": structure.finess_et},
                                           data=dict(scenarios.PERIMETRE),
                                           following=[(name, dict(data)) for name, data in scenarios.DECLARATION[1:]])


def test_the_steps_of_a_declaration_neither_lock_nor_read_its_instance(app):
    sent = []

    def note(conn, cursor, statement, *args):
        sent.append(statement)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        dossier, created = _declare()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert created
    # The start and its three steps, each an event of the chain.
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.instance_id == dossier.instance_id)) == 4
    reads = [s for s in sent if s.lstrip().upper().startswith("SELECT") and "FROM process_instances" in s]
    assert reads == []
    assert commands.opened_in_this_transaction() == {}  # committed: forgotten


def test_a_rollback_forgets_the_dossiers_it_opened(app):
    structure = structure_of(DECLARANT)
    declarant = user(DECLARANT)
    dossier = commands.start_dossier(structure, declarant, context.Actor.of(declarant), commit=False)
    assert dossier.instance_id in commands.opened_in_this_transaction()
    db.session.rollback()
    assert commands.opened_in_this_transaction() == {}
