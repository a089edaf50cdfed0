"""A command's instance and dossier changes written as table statements (workflow/row_writes.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm.exc import StaleDataError

from cli import scenarios
from models import Dossier, ProcessInstance, db
from workflow import commands
from workflow.row_writes import write_changes


def test_a_command_leaves_nothing_for_the_flush_and_the_rows_hold_its_changes(app, clock):
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    row = scenarios.ready_task(dossier, "p2_ouvrir")
    before = (dossier.state, db.session.get(ProcessInstance, dossier.instance_id).last_seq)
    commands.complete_task(row.id, dict(scenarios.OPENING[0][1]), scenarios.actor_for(row), commit=False)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert not inspect(dossier).modified and not inspect(instance).modified
    assert dossier not in db.session.dirty and instance not in db.session.dirty
    expected = (dossier.state, dossier.phase, instance.last_seq, instance.version, instance.state_hash)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Dossier, dossier.id)
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert (stored.state, stored.phase, instance.last_seq, instance.version, instance.state_hash) == expected
    assert stored.state != before[0] and instance.last_seq == before[1] + 1  # the command did change them


def test_a_version_moved_by_another_command_is_stale(app, clock):
    dossier, _ = scenarios.run("b1", clock, until="p2_ouvrir")
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    loaded = instance.version
    with db.engine.begin() as other:  # another process commits a command on the same instance
        other.execute(text("UPDATE process_instances SET version = version + 1 WHERE id = :id"), {"id": instance.id})
    instance.last_seq += 1
    with pytest.raises(StaleDataError):
        write_changes(instance, bump_version=True)
    db.session.rollback()
    assert db.session.get(ProcessInstance, dossier.instance_id).version == loaded + 1
