"""Verifying every dossier in several processes (audit/parallel.py) says exactly what one process says, dossier by
dossier and in number order, tampering included; the batched loading of journal rows finds what the per-dossier
check finds; `flask audit verify --processus N` reports the same differences."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select, text

from audit import parallel, verifier
from cases import journal, links, observables
from cli import scenarios
from models import AuditEvent, db
from tampering import guard_lifted
from test_web_support import ACSS, user

STEP = 5  # a completed user task in the middle of a history


def _outcomes(results) -> list[tuple]:
    return [(r.dossier, r.ok, r.steps, r.step, r.reason) for r in results]


@pytest.fixture
def dossiers(app, clock):
    """Five dossiers with journal rows and a link; three tampered three ways (event date, a note's text, an
    indicator's value), two intact."""
    made = [scenarios.run(name, clock)[0] for name in ("b1", "grave_ars", "militaire_sans_impact")]
    made += [scenarios.run(name, clock, until="p4_choix")[0] for name in ("grave_acss", "grave_ars")]
    analyst = user(ACSS)
    note = journal.add_note(made[3], user=analyst, kind="note", text="Note d'origine")
    journal.add_attachment(made[3], user=analyst, stream=io.BytesIO(b"%PDF-1.7\nrapport"), filename="r.pdf",
                           comment="Rapport")
    indicator = observables.add(made[4], "ip", "192.0.2.7", user=analyst, source="analyste")
    links.add_link(made[3], made[4], user=analyst, reason="Même attaquant")
    observables.add(made[2], "domaine", "exemple.test", user=analyst, source="analyste")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == made[1].instance_id,
                                                       AuditEvent.seq == STEP))
    with guard_lifted():
        db.session.execute(text("UPDATE audit_events SET actor = 'quelqu''un' WHERE id = :id"), {"id": event.id})
        db.session.execute(text("UPDATE journal_entries SET body = 'Texte falsifié' WHERE id = :id"), {"id": note.id})
        db.session.execute(text("UPDATE observables SET value = '192.0.2.8' WHERE id = :id"), {"id": indicator.id})
    db.session.expire_all()
    return made


@pytest.mark.parametrize("full", [True, False], ids=["rejeu", "chaine"])
def test_several_processes_say_what_one_says(dossiers, full):
    assert parallel.can_fork()
    alone = verifier.verify_all(full=full, batch=2)
    shared = verifier.verify_all(full=full, batch=2, processes=2)
    assert _outcomes(shared) == _outcomes(alone)
    assert [r.dossier for r in shared] == sorted(d.number for d in dossiers)
    # The per-dossier path (rows read one dossier at a time) agrees with the batched one.
    assert _outcomes(alone) == _outcomes(verifier.verify_dossier(d, full=full)
                                         for d in sorted(dossiers, key=lambda d: d.number))
    failed = {r.dossier: r.reason for r in shared if not r.ok}
    assert set(failed) == {dossiers[1].number, dossiers[3].number, dossiers[4].number}
    assert "empreinte de l'événement" in failed[dossiers[1].number]
    assert "note ou pièce jointe" in failed[dossiers[3].number]
    assert "indicateur" in failed[dossiers[4].number]
    assert all(r.ok and r.steps > 1 for r in shared if r.dossier not in failed)


def test_stop_at_first_difference_in_several_processes(dossiers):
    results = verifier.verify_all(batch=1, processes=2, stop_at_first=True)
    assert not results[-1].ok and all(r.ok for r in results[:-1])
    first = min((d for d in (dossiers[1], dossiers[3], dossiers[4])), key=lambda d: d.number)
    assert results[-1].dossier == first.number


def test_cli_verify_with_several_processes(dossiers, runner):
    result = runner.invoke(args=["audit", "verify", "--processus", "2"])
    assert result.exit_code == 1, result.output
    assert "3 dossiers sur 5 présentent une différence" in result.output
    for dossier in (dossiers[1], dossiers[3], dossiers[4]):
        assert f"Dossier {dossier.number} : différence à l'étape" in result.output
    result = runner.invoke(args=["audit", "verify", "--chaine-seule", "--processus", "2"])
    assert result.exit_code == 1 and "3 dossiers sur 5 présentent une différence" in result.output
    result = runner.invoke(args=["audit", "verify", "--processus", "-1"])
    assert result.exit_code == 2 and "--processus" in result.output


def test_a_freeze_made_before_is_kept(app):
    """The children's freeze is undone after, but not one made before it (the anonymization engine's): undoing
    it would give the collector back, for the rest of the process's life, what the engine loaded."""
    import gc
    if gc.get_freeze_count() == 0:
        assert list(parallel.map_ordered(len, [[1], [2, 3]], processes=2)) == [1, 2]
        assert gc.get_freeze_count() == 0
        gc.freeze()  # as the engine does; left frozen, as the engine leaves it
    frozen = gc.get_freeze_count()
    assert list(parallel.map_ordered(len, [[1], [2, 3]], processes=2)) == [1, 2]
    assert gc.get_freeze_count() >= frozen
