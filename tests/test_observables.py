"""Observables: validation and normalization per kind (attacks included), the declaration form's
indicators, the search across dossiers through the visibility model, and links between dossiers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from audit import verifier
from cases import observables
from cli import scenarios
from engine.errors import EngineError
from models import AuditEvent, Dossier, Observable, db
from test_web_support import (ACSS, ARMEES, ARS_BRETAGNE, ARS_GRANDEST, AUDITEUR, DECLARANT, DGS, HFDS, form_data,
                              login, open_task, post, user)
from web import access

SAME = [
    ("domaine", "EXAMPLE.fr.", "example.fr"), ("domaine", "example[.]fr", "example.fr"),
    ("domaine", "Exämple.FR", "xn--exmple-cua.fr"), ("domaine", "xn--exmple-cua.fr", "xn--exmple-cua.fr"),
    ("ip", "192.0.2.1", "192.0.2.1"), ("ip", " 192.0.2[.]1 ", "192.0.2.1"), ("ip", "::ffff:192.0.2.1", "192.0.2.1"),
    ("ip", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("ip", "2001:db8::0:1", "2001:db8::1"),
    ("ip", "[2001:db8::1]", "2001:db8::1"),
    ("url", "HTTPS://Example.FR:443/Chemin?q=1#frag", "https://example.fr/Chemin?q=1"),
    ("url", "hxxp://evil[.]example.fr", "http://evil.example.fr/"),
    ("url", "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
    ("courriel", "Alerte@EXAMPLE.fr", "alerte@example.fr"), ("courriel", "alerte[@]example[.]fr", "alerte@example.fr"),
    ("empreinte", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
    ("empreinte", "sha256:" + "AB" * 32, "ab" * 32), ("empreinte", "a" * 40, "a" * 40),
    ("cve", "cve-2024-3400", "CVE-2024-3400"), ("cve", "CVE-2021-44228", "CVE-2021-44228"),
    ("logiciel", "Citrix  NetScaler   13.1", "citrix netscaler 13.1"), ("logiciel", "FortiOS v7.2.4", "fortios 7.2.4"),
    ("famille_rancongiciel", "  LockBit   3.0 ", "lockbit 3.0"), ("prestataire", "ACME Sécurité", "acme sécurité"),
]

REFUSED = [
    ("url", "javascript:alert(document.cookie)"), ("url", "JaVaScRiPt:alert(1)"), ("url", "data:text/html,<b>x</b>"),
    ("url", "file:///etc/passwd"), ("url", "http://user:pass@example.fr/"), ("url", "http://exa mple.fr/"),
    ("url", "http:///chemin"), ("url", "http://example.fr:99999/"),
    ("ip", "256.1.1.1"), ("ip", "1.2.3"), ("ip", "192.0.2.1/24"), ("ip", "example.fr"),
    ("domaine", "localhost"), ("domaine", "-bad.example.fr"), ("domaine", "a" * 64 + ".fr"),
    ("domaine", "<script>.fr"), ("domaine", "192.0.2.1"), ("domaine", "exa mple.fr"),
    ("courriel", "pas-une-adresse"), ("courriel", "a b@example.fr"), ("courriel", "x@localhost"),
    ("empreinte", "xyz"), ("empreinte", "a" * 33), ("cve", "CVE-24-1"), ("cve", "CVE-2024-12"),
    ("logiciel", "Citrix"), ("famille_rancongiciel", "x" * 121), ("prestataire", ""), ("prestataire", "   "),
    ("domaine", "example.fr\x00"), ("prestataire", "ACME\x1b[31m"), ("famille_rancongiciel", "Lock\u202eBit"),
    ("url", "http://example.fr/" + "a" * 600), ("ip", "192.0.2.1\n192.0.2.2"), ("inconnu", "x"),
]


@pytest.mark.parametrize("kind, value, normalized", SAME)
def test_normalization(kind, value, normalized):
    assert observables.normalize(kind, value) == normalized


@pytest.mark.parametrize("kind, value", REFUSED)
def test_attacks_and_invalid_values_are_refused_in_french(kind, value):
    with pytest.raises(ValueError) as refused:
        observables.normalize(kind, value)
    message = str(refused.value)
    assert message and message[0].isupper() and "Traceback" not in message


def test_a_value_may_mean_several_kinds():
    kinds = {kind for kind, _ in observables.candidates("192.0.2.1")}
    assert "ip" in kinds and "domaine" not in kinds and "url" not in kinds
    assert ("domaine", "example.fr") in observables.candidates("EXAMPLE.fr.")
    assert observables.candidates("EXAMPLE.fr.", "ip") == []


@pytest.fixture
def spread(app, clock):
    """The same address on a Bretagne, a Grand Est and a military dossier (addressed to the ACSS)."""
    rennes, _ = scenarios.run("grave_acss", clock, until="p4_choix")
    metz, _ = scenarios.run("grave_ars", clock, until="p4_choix")
    military, _ = scenarios.run("militaire_sans_impact", clock)
    for dossier, email, value in ((rennes, ACSS, "2001:db8::1"), (metz, ARS_GRANDEST, "2001:DB8:0::1"),
                                  (military, ARMEES, "[2001:db8::0:1]")):
        observables.add(dossier, "ip", value, user=user(email), source="analyste")
    return {"rennes": rennes.number, "metz": metz.number, "military": military.number}


def test_search_and_links_go_through_the_visibility_model(spread, client):
    expected = {ACSS: {"rennes", "metz", "military"}, HFDS: {"rennes", "metz"}, DGS: {"rennes", "metz"},
                AUDITEUR: {"rennes", "metz"}, ARS_BRETAGNE: {"rennes"}, ARS_GRANDEST: {"metz"},
                ARMEES: {"military"}}
    names = {number: name for name, number in spread.items()}
    for email, sees in expected.items():
        found = observables.search("2001:0db8::0001", visible=access.dossier_filter(user(email)))
        assert {names[d.number] for d, _ in found} == sees, email
    # Links, on the same dossiers: shown on both, each only to who reads the other dossier too.
    rennes, metz, military = (db.session.scalar(select(Dossier).where(Dossier.number == spread[k]))
                              for k in ("rennes", "metz", "military"))
    login(client, ACSS)
    response = post(client, f"/dossiers/{rennes.id}/journal/liens", {"numero": metz.number, "motif": "Même adresse IP"})
    assert response.status_code == 303
    assert post(client, f"/dossiers/{rennes.id}/journal/liens",
                {"numero": military.number, "motif": "Même adresse IP"}).status_code == 303
    assert post(client, f"/dossiers/{rennes.id}/journal/liens",
                {"numero": metz.number, "motif": "Encore"}).status_code == 409
    assert post(client, f"/dossiers/{rennes.id}/journal/liens",
                {"numero": rennes.number, "motif": "Soi-même"}).status_code == 422
    page = client.get(f"/dossiers/{metz.id}").text
    assert rennes.number in page and "Même adresse IP" in page
    # The search page: the value normalized before matching, within the ARS's region.
    login(client, ARS_BRETAGNE)
    page = client.get("/indicateurs", query_string={"valeur": "2001:DB8::1"}).text
    assert spread["rennes"] in page and spread["metz"] not in page and spread["military"] not in page
    assert "1 dossier trouvé" in page
    response = client.get("/indicateurs", query_string={"valeur": "javascript:alert(1)", "type": "url"})
    assert response.status_code == 422 and "valide pour aucun type" in response.text
    # The ARS Bretagne reads Rennes, not Metz nor the military dossier: neither link is shown to it.
    page = client.get(f"/dossiers/{rennes.id}").text
    assert metz.number not in page and military.number not in page
    assert post(client, f"/dossiers/{rennes.id}/journal/liens",
                {"numero": metz.number, "motif": "Sonde"}).status_code == 404
    login(client, HFDS)  # reads Rennes and Metz, not the military dossier (addressed to the ACSS)
    page = client.get(f"/dossiers/{rennes.id}").text
    assert metz.number in page and military.number not in page
    login(client, DECLARANT)  # links are the analysts' work; declarants cannot search
    assert metz.number not in client.get(f"/dossiers/{rennes.id}").text
    assert client.get("/indicateurs", query_string={"valeur": "2001:db8::1"}).status_code == 403
    for dossier in (rennes, metz, military):
        assert verifier.verify_dossier(dossier).ok


def test_declared_indicators_become_observables(app, client, clock):
    dossier, _ = scenarios.run("b1", clock, until="p1_formulaire")  # a scenario that plants no indicator
    row = open_task(dossier.id, "p1_formulaire")
    login(client, DECLARANT)
    rows = [{"type": "ip", "valeur": "192.0.2.10", "commentaire": "Adresse du serveur de commande"},
            {"type": "url", "valeur": "javascript:alert(1)"}]
    response = post(client, f"/taches/{row.id}", form_data(dict(scenarios.formulaire(), indicateurs_techniques=rows),
                                                           action="valider"))
    assert response.status_code == 422 and "Ligne 2 : Seules les URL" in response.text
    assert open_task(dossier.id, "p1_formulaire") is not None  # nothing accepted yet
    rows[1] = {"type": "domaine", "valeur": "C2.Example.fr."}
    response = post(client, f"/taches/{row.id}", form_data(dict(scenarios.formulaire(), indicateurs_techniques=rows),
                                                           action="valider"))
    assert response.status_code == 302, response.text[:2000]
    found = db.session.scalars(select(Observable).where(Observable.dossier_id == dossier.id)
                               .order_by(Observable.id)).all()
    assert [(o.kind, o.normalized, o.source) for o in found] == [("ip", "192.0.2.10", "declarant"),
                                                                ("domaine", "c2.example.fr", "declarant")]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == dossier.instance_id)
                                .order_by(AuditEvent.seq)).all()
    assert [e.command for e in events[-3:]] == ["complete", "journal", "journal"]
    assert verifier.verify_dossier(dossier).ok
    page = client.get(f"/dossiers/{dossier.id}").text  # the declarant sees what they declared
    assert "c2.example.fr" in page.lower() and "192.0.2.10" in page
    # Adding the same indicator again keeps one row; a declarant cannot record an analysts' indicator.
    again = observables.add(dossier, "domaine", "c2.example.fr", user=user(ACSS), source="analyste")
    assert again.id == found[1].id
    with pytest.raises(EngineError):
        observables.add(dossier, "ip", "192.0.2.11", user=user(DECLARANT), source="analyste")
