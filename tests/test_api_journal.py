"""The journal through the API: notes and indicators added by token are events of the dossier's chain (replay
and verify still pass), retries with the same Idempotency-Key add nothing, and the rights and visibility are
the fiche de suivi's."""
from __future__ import annotations

from sqlalchemy import func, select

from audit import verifier
from cli import scenarios
from models import AuditEvent, JournalEntry, Observable, db
from test_api import call, is_problem, key, token
from test_web_support import ACSS, ARS_BRETAGNE, ARS_GRANDEST, DECLARANT, DGS


def test_notes_and_indicators_by_token_are_events_of_the_chain(app, client, clock):
    dossier, _ = scenarios.run("b1", clock, until="p3_qualifier")
    analyst, path = token(ACSS), f"/dossiers/{dossier.id}"
    idem = key()
    added = call(client, "POST", f"{path}/notes", analyst, {"kind": "appel", "text": "Appel du RSSI : serveurs isolés"}, idem)
    assert added.status_code == 201 and added.get_json()["kind"] == "appel"
    again = call(client, "POST", f"{path}/notes", analyst, {"kind": "appel", "text": "Appel du RSSI : serveurs isolés"}, idem)
    assert again.get_json() == added.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.dossier_id == dossier.id)) == 1
    found = call(client, "POST", f"{path}/indicators", analyst, {"kind": "domaine", "value": "C2.Example.FR."}, key())
    assert found.status_code == 201 and found.get_json()["normalized"] == "c2.example.fr"
    refused = is_problem(call(client, "POST", f"{path}/indicators", analyst,
                              {"kind": "url", "value": "javascript:alert(1)"}, key()), 422)
    assert "URL" in refused["detail"]
    is_problem(call(client, "POST", f"{path}/notes", analyst, {"kind": "rumeur", "text": "x"}, key()), 422)
    is_problem(call(client, "POST", f"{path}/notes", analyst, {"kind": "note", "text": "  "}, key()), 422)
    journal = call(client, "GET", f"{path}/journal", analyst).get_json()
    assert [e["text"] for e in journal["entries"]] == ["Appel du RSSI : serveurs isolés"] and journal["can_write"]
    assert [i["value"] for i in journal["indicators"]] == ["C2.Example.FR."]
    commands = db.session.scalars(select(AuditEvent.command).where(AuditEvent.instance_id == dossier.instance_id)
                                  .order_by(AuditEvent.seq)).all()
    assert commands[-2:] == ["journal", "journal"]
    assert verifier.verify_dossier(dossier).ok


def test_the_journal_api_keeps_the_pages_rights(app, client, clock):
    dossier, _ = scenarios.run("b1", clock, until="p3_qualifier")
    path = f"/dossiers/{dossier.id}"
    mine = call(client, "POST", f"{path}/notes", token(DECLARANT), {"kind": "note", "text": "Précision du déclarant"}, key())
    assert mine.status_code == 201
    is_problem(call(client, "POST", f"{path}/indicators", token(DECLARANT), {"kind": "ip", "value": "192.0.2.1"}, key()), 403)
    is_problem(call(client, "POST", f"{path}/notes", token(DGS), {"kind": "note", "text": "x"}, key()), 403)
    is_problem(call(client, "GET", f"{path}/journal", token(ARS_GRANDEST)), 404)          # another region
    is_problem(call(client, "POST", f"{path}/notes", token(ARS_GRANDEST), {"kind": "note", "text": "x"}, key()), 404)
    assert call(client, "GET", f"{path}/journal", token(ARS_BRETAGNE)).status_code == 200
    call(client, "POST", f"{path}/notes", token(ACSS), {"kind": "note", "text": "Note interne de la cellule"}, key())
    seen = call(client, "GET", f"{path}/journal", token(DECLARANT)).get_json()
    assert [e["text"] for e in seen["entries"]] == ["Précision du déclarant"]               # not the analysts' note
    assert db.session.scalar(select(func.count(Observable.id)).where(Observable.dossier_id == dossier.id)) == 0
