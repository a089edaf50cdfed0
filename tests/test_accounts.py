"""Structures and accounts: FINESS import of the published layout, checks in French, password links that
expire and serve once, deactivation that ends sessions, and a chained journal of every change."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select, text

from accounts import journal
from models import AccountEvent, LoginSession, OutboxMessage, Structure, User, db
from referentiel import finess_with_key
from test_web_support import ACSS, ADMIN, DECLARANT, csrf, login, post, structure_of, user

SAMPLE = Path(__file__).parent / "data" / "finess_extract_sample.csv"


def _structure(finess_et: str) -> Structure:
    return db.session.scalar(select(Structure).where(Structure.finess_et == finess_et))


def _link_token(email: str) -> str:
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "lien_mot_de_passe")
                            .order_by(OutboxMessage.id.desc()).limit(1))
    assert email in row.recipients
    return re.search(r"/mot-de-passe/([A-Za-z0-9_-]+)", row.body_text).group(1)


def test_the_sample_extract_is_imported_with_counts_and_reasons(app, runner):
    result = runner.invoke(args=["comptes", "import-finess", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert ("21 lignes lues ; 6 structures créées ; 1 structure mise à jour ; 0 structure inchangée ; 2 hors champ ; "
            "2 lignes rejetées.") in result.output
    assert "ligne 12 : FINESS 290000711 : Le numéro FINESS établissement doit compter 9 caractères" in result.output
    assert "ligne 13 : 3 champs au lieu de 31 après « structureet »." in result.output
    percy = _structure("920000312")
    assert (percy.kind, percy.region, percy.department, percy.city) == ("hopital_armees", "Île-de-France", "92", "Clamart")
    assert percy.name == "HÔPITAL D'INSTRUCTION DES ARMÉES PERCY"                 # read as Latin-1
    assert (_structure("971000815").region, _structure("971000815").department) == ("Guadeloupe", "971")
    assert _structure("2A0000915").region == "Corse"
    assert _structure("690000419").kind == "laboratoire"
    assert _structure("370001117").kind == "radiotherapie"
    assert _structure("350000519") is None and _structure("560000614") is None   # EHPAD, pharmacy: out of scope
    rennes = _structure(finess_with_key("35000002"))
    assert rennes.name.endswith("PONTCHAILLOU") and rennes.oiv and rennes.phone == "02 99 28 43 21"
    assert rennes.email == "ssi@rennes.example.fr"                                 # what FINESS lacks is kept
    again = runner.invoke(args=["comptes", "import-finess", str(SAMPLE)])
    assert "0 structure créée ; 0 structure mise à jour ; 7 structures inchangées" in again.output
    assert journal.verify() == []


def test_the_import_page_reports_and_only_the_administrator_may_use_it(app, client):
    login(client, ACSS)
    assert post(client, "/admin/structures/import", data={"fichier": (SAMPLE.open("rb"), "finess.csv")},
                content_type="multipart/form-data").status_code == 403
    login(client, ADMIN)
    page = post(client, "/admin/structures/import", data={"fichier": (SAMPLE.open("rb"), "finess.csv")},
                content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "6 structures créées" in html and "2 lignes rejetées" in html
    assert "3 champs au lieu de 31" in html
    assert db.session.scalar(select(func.count(Structure.id))) == 14


def test_a_structure_form_refuses_wrong_keys_and_places_it_by_departement(app, client):
    login(client, ADMIN)
    good = finess_with_key("35000071")
    bad = post(client, "/admin/structures/nouvelle", data={
        "name": "CH de Vitré", "finess_ej": "350000710", "finess_et": good, "kind": "etablissement_sante",
        "department": "29"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Le numéro FINESS entité juridique doit compter 9 caractères" in html
    assert "Le numéro FINESS de l&#39;établissement ne commence pas par ce département." in html
    assert _structure(good) is None
    ok = post(client, "/admin/structures/nouvelle", data={
        "name": "CH de Vitré", "finess_ej": finess_with_key("35000070"), "finess_et": good, "kind": "etablissement_sante",
        "department": "35", "email": "ssi@ch-vitre.example.fr", "phone": "02 99 74 14 14"})
    assert ok.status_code == 302
    assert _structure(good).region == "Bretagne"
    duplicate = post(client, "/admin/structures/nouvelle", data={
        "name": "Doublon", "finess_ej": finess_with_key("35000070"), "finess_et": good, "kind": "laboratoire",
        "department": "35"})
    assert duplicate.status_code == 422 and "déjà celui de « CH de Vitré »" in duplicate.get_data(as_text=True)


def test_an_invitation_link_sets_the_password_once(app, client):
    login(client, ADMIN)
    created = post(client, "/admin/comptes/nouveau", data={
        "name": "Yves Le Bihan", "email": "Yves.LeBihan@chu-rennes.example.fr", "role": "declarant",
        "structure_id": str(structure_of(DECLARANT).id), "title": "RSSI"})
    assert created.status_code == 302
    newcomer = user("yves.lebihan@chu-rennes.example.fr")
    assert newcomer.password_hash == "!"
    token = _link_token(newcomer.email)
    anonymous = app.test_client()
    assert anonymous.get(f"/mot-de-passe/{token}").status_code == 200
    short = post(anonymous, f"/mot-de-passe/{token}", data={"password": "court", "confirmation": "court"})
    assert short.status_code == 422 and "au moins 12 caractères" in short.get_data(as_text=True)
    chosen = "Une phrase de passe solide 2026"
    done = post(anonymous, f"/mot-de-passe/{token}", data={"password": chosen, "confirmation": chosen})
    assert done.status_code == 303
    assert login(anonymous, newcomer.email, chosen).status_code == 302
    again = post(app.test_client(), f"/mot-de-passe/{token}", data={"password": chosen + "!", "confirmation": chosen + "!"})
    assert again.status_code == 410 and "n'est plus valable" in again.get_data(as_text=True)
    # The administrator sees that a link was sent, never the link itself.
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "lien_mot_de_passe"))
    assert token not in client.get(f"/admin/messages/{row.id}").get_data(as_text=True)
    assert [e.action for e in journal.history("user", newcomer.id)] == ["mot_de_passe_defini", "lien_envoye", "compte_cree"]


def test_a_reset_link_expires_and_a_newer_one_replaces_it(app, client, clock):
    login(client, ADMIN)
    target = user(DECLARANT)
    post(client, f"/admin/comptes/{target.id}/lien")
    first = _link_token(DECLARANT)
    post(client, f"/admin/comptes/{target.id}/lien")
    second = _link_token(DECLARANT)
    assert first != second
    assert app.test_client().get(f"/mot-de-passe/{first}").status_code == 410       # replaced
    clock.advance(hours=2, minutes=1)
    assert app.test_client().get(f"/mot-de-passe/{second}").status_code == 410      # expired
    assert app.test_client().get("/mot-de-passe/" + "x" * 300).status_code in (404, 410)


def test_deactivation_and_a_change_of_role_end_the_sessions(app, client):
    declarant = app.test_client()
    login(declarant, DECLARANT)
    assert declarant.get("/boite").status_code == 200
    login(client, ADMIN)
    target = user(DECLARANT)
    assert post(client, f"/admin/comptes/{target.id}/etat", data={"actif": "0"}).status_code == 303
    assert declarant.get("/boite").status_code != 200
    assert db.session.scalar(select(func.count(LoginSession.id)).where(LoginSession.user_id == target.id,
                                                                       LoginSession.revoked_at.is_(None))) == 0
    assert login(app.test_client(), DECLARANT).status_code != 302                   # cannot log in again
    post(client, f"/admin/comptes/{target.id}/etat", data={"actif": "1"})
    analyst = app.test_client()
    login(analyst, ACSS)
    acss = user(ACSS)
    moved = post(client, f"/admin/comptes/{acss.id}", data={"name": acss.name, "email": acss.email, "role": "ars",
                                                           "region": "Bretagne"})
    assert moved.status_code == 302
    assert analyst.get("/boite").status_code != 200                                  # what they may see changed
    assert post(client, f"/admin/comptes/{user(ADMIN).id}/etat", data={"actif": "0"}).status_code == 303
    assert user(ADMIN).active                                                       # not themself


def test_forgotten_password_answers_alike_and_limits_links(app, client):
    def ask(email):
        return post(client, "/mot-de-passe-oublie", data={"email": email}).get_data(as_text=True)

    def links():
        return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "lien_mot_de_passe"))

    unknown, known = ask("personne@nulle-part.example.fr"), ask(DECLARANT.upper())
    assert links() == 1
    strip = lambda html: re.sub(r'name="csrf_token" value="[^"]*"', "", html)
    assert strip(unknown) == strip(known)
    ask(DECLARANT)
    assert links() == 1                                                              # one per five minutes


def test_only_the_administrator_manages_accounts(app, client):
    assert client.get("/admin/comptes").status_code in (302, 401)
    login(client, ACSS)
    for url in ("/admin/comptes", "/admin/structures", "/admin/journal-des-comptes", "/admin/comptes/nouveau"):
        assert client.get(url).status_code == 403
    assert post(client, "/admin/comptes/nouveau", data={"name": "X", "email": "x@x.example.fr", "role": "admin"}).status_code == 403
    assert db.session.scalar(select(User).where(User.email == "x@x.example.fr")) is None
    login(client, ADMIN)
    bad = post(client, "/admin/comptes/nouveau", data={"name": "X", "email": "pas-une-adresse", "role": "roi",
                                                     "structure_id": "99999999999999"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "Adresse électronique invalide." in html and "Choisissez un rôle de la liste." in html
    assert client.get("/admin/comptes/2147483647").status_code == 404


def test_the_account_journal_is_chained_and_shows_tampering(app, client, backend):
    login(client, ADMIN)
    post(client, f"/admin/comptes/{user(DECLARANT).id}/lien")
    assert journal.verify() == []
    assert "Chaînage vérifié" in client.get("/admin/journal-des-comptes").get_data(as_text=True)
    victim = db.session.scalar(select(AccountEvent).where(AccountEvent.action == "compte_cree").limit(1))
    victim_id, actor = victim.id, victim.actor
    db.session.execute(text("UPDATE account_events SET actor = 'quelqu''un d''autre' WHERE id = :id"), {"id": victim_id})
    db.session.commit()
    assert journal.verify() == [f"Entrée {victim_id} : contenu modifié après son enregistrement."]
    db.session.execute(text("UPDATE account_events SET actor = :a WHERE id = :id"), {"a": actor, "id": victim_id})
    db.session.execute(text("DELETE FROM account_events WHERE id = :id"), {"id": victim_id + 1})
    db.session.commit()
    db.session.expire_all()
    assert journal.verify() == [f"Entrée {victim_id + 2} : le chaînage ne suit pas l'entrée précédente "
                                "(suppression ou insertion)."]
    assert "Le chaînage du journal est rompu" in client.get("/admin/journal-des-comptes").get_data(as_text=True)
