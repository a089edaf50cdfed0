"""Weak signals: a planted burst of similar declarations raises one alert (one mail to the cell and the HFDS), later
sweeps extend it without mailing again, quiet keys and military dossiers raise nothing, and the page filters
the dossiers through the visibility model."""
from __future__ import annotations

from sqlalchemy import select

import scheduler
from cli import scenarios
from knowledge import signals
from models import Dossier, Observable, OutboxMessage, WeakSignalAlert, db
from test_web_support import ACSS, ARS_BRETAGNE, ARS_GRANDEST, DECLARANT, HFDS, login
from workflow import commands, context


def _declared(clock, finess_prefix: str, title: str, software: str | None = None) -> Dossier:
    """A dossier of a demo structure, declared now (started through the commands, then marked declared)."""
    dossier = commands.start_dossier(scenarios.structure_for(finess_prefix), None, context.Actor("test", "declarant"))
    dossier.state, dossier.declared_at, dossier.title = "en attente de qualification", clock.now(), title
    if software:
        db.session.add(Observable(dossier_id=dossier.id, kind="logiciel", value=software, normalized=software.lower(),
                                  comment="", source="analyste", created_at=clock.now()))
    db.session.commit()
    return dossier


def _alert_mails() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == signals.KIND)
                                   .order_by(OutboxMessage.id)))


def test_a_planted_burst_raises_one_alert_once_and_the_page_filters_its_dossiers(client, app, clock):
    app.config["WEAK_SIGNAL_THRESHOLDS"] = {"departement": 99, "region": 99, "logiciel": 3, "prestataire": 3}
    clock.set(scenarios.MONDAY_MORNING)
    rennes = _declared(clock, "35000002", "Lenteurs PACS", software="Imagix PACS 4.2")
    clock.advance(hours=5)
    metz = _declared(clock, "57000102", "PACS chiffré", software="Imagix PACS 4.2")
    begin = _declared(clock, "94000202", "PACS militaire", software="Imagix PACS 4.2")
    begin.military = True
    db.session.commit()
    _declared(clock, "69000302", "Autre logiciel", software="Zimbra 9")
    assert scheduler.run_sweeps()["weak_signals"] == 0  # two civil dossiers: below the threshold of 3
    assert _alert_mails() == []

    clock.advance(hours=20)
    tours = _declared(clock, "37000402", "PACS indisponible", software="imagix pacs 4.2")
    assert scheduler.run_sweeps()["weak_signals"] == 1
    alert = db.session.scalar(select(WeakSignalAlert))
    assert (alert.dimension, alert.key) == ("logiciel", "imagix pacs 4.2")
    assert alert.dossier_ids == sorted([rennes.id, metz.id, tours.id])  # the military one is never counted
    [mail] = _alert_mails()
    assert sorted(mail.recipients) == sorted([app.config["MAILBOXES"]["acss"], app.config["MAILBOXES"]["hfds"]])
    assert mail.status == "sent"  # the same pass of the sweeps delivered it (log backend)
    for number in (rennes.number, metz.number, tours.number):
        assert number in mail.body_text
    assert begin.number not in mail.body_text and f"/connaissances/signaux-faibles/{alert.id}" in mail.body_text

    # Later sweeps: nothing new is mailed; a new dossier of the same burst joins the alert.
    assert scheduler.run_sweeps()["weak_signals"] == 0
    clock.advance(hours=10)
    lyon = _declared(clock, "69000302", "PACS encore", software="Imagix PACS 4.2")
    assert signals.sweep(clock.now()) == 0
    db.session.expire_all()
    assert lyon.id in db.session.get(WeakSignalAlert, alert.id).dossier_ids and len(_alert_mails()) == 1

    # Once the key has been quiet for a whole window, a new burst is a new alert.
    clock.advance(days=10)
    for prefix in ("35000002", "57000102", "37000402"):
        _declared(clock, prefix, "Nouvelle vague", software="Imagix PACS 4.2")
    assert signals.sweep(clock.now()) == 1 and len(_alert_mails()) == 2

    login(client, ACSS)
    page = client.get(f"/connaissances/signaux-faibles/{alert.id}").get_data(as_text=True)
    assert all(d.number in page for d in (rennes, metz, tours, lyon)) and begin.number not in page
    login(client, ARS_BRETAGNE)  # only its region's dossiers of the alert
    page = client.get(f"/connaissances/signaux-faibles/{alert.id}").get_data(as_text=True)
    assert rennes.number in page and metz.number not in page and tours.number not in page
    login(client, HFDS)
    assert "Imagix PACS 4.2" in client.get("/connaissances/signaux-faibles").get_data(as_text=True)
    login(client, DECLARANT)
    assert client.get("/connaissances/signaux-faibles").status_code == 403


def test_a_burst_on_a_territory_counts_one_departement_and_is_hidden_from_other_regions(client, runner, app, clock):
    app.config["WEAK_SIGNAL_THRESHOLDS"] = {"departement": 2, "region": 99, "logiciel": 99, "prestataire": 99}
    app.config["WEAK_SIGNAL_WINDOW_HOURS"] = 24
    clock.set(scenarios.MONDAY_MORNING)
    first = _declared(clock, "35000002", "Rançongiciel")
    _declared(clock, "57000102", "Ailleurs")
    clock.advance(hours=25)  # outside the window of the first one
    second = _declared(clock, "35000002", "Rançongiciel encore")
    assert signals.sweep(clock.now()) == 0
    clock.advance(hours=1)
    third = _declared(clock, "35000002", "Rançongiciel toujours")
    result = runner.invoke(args=["weak-signals"])  # the same sweep, from the command line
    assert result.exit_code == 0 and "Signaux faibles : 1 nouvelle alerte." in result.output
    alert = db.session.scalar(select(WeakSignalAlert))
    assert (alert.dimension, alert.key, alert.dossier_ids) == ("departement", "35", sorted([second.id, third.id]))
    assert first.id not in alert.dossier_ids
    login(client, ARS_GRANDEST)
    assert client.get(f"/connaissances/signaux-faibles/{alert.id}").status_code == 404
    assert "Aucune alerte." in client.get("/connaissances/signaux-faibles").get_data(as_text=True)
    clock.advance(minutes=1)
    assert signals.sweep(clock.now()) == 0 and len(_alert_mails()) == 1
