"""Who reaches the knowledge pages, and hostile input on them: every role × route answers as the model says, no
military dossier leaks outside the armées chain, and bad addresses or oversized fields get a French 4xx."""
from __future__ import annotations

import pytest

from cli import scenarios
from knowledge import retex as base
from models import Dossier, WeakSignalAlert, db
from test_web_support import (ACSS, ADMIN, ARMEES, ARS_BRETAGNE, AUDITEUR, DECLARANT, DGS, HFDS, PROCESSUS, login,
                              post)
from workflow import commands, context


def _declared(clock, prefix: str, military: bool = False) -> Dossier:
    dossier = commands.start_dossier(scenarios.structure_for(prefix), None, context.Actor("test", "declarant"))
    dossier.state, dossier.declared_at, dossier.military = "en attente de qualification", clock.now(), military
    dossier.incident_types = ["rancongiciel"]
    db.session.commit()
    return dossier


@pytest.fixture
def world(app, clock):
    """A civil and a military dossier, each with a retex, one alert over both."""
    clock.set(scenarios.MONDAY_MORNING)
    civil, military = _declared(clock, "35000002"), _declared(clock, "94000202", military=True)
    civil_retex = base.record_retex(civil, {"causes_incident": "CIVIL-RETEX cause"}, clock.now())
    military_retex = base.record_retex(military, {"causes_incident": "MILITARY-RETEX cause"}, clock.now())
    alert = WeakSignalAlert(dimension="logiciel", key="x", label="Logiciel X", dossier_ids=[civil.id, military.id],
                            first_at=clock.now(), last_at=clock.now(), created_at=clock.now())
    db.session.add(alert)
    db.session.commit()
    return {"civil": civil.number, "military": military.number, "civil_retex": civil_retex.id,
            "military_retex": military_retex.id, "alert": alert.id}


# role -> the status of each page (200 read, 403 not for this role, 404 outside its perimeter)
EXPECTED = {
    ACSS: {"fiches": 200, "prestataires": 200, "retex": 200, "retex_civil": 200, "retex_mil": 404, "base": 200,
           "communaute": 200, "signaux": 200, "signal": 200},
    HFDS: {"fiches": 200, "prestataires": 200, "retex": 200, "retex_civil": 200, "retex_mil": 404, "base": 200,
           "communaute": 200, "signaux": 200, "signal": 200},
    ARS_BRETAGNE: {"fiches": 200, "prestataires": 200, "retex": 200, "retex_civil": 200, "retex_mil": 404,
                   "base": 200, "communaute": 200, "signaux": 200, "signal": 200},
    ARMEES: {"fiches": 403, "prestataires": 403, "retex": 200, "retex_civil": 404, "retex_mil": 200, "base": 200,
             "communaute": 200, "signaux": 403, "signal": 403},
    DGS: {"fiches": 403, "prestataires": 403, "retex": 403, "retex_civil": 403, "retex_mil": 403, "base": 200,
          "communaute": 200, "signaux": 200, "signal": 200},
    DECLARANT: {"fiches": 200, "prestataires": 403, "retex": 403, "retex_civil": 403, "retex_mil": 403, "base": 403,
                "communaute": 200, "signaux": 403, "signal": 403},
    AUDITEUR: {"fiches": 403, "prestataires": 403, "retex": 403, "retex_civil": 403, "retex_mil": 403, "base": 403,
               "communaute": 200, "signaux": 403, "signal": 403},
    ADMIN: {"fiches": 403, "prestataires": 403, "retex": 403, "retex_civil": 403, "retex_mil": 403, "base": 403,
            "communaute": 200, "signaux": 403, "signal": 403},
    PROCESSUS: {"fiches": 403, "prestataires": 403, "retex": 403, "retex_civil": 403, "retex_mil": 403, "base": 403,
                "communaute": 200, "signaux": 403, "signal": 403},
}


def test_every_role_reaches_what_it_may_and_military_dossiers_stay_confined(client, world):
    routes = {"fiches": "/connaissances/fiches", "prestataires": "/connaissances/prestataires",
              "retex": "/connaissances/retex", "retex_civil": f"/connaissances/retex/{world['civil_retex']}",
              "retex_mil": f"/connaissances/retex/{world['military_retex']}", "base": "/connaissances/base",
              "communaute": "/connaissances/communaute", "signaux": "/connaissances/signaux-faibles",
              "signal": f"/connaissances/signaux-faibles/{world['alert']}"}
    leaks = []
    for email, expected in EXPECTED.items():
        login(client, email)
        for name, url in routes.items():
            response = client.get(url)
            if response.status_code != expected[name]:
                leaks.append(f"{email} {url}: {response.status_code} au lieu de {expected[name]}")
            text = response.get_data(as_text=True)
            if email != ARMEES and (world["military"] in text or "MILITARY-RETEX" in text):
                leaks.append(f"{email} {url}: dossier militaire visible")
            if email == ARMEES and (world["civil"] in text or "CIVIL-RETEX" in text):
                leaks.append(f"{email} {url}: dossier civil visible")
    assert leaks == []
    client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None
    with client.session_transaction() as session:
        session.clear()
    assert client.get("/connaissances/communaute").status_code in (302, 401)


def test_hostile_addresses_and_fields_get_a_french_4xx(client, world):
    login(client, ACSS)
    for url in ("/connaissances/fiches/..%2f..%2fetc", "/connaissances/fiches/" + "x" * 5000 + "/v1",
                "/connaissances/fiches/rancongiciel/v99999999999", "/connaissances/retex/0",
                "/connaissances/signaux-faibles/2147483648"):
        assert client.get(url).status_code == 404, url
    search = client.get("/connaissances/retex?q=" + "%27%22%3C" * 400 + "&type=%00&observable=%25&logiciel=_")
    assert search.status_code in (200, 400)  # NUL bytes are refused by the security layer, never a 500
    assert "<script>alert" not in client.get("/connaissances/retex?q=<script>alert(1)</script>").get_data(as_text=True)
    big = post(client, f"/connaissances/retex/{world['civil_retex']}",
               {"action": "publier", "review_text": "x" * (base.MAX_TEXT + 1)})
    assert big.status_code == 422 and "caractères au plus" in big.get_data(as_text=True)
    response = post(client, "/connaissances/prestataires/nouveau",
                    {"name": "Nouveau", "qualification": "pris", "contact": "c" * 3000})
    assert response.status_code == 422 and "Le contact tient en 2000 caractères au plus." in response.get_data(
        as_text=True)
    assert post(client, "/connaissances/fiches/nouvelle", {"csrf_token": "faux", "title": "x"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(base.Retex, world["civil_retex"]).published_text is None  # nothing half-done kept
