"""The journal of a dossier: every entry kind is an event of the dossier's hash chain, replay skips it
without changing the process state, verify still proves the whole chain and detects tampering; the
fiche de suivi shows the journal by the visibility model; read-only roles cannot write."""
from __future__ import annotations

import io
import threading
import json

import pytest
from sqlalchemy import JSON, bindparam, select, text

from audit import hash_chain, replayer, verifier
from browser_support import login as browser_login, shot
from cases import attachments, chain, journal, links, observables
from cli import scenarios
from engine.errors import EngineError
from models import AuditEvent, Dossier, JournalEntry, ProcessInstance, User, db
from tampering import guard_lifted
from test_web_support import (ACSS, ARS_BRETAGNE, ARS_GRANDEST, AUDITEUR, DECLARANT, DGS, login, open_task, post,
                              user)
from workflow import commands, context, event_chain


def _verify(dossier: Dossier) -> verifier.VerifyResult:
    db.session.expire_all()
    return verifier.verify_dossier(db.session.get(Dossier, dossier.id), full=True)


@pytest.fixture
def journaled(app, clock):
    """A grave dossier at the ARS choice with every journal entry kind, interleaved with commands, and a
    second dossier it is linked to."""
    other, _ = scenarios.run("grave_ars", clock, until="p4_choix")
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    analyst = user(ACSS)
    for kind in journal.NOTE_KINDS:
        clock.advance(minutes=1)
        journal.add_note(dossier, user=analyst, kind=kind, text=f"Texte « {kind} » du journal")
    attached = journal.add_attachment(dossier, user=analyst, stream=io.BytesIO(b"%PDF-1.7\nrapport"),
                                      filename="rapport.pdf", comment="Rapport du prestataire")
    ip = observables.add(dossier, "ip", "2001:DB8::0:1", user=analyst, source="analyste")
    link = links.add_link(dossier, other, user=analyst, reason="Même attaquant")
    # A process command between journal entries: its seq follows theirs and its replay is unchanged.
    row = open_task(dossier.id, "p4_choix")
    commands.complete_task(row.id, {"modalite_appui": "confier_acss"}, context.Actor.of(user(ARS_BRETAGNE)))
    note = journal.add_note(dossier, user=analyst, kind="note", text="Note à retirer")
    journal.remove_entry(note, user=analyst, reason="Saisie en double")
    observables.remove(ip, user=analyst, reason="Adresse de test")
    links.remove_link(link, user=analyst)
    return {"dossier": dossier, "other": other, "attachment": attached}


def test_each_entry_kind_is_an_event_of_the_chain(journaled, runner):
    dossier = journaled["dossier"]
    events = hash_chain.events_of(dossier.instance_id)
    actions = [e.payload["action"] for e in events if chain.is_journal_event(e)]
    # The scenario itself records the declarant's two indicators (LockBit, an IP address) first.
    assert actions == ["observable"] * 2 + ["note"] * 4 + ["piece_jointe", "observable", "lien", "note", "retrait", "retrait", "retrait"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.command != "journal" or (e.visited == [] and e.service_results == []) for e in events)
    # The command after the journal entries took the next seq, and the instance follows the chain's end.
    instance = db.session.get(ProcessInstance, dossier.instance_id)
    assert instance.last_seq == events[-1].seq and instance.last_hash == events[-1].hash
    # Removing is a new event: the row stays, marked « retiré ».
    removed = db.session.scalar(select(JournalEntry).where(JournalEntry.body == "Note à retirer"))
    assert removed.removed_at is not None and removed.removal_reason == "Saisie en double"
    for d in (dossier, journaled["other"]):
        result = _verify(d)
        assert result.ok, result.message
    # Replay skips the journal events: same state, nothing visited, the same open tasks.
    steps = list(replayer.replay(instance))
    assert len(steps) == instance.last_seq
    for before, step in zip(steps, steps[1:]):
        if chain.is_journal_event(step.event):
            assert step.state_hash == before.state_hash and step.visited_step == []
            assert step.open_tasks == before.open_tasks
    assert steps[-1].state_hash == instance.state_hash
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def _rechain_from(instance_id: int, seq: int) -> None:
    """The clever attacker: recompute every later hash and link after an edit."""
    db.session.expire_all()
    events = hash_chain.events_of(instance_id)
    prev = events[seq - 2].hash if seq > 1 else event_chain.GENESIS_HASH
    with guard_lifted():
        for event in events[seq - 1:]:
            event.prev_hash = prev
            new_hash = event_chain.event_hash(event)
            db.session.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                               {"p": prev, "h": new_hash, "id": event.id})
            prev = new_hash
        db.session.execute(text("UPDATE process_instances SET last_hash = :h WHERE id = :id"),
                           {"h": prev, "id": instance_id})


def _journal_event(dossier: Dossier, action: str) -> AuditEvent:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id,
                                                      AuditEvent.command == "journal")
                             .order_by(AuditEvent.seq)
                             .where(AuditEvent.id.in_([e.id for e in hash_chain.events_of(dossier.instance_id)
                                                       if e.payload.get("action") == action])).limit(1))


def _set_payload(event_id: int, payload: dict) -> None:
    with guard_lifted():
        db.session.execute(text("UPDATE audit_events SET payload = :payload WHERE id = :id")
                           .bindparams(bindparam("payload", type_=JSON())), {"payload": payload, "id": event_id})


def _set_column(event_id: int, column: str, value) -> None:
    with guard_lifted():
        db.session.execute(text(f"UPDATE audit_events SET {column} = :v WHERE id = :id")
                           .bindparams(bindparam("v", type_=JSON() if column == "payload" else None)),
                           {"v": value, "id": event_id})


def test_tampered_journal_is_detected(journaled):
    """Each attack on one dossier, undone before the next: the verifier names the altered step each time."""
    dossier = journaled["dossier"]
    note, attached = _journal_event(dossier, "note"), _journal_event(dossier, "piece_jointe")
    note_seq = note.seq
    original = json.loads(json.dumps(note.payload))
    forged = dict(original, text="Texte falsifié")
    path = attachments.path_of(journaled["attachment"].file_sha256)
    content = path.read_bytes()

    def detected(step: int | None, attack: str) -> None:
        result = _verify(dossier)
        assert not result.ok, attack
        assert step is None or result.step == step, (attack, result.message)

    _set_payload(note.id, forged)
    detected(note.seq, "event edited")
    _rechain_from(dossier.instance_id, note.seq)
    detected(note.seq, "event edited, chain recomputed")  # the row still says what was written
    _set_payload(note.id, original)
    _rechain_from(dossier.instance_id, note.seq)
    assert _verify(dossier).ok

    with guard_lifted():
        db.session.execute(text("UPDATE journal_entries SET body = 'Texte falsifié' WHERE id = :id"),
                           {"id": original["entry_id"]})
    detected(note.seq, "row edited")
    with guard_lifted():
        db.session.execute(text("UPDATE journal_entries SET body = :b WHERE id = :id"),
                           {"b": original["text"], "id": original["entry_id"]})

    _set_column(note.id, "state_hash", "f" * 64)
    _rechain_from(dossier.instance_id, note.seq)
    detected(note.seq, "state hash of a journal event, chain recomputed")  # replay compares it
    _set_column(note.id, "state_hash", attached.state_hash)
    _rechain_from(dossier.instance_id, note.seq)

    path.write_bytes(b"%PDF-1.7\nfalsifie")
    detected(attached.seq, "attachment file replaced")
    path.write_bytes(content)
    assert _verify(dossier).ok

    with guard_lifted():
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": note.id})
    detected(note_seq, "journal event deleted")


def test_a_command_and_a_journal_entry_never_share_a_seq(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    analyst = user(ACSS)
    # A stale copy of the instance (as a concurrent writer would hold) cannot append after the chain moved.
    db.session.execute(text("UPDATE process_instances SET last_seq = last_seq - 1 WHERE id = :id"),
                       {"id": dossier.instance_id})
    db.session.commit()
    with pytest.raises(EngineError) as refused:
        journal.add_note(dossier, user=analyst, kind="note", text="Course perdue")
    assert refused.value.status == 409
    assert db.session.scalar(select(JournalEntry.id)) is None  # nothing half-written


def test_read_only_roles_cannot_write_and_declarants_only_notes(app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    for email in (DGS, AUDITEUR):
        with pytest.raises(EngineError) as refused:
            journal.add_note(dossier, user=user(email), kind="note", text="Lecture seule")
        assert refused.value.status == 403
    with pytest.raises(EngineError):
        links.add_link(dossier, dossier, user=user(DECLARANT), reason="x")
    with pytest.raises(EngineError) as refused:
        journal.add_note(dossier, user=user(ACSS), kind="rumeur", text="Type inconnu")
    assert refused.value.status == 422


def test_fiche_shows_the_journal_by_visibility(client, app, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    url = f"/dossiers/{dossier.id}"
    login(client, ACSS)
    response = post(client, f"{url}/journal/notes", {"type": "appel", "texte": "Appel du RSSI : <b>secret</b>"})
    assert response.status_code == 303
    response = post(client, f"{url}/journal/indicateurs", {"type": "domaine", "valeur": "EVIL.example.fr."})
    assert response.status_code == 303
    page = client.get(url).text
    assert "Appel du RSSI : &lt;b&gt;secret&lt;/b&gt;" in page and "evil.example.fr" in page
    assert "Appel téléphonique" in page
    for ident in ("abc", "99999999999999999999", "-1"):
        assert post(client, f"{url}/journal/retirer", {"cible": "entree", "id": ident}).status_code == 400
    assert post(client, f"{url}/journal/retirer", {"cible": "autre", "id": "1"}).status_code == 400
    assert post(client, f"{url}/journal/retirer", {"cible": "entree", "id": "999999"}).status_code == 404
    # Without the CSRF token: refused, nothing written.
    assert client.post(f"{url}/journal/notes", data={"type": "note", "texte": "sans jeton"}).status_code == 400
    login(client, DECLARANT)
    response = post(client, f"{url}/journal/notes", {"type": "note", "texte": "Le serveur est reparti."})
    assert response.status_code == 303
    page = client.get(url).text
    assert "Le serveur est reparti." in page
    assert "RSSI" not in page and "evil.example.fr" not in page  # the analysts' work stays internal
    assert post(client, f"{url}/journal/indicateurs", {"type": "ip", "valeur": "192.0.2.1"}).status_code == 403
    for email, status in ((AUDITEUR, 403), (ARS_GRANDEST, 404), (DGS, 403)):
        login(client, email)
        assert post(client, f"{url}/journal/notes", {"type": "note", "texte": "x"}).status_code == status, email
    page = client.get(url).text
    assert "RSSI" in page and "Le serveur est reparti." in page and "form-note" not in page
    assert len(journal.entries(dossier)) == 2
    assert _verify(dossier).ok


def test_a_journal_entry_waits_for_the_instance_lock(app, clock, backend):
    """Two writers on one dossier (PostgreSQL row locks): the second waits, then chains after the first."""
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serializes whole writes (covered by the seq test)")
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    dossier_id, analyst_id = dossier.id, user(ACSS).id
    locked, release, failures = threading.Event(), threading.Event(), []

    def write(text_: str, hold: bool) -> None:
        with app.app_context():
            try:
                here = db.session.get(Dossier, dossier_id)
                journal.add_note(here, user=db.session.get(User, analyst_id), kind="note", text=text_, commit=False)
                if hold:
                    locked.set()
                    assert release.wait(10)
                db.session.commit()
            except Exception as exc:  # reported to the test thread
                failures.append(exc)
            finally:
                db.session.remove()

    first = threading.Thread(target=write, args=("Première", True))
    first.start()
    assert locked.wait(10)
    second = threading.Thread(target=write, args=("Seconde", False))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "the second writer must wait for the first one's lock"
    release.set()
    first.join(10)
    second.join(10)
    assert not failures, failures
    db.session.expire_all()
    notes = {e.body: e.seq for e in journal.entries(db.session.get(Dossier, dossier_id))}
    assert notes["Seconde"] == notes["Première"] + 1
    assert _verify(dossier).ok


@pytest.mark.browser
def test_journal_in_the_browser(page, clock, tmp_path):
    """An analyst writes a note and attaches a planted page: it downloads, it never opens in the browser."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    browser_login(page, ACSS)
    page.goto(page.base + f"/dossiers/{dossier.id}")
    page.select_option("#note-type", "appel")
    page.fill("#note-texte", "Appel du RSSI : serveurs isolés à 10 h")
    page.click("#form-note button")
    page.wait_for_selector("text=Note ajoutée au journal du dossier.")
    planted = tmp_path / "lisez-moi.txt"
    planted.write_bytes(b"note <script>document.title = 'piege'</script>")
    page.set_input_files("#piece-fichier", str(planted))
    page.click("#form-piece button")
    page.wait_for_selector("text=Pièce jointe « lisez-moi.txt » ajoutée")
    assert "Appel du RSSI" in page.inner_text("#chronologie")
    shot(page, "journal-01-fiche")
    with page.expect_download() as download:
        page.click("#notes-journal a:has-text('lisez-moi.txt')")
    assert download.value.suggested_filename == "lisez-moi.txt"
    assert page.url.endswith(f"/dossiers/{dossier.id}#journal") and page.title() != "piege"
    assert not page.js_errors
