"""A dossier opened in a transaction is seen by no other until the commit: the declaration's steps that follow
in the same transaction take no row lock on it and read nothing of it again (workflow/commands.py,
opened_in_this_transaction), their audit events and instance and dossier columns are written once, at the commit,
and the transaction's end forgets it."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from cli import scenarios
from audit import verifier
from engine import serialization
from models import AuditEvent, Dossier, DossierFacts, Draft, OutboxMessage, ProcessInstance, TaskRow, db
from test_web_support import DECLARANT, sent_statements, structure_of, user
from workflow import commands, context, form_schemas, start_command
from workflow.opened import opened


def _declare():
    structure = structure_of(DECLARANT)
    return start_command.start_declaration(structure, user(DECLARANT), "p1_perimetre",
                                           extra={"finess_site": structure.finess_et},
                                           data=dict(scenarios.PERIMETRE),
                                           following=[(name, dict(data)) for name, data in scenarios.DECLARATION[1:]])


def test_the_steps_of_a_declaration_neither_lock_nor_read_its_instance(app):
    with sent_statements() as sent:
        dossier, created = _declare()
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


def test_the_steps_write_their_events_and_rows_once_at_the_commit(app):
    """Four commands, one INSERT of their four events and one UPDATE of each row, written before the commit; what
    is stored is what the last command left, and the dossier verifies (chain, replay of each step, stored state)."""
    with sent_statements() as statements:
        dossier, _ = _declare()
    sent = [" ".join(statement.split())[:40] for statement in statements]
    assert sum(s.startswith("INSERT INTO audit_events") for s in sent) == 1
    assert sum(s.startswith("UPDATE process_instances") for s in sent) == 1
    assert sum(s.startswith("UPDATE dossiers SET") and "number" not in s for s in sent) <= 1
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance.id)
                                .order_by(AuditEvent.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3, 4] and instance.last_seq == 4
    assert instance.version == 1 + 4  # a bump per command, as when each writes its own row
    assert instance.last_hash == events[-1].hash
    assert instance.state_hash == events[-1].state_hash == serialization.sha256(instance.state_json)
    stored = db.session.get(Dossier, dossier.id)
    assert stored.phase == dossier.phase and stored.state == dossier.state == "en cours de déclaration"
    assert verifier.verify_dossier(stored).ok


def _declare_refused(following: list) -> None:
    """A declaration whose last step's form is refused (the refusal itself is tested with the API; the tests here
    look at what it leaves behind)."""
    structure = structure_of(DECLARANT)
    with pytest.raises(form_schemas.FormErrors):
        start_command.start_declaration(structure, user(DECLARANT), "p1_perimetre",
                                        extra={"finess_site": structure.finess_et}, data=dict(scenarios.PERIMETRE),
                                        following=following)


def test_a_failed_step_leaves_neither_events_nor_rows(app):
    """A step refused after others ran: the rollback drops what they gathered as well as what they wrote."""
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    _declare_refused([(scenarios.DECLARATION[1][0], {"pas_un_champ": 1})])
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert commands.opened_in_this_transaction() == {}
    dossier, created = _declare()  # the session goes on: the next declaration is whole
    assert created and verifier.verify_dossier(dossier).ok


def test_a_command_that_commits_writes_what_the_opening_gathered(app):
    """The opening leaves its writes to the commit; a first step that commits itself writes both commands' events
    and rows in that commit, in order (not the opening's values over the step's)."""
    structure = structure_of(DECLARANT)
    declarant = user(DECLARANT)
    actor = context.Actor.of(declarant)
    dossier = commands.start_dossier(structure, declarant, actor, extra={"finess_site": structure.finess_et},
                                     commit=False, numbered=False)
    row = start_command.first_step(dossier, "p1_perimetre")
    commands.complete_task(row.id, dict(scenarios.PERIMETRE), actor)  # commit=True
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert (instance.last_seq, instance.version) == (2, 3)
    assert start_command.first_step(db.session.get(Dossier, dossier.id), "p1_perimetre").status == "completed"
    assert verifier.verify_dossier(db.session.get(Dossier, dossier.id)).ok


# The four blocks the API declares at once, with an impact on care and a need of urgent help: the dossier's priority
# changes on the way, which moves its open tasks.
STEPS = [("p1_impact", dict(scenarios.IMPACT, impact_soins="interruption")), ("p1_origine", scenarios.ORIGINE),
         ("p1_formulaire", scenarios.formulaire(urgent=True))]
TASK_FIELDS = ("spec_name", "title", "role", "form", "ui_form", "status", "region", "structure_id", "claimed_by",
               "claimed_at", "priority", "civil", "completed_by", "reminded_at")


def _stored(dossier_id: int) -> tuple:
    """What is stored of a dossier's task rows and facts, without ids; instants as their distance to the dossier's
    creation (the two declarations compared run at the same clock)."""
    db.session.expire_all()
    dossier = db.session.get(Dossier, dossier_id)
    rows = db.session.scalars(select(TaskRow).where(TaskRow.dossier_id == dossier_id)
                              .order_by(TaskRow.created_at, TaskRow.spec_name)).all()

    def since(instant):
        return None if instant is None else instant - dossier.created_at
    tasks = [tuple(getattr(row, name) for name in TASK_FIELDS)
             + (since(row.created_at), since(row.due_at), since(row.completed_at)) for row in rows]
    facts = db.session.get(DossierFacts, dossier_id)
    messages = [(m.event_seq, m.kind, m.recipients, m.recipient_roles, m.status, m.template_set, since(m.created_at),
                 json.loads(m.context or "{}").get("entites"))
                for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.dossier_id == dossier_id)
                                            .order_by(OutboxMessage.id))]
    return tasks, (facts.origin, facts.data_impact, facts.personal_data), dossier.priority, messages


def test_the_steps_leave_their_task_rows_to_the_commit_and_store_what_each_command_would(app):
    """A declaration in one transaction inserts its task rows and its messages once, the completed rows completed,
    and neither reads nor updates a task row nor reads the outbox on the way; what is stored equals the rows of the
    same declaration made one committed command at a time (each writing its own rows), the dossier's facts, priority
    and messages included (the acknowledgement lists the entities alerted by the earlier messages)."""
    structure = structure_of(DECLARANT)
    declarant = user(DECLARANT)
    with sent_statements() as statements:
        together, created = start_command.start_declaration(
            structure, declarant, "p1_perimetre", extra={"finess_site": structure.finess_et},
            data=dict(scenarios.PERIMETRE), following=[(name, dict(data)) for name, data in STEPS])
    sent = [" ".join(statement.split()) for statement in statements]
    assert created
    on_tasks = [s[:17] for s in sent if re.search(r"\btasks\b", s)]
    assert on_tasks == ["INSERT INTO tasks"]
    assert sum(s.startswith("SELECT dossier_facts") for s in sent) == 0
    assert [s[:18] for s in sent if re.search(r"\boutbox\b", s)] == ["INSERT INTO outbox"]

    actor = context.Actor.of(declarant)
    alone = commands.start_dossier(structure, declarant, actor, extra={"finess_site": structure.finess_et},
                                   numbered=False)
    steps = [("p1_perimetre", scenarios.PERIMETRE)] + STEPS
    for name, data in steps:
        commands.complete_task(start_command.ready_step(alone, name).id, dict(data), actor)
        assert commands.opened_in_this_transaction() == {}  # each command wrote and committed its own rows

    tasks, facts, priority, messages = _stored(together.id)
    assert (tasks, facts, priority, messages) == _stored(alone.id)
    kinds = [kind for _, kind, *_ in messages]
    assert "accuse_reception" in kinds[1:]  # after the messages whose entities it lists
    assert messages[kinds.index("accuse_reception")][-1], messages
    assert [row[5] for row in tasks] == ["completed"] * 4 + ["ready"] * (len(tasks) - 4)
    assert priority > 0 and all(row[10] >= priority for row in tasks if row[5] == "ready")
    assert facts == ("malveillante", ["disponibilite"], True)
    assert verifier.verify_dossier(db.session.get(Dossier, together.id)).ok


def test_a_draft_first_step_is_stored_with_its_task(app):
    """« Enregistrer le brouillon » opens the dossier and keeps the draft of its first step: the task row the draft
    names is stored by the same commit."""
    structure = structure_of(DECLARANT)
    declarant = user(DECLARANT)
    dossier, created = start_command.start_declaration(structure, declarant, "p1_perimetre",
                                                       extra={"finess_site": structure.finess_et},
                                                       draft={"elements_concernes": "Serveurs"})
    assert created
    db.session.expire_all()
    row = start_command.first_step(dossier, "p1_perimetre")
    assert row is not None and row.status == "ready" and row in db.session  # read back from the database
    draft = db.session.scalar(select(Draft).where(Draft.task_id == row.id))
    assert draft.data == {"elements_concernes": "Serveurs"}


def test_a_failed_step_leaves_no_task_rows(app):
    """The steps that ran before a refused one gathered task rows: the rollback drops them with the rest."""
    before = db.session.scalar(select(func.count()).select_from(TaskRow))
    _declare_refused([STEPS[0], (STEPS[1][0], {"pas_un_champ": 1})])
    assert db.session.scalar(select(func.count()).select_from(TaskRow)) == before
    assert opened()[2]["tasks"] == {}  # nothing left over for the next transaction
