"""Nothing typed is lost: the autosave endpoint (CSRF, ownership, limits, restore), a form posted after the
session ended or with a stale CSRF token, and the loser of a completion race."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select, update

from cli import scenarios
from models import Draft, LoginSession, TaskRow, User, db
from timekeeping.clock import FrozenClock
from test_web_support import (ACSS, ARS_BRETAGNE, DECLARANT, DECLARANT_METZ, PASSWORD, csrf, login, open_task, post,
                              sent_statements, structure_of, user)
from web.auth.login import hash_password
from web.auth.login_sessions import change_password

ACSS_BIS = "seconde.analyste@acss.example.fr"


def second_analyst() -> User:
    """A second Cellule ACSS analyst, to race the first one and to try reading her drafts."""
    other = User(email=ACSS_BIS, name="Claire Seconde", password_hash=hash_password(PASSWORD), role="acss")
    db.session.add(other)
    db.session.commit()
    return other


def autosave(client, key: str, values, token: str | None = "jeton"):
    """POST the autosave JSON as autosave.js does (X-CSRFToken header)."""
    headers = {"Accept": "application/json"}
    if token:
        headers["X-CSRFToken"] = csrf(client)
    return client.post(f"/brouillons/{key}", json={"valeurs": values}, headers=headers)


def draft_of(task_id: str, email: str) -> dict | None:
    db.session.expire_all()
    return db.session.scalar(select(Draft.data).where(Draft.task_id == task_id, Draft.user_id == user(email).id))


def end_sessions(email: str) -> None:
    """The session ends server-side (as after the idle timeout): the cookie still names it."""
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user(email).id)
                       .values(revoked_at=datetime.now(timezone.utc)))
    db.session.commit()


def opening_task(clock) -> TaskRow:
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    return open_task(dossier.id, "p2_ouvrir")


def test_autosave_needs_the_csrf_token_and_keeps_only_known_fields_within_limits(client, clock):
    row = opening_task(clock)
    login(client, ACSS)
    refused = autosave(client, row.id, {"commentaire_ouverture": "texte"}, token=None)
    assert refused.status_code == 400 and "jeton de sécurité" in refused.json["message"]
    assert draft_of(row.id, ACSS) is None
    saved = autosave(client, row.id, {"commentaire_ouverture": "Premier échange avec le RSSI", "inconnu": "x",
                                      "analyste_referent": "Karim Benali"})
    assert saved.status_code == 200 and saved.json["champs"] == 2
    assert draft_of(row.id, ACSS) == {"commentaire_ouverture": "Premier échange avec le RSSI",
                                      "analyste_referent": "Karim Benali"}
    # Restore: the form opens with the draft; the JSON read gives it back to its author.
    page = client.get(f"/taches/{row.id}").text
    assert "Premier échange avec le RSSI" in page and "Brouillon du" in page and 'data-brouillon="/brouillons/' in page
    assert client.get(f"/brouillons/{row.id}").json["valeurs"]["commentaire_ouverture"] == "Premier échange avec le RSSI"
    # Hostile shapes: not JSON, not text, a field over its maxLength, a NUL; nothing stored changes.
    assert client.post(f"/brouillons/{row.id}", data="x", headers={"X-CSRFToken": csrf(client),
                                                                  "Accept": "application/json"}).status_code == 400
    assert autosave(client, row.id, {"commentaire_ouverture": {"a": 1}}).status_code == 400
    assert autosave(client, row.id, {"commentaire_ouverture": ["a", 3]}).status_code == 400
    assert autosave(client, row.id, {"commentaire_ouverture": "a\x00b"}).status_code == 400
    too_long = autosave(client, row.id, {"analyste_referent": "a" * 201})
    assert too_long.status_code == 422 and "200 caractères" in too_long.json["message"]
    assert client.post(f"/brouillons/{row.id}", json=["x"], headers={"X-CSRFToken": csrf(client),
                                                                     "Accept": "application/json"}).status_code == 400
    assert draft_of(row.id, ACSS)["commentaire_ouverture"] == "Premier échange avec le RSSI"


def test_another_user_can_neither_read_nor_write_my_draft(client, clock):
    row = opening_task(clock)
    second_analyst()
    login(client, ACSS)
    assert autosave(client, row.id, {"commentaire_ouverture": "MA-NOTE-PRIVEE"}).status_code == 200
    # A colleague of the same role works the same task with her own draft, never mine.
    login(client, ACSS_BIS)
    assert client.get(f"/brouillons/{row.id}").json == {"valeurs": {}, "enregistre": None}
    assert "MA-NOTE-PRIVEE" not in client.get(f"/taches/{row.id}").text
    assert autosave(client, row.id, {"commentaire_ouverture": "sa note"}).status_code == 200
    assert draft_of(row.id, ACSS) == {"commentaire_ouverture": "MA-NOTE-PRIVEE"}
    # Other roles and scopes: the task answers like a missing one, for reading and writing.
    for email in (ARS_BRETAGNE, DECLARANT):
        login(client, email)
        assert client.get(f"/brouillons/{row.id}", headers={"Accept": "application/json"}).status_code == 404
        assert autosave(client, row.id, {"commentaire_ouverture": "intrus"}).status_code == 404
    assert autosave(client, "inexistante", {"x": "y"}).status_code == 404
    assert draft_of(row.id, ACSS) == {"commentaire_ouverture": "MA-NOTE-PRIVEE"}
    # Anonymous: 401, nothing written.
    client.post("/deconnexion", data={"csrf_token": csrf(client)})
    assert autosave(client, row.id, {"commentaire_ouverture": "anonyme"}).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 2


def test_the_declaration_first_step_autosaves_for_its_author_only(client, clock):
    login(client, DECLARANT)
    finess = structure_of(DECLARANT).finess_et
    saved = autosave(client, "declaration", {"elements_concernes": "Serveur de fichiers du laboratoire",
                                             "finess_site": finess + "999"})
    assert saved.status_code == 200
    page = client.get("/declarer").text
    assert "Serveur de fichiers du laboratoire" in page and "reprise" in page
    assert f'value="{finess}"' in page  # the FINESS is cut to its 9 characters
    login(client, DECLARANT_METZ)
    assert "Serveur de fichiers du laboratoire" not in client.get("/declarer").text
    login(client, ACSS)
    assert autosave(client, "declaration", {"elements_concernes": "x"}).status_code == 404
    # Once the dossier is opened, the first step's draft has done its job.
    login(client, DECLARANT)
    response = post(client, "/declarer", {"elements_concernes": "Serveur de fichiers du laboratoire",
                                          "perimetre": scenarios.PERIMETRE["perimetre"], "finess_site": finess,
                                          "action": "brouillon"})
    assert response.status_code == 302
    assert draft_of("declaration", DECLARANT) is None


def test_a_form_posted_after_the_session_ended_comes_back_after_login(client, clock):
    row = opening_task(clock)
    login(client, ACSS)
    assert client.get(f"/taches/{row.id}").status_code == 200
    end_sessions(ACSS)
    response = post(client, f"/taches/{row.id}", {"commentaire_ouverture": "Texte tapé pendant une heure",
                                                  "analyste_referent": "Karim Benali", "action": "valider"})
    assert response.status_code == 302 and "/connexion" in response.location and "conservee=1" in response.location
    login_page = client.get(response.location).text
    assert "votre saisie est conservée" in login_page
    assert open_task(row.dossier_id, "p2_ouvrir") is not None  # nothing was validated
    # Logging in again leads back to the form, as it was left.
    again = client.post("/connexion", data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(client),
                                            "next": f"/taches/{row.id}"})
    assert again.status_code == 302 and again.location.endswith(f"/taches/{row.id}")
    assert "Texte tapé pendant une heure" in client.get(again.location).text
    # The autosave of an ended session is kept too, and says so.
    end_sessions(ACSS)
    late = autosave(client, row.id, {"commentaire_ouverture": "Dernière phrase"})
    assert late.status_code == 401 and "conservée" in late.json["message"]
    assert draft_of(row.id, ACSS)["commentaire_ouverture"] == "Dernière phrase"


def test_after_a_password_change_the_old_cookie_writes_nothing(client, clock):
    row = opening_task(clock)
    login(client, ACSS)
    change_password(user(ACSS), hash_password("nouveau-mot-de-passe-long"))
    response = post(client, f"/taches/{row.id}", {"commentaire_ouverture": "écrit par qui ?", "action": "valider"})
    assert response.status_code == 302 and "conservee" not in response.location
    assert draft_of(row.id, ACSS) is None


def test_a_stale_csrf_token_keeps_the_text_and_validates_nothing(client, clock):
    row = opening_task(clock)
    login(client, ACSS)
    forged = client.post(f"/taches/{row.id}", data={"commentaire_ouverture": "FORGE", "csrf_token": "perime"},
                         headers={"Origin": "http://ailleurs.example"})
    assert forged.status_code == 400 and draft_of(row.id, ACSS) is None  # from another site: refused, nothing kept
    response = client.post(f"/taches/{row.id}", data={"commentaire_ouverture": "Saisie longue", "action": "valider",
                                                      "analyste_referent": "Karim Benali", "csrf_token": "perime"},
                           headers={"Origin": "http://localhost"})
    assert response.status_code == 302 and response.location.endswith(f"/taches/{row.id}")
    page = client.get(response.location).text
    assert "jeton de sécurité du formulaire avait expiré" in page and "Saisie longue" in page
    assert open_task(row.dossier_id, "p2_ouvrir") is not None
    # A program gets the precise 400, never a redirect.
    api = client.post(f"/taches/{row.id}", data={"commentaire_ouverture": "x"}, headers={"Accept": "application/json"})
    assert api.status_code == 400


def test_the_loser_of_a_completion_race_keeps_their_text_and_sees_the_winner(app, clock):
    row = opening_task(clock)
    second_analyst()
    first, second = app.test_client(), app.test_client()
    login(first, ACSS)
    login(second, ACSS_BIS)
    assert first.get(f"/taches/{row.id}").status_code == 200 and second.get(f"/taches/{row.id}").status_code == 200
    won = post(first, f"/taches/{row.id}", {"declaration_recuperee": "true", "analyste_referent": "Karim Benali",
                                            "commentaire_ouverture": "GAGNANT : dossier ouvert", "action": "valider"})
    assert won.status_code == 302
    lost = post(second, f"/taches/{row.id}", {"declaration_recuperee": "true", "analyste_referent": "Claire Seconde",
                                              "commentaire_ouverture": "PERDANT : mon analyse détaillée",
                                              "action": "valider"})
    assert lost.status_code == 409
    assert "GAGNANT : dossier ouvert" in lost.text and "PERDANT : mon analyse détaillée" in lost.text
    assert "Votre saisie conservée" in lost.text and "Ce qui a été enregistré par" in lost.text
    assert draft_of(row.id, ACSS_BIS)["commentaire_ouverture"] == "PERDANT : mon analyse détaillée"
    # Reopened later, the task page still gives the loser both.
    page = second.get(f"/taches/{row.id}").text
    assert "PERDANT : mon analyse détaillée" in page and "GAGNANT : dossier ouvert" in page
    # The winner's own draft is gone with the completion; the loser's stays theirs.
    assert draft_of(row.id, ACSS) is None


def test_a_post_after_the_session_ended_on_a_task_completed_meanwhile_is_kept(app, clock):
    row = opening_task(clock)
    second_analyst()
    late, winner = app.test_client(), app.test_client()
    login(late, ACSS_BIS)
    login(winner, ACSS)
    assert post(winner, f"/taches/{row.id}", {"declaration_recuperee": "true", "analyste_referent": "Karim Benali",
                                              "action": "valider"}).status_code == 302
    end_sessions(ACSS_BIS)
    response = post(late, f"/taches/{row.id}", {"commentaire_ouverture": "écrit pendant la pause", "action": "valider"})
    assert response.status_code == 302 and "conservee=1" in response.location
    login(late, ACSS_BIS)
    page = late.get(f"/taches/{row.id}").text
    assert "écrit pendant la pause" in page and "Votre saisie conservée" in page


def test_past_the_idle_timeout_a_post_is_kept_for_the_same_person_only(app, client, clock):
    row = opening_task(clock)
    app.config["SESSION_CLOCK"] = sessions = FrozenClock()
    login(client, ACSS)
    sessions.advance(minutes=app.config.get("SESSION_IDLE_MINUTES", 60) + 1)
    response = post(client, f"/taches/{row.id}", {"commentaire_ouverture": "après la pause déjeuner",
                                                  "action": "valider"})
    assert response.status_code == 302 and "conservee=1" in response.location
    # Someone else logging in on the same browser finds nothing of it.
    second_analyst()
    login(client, ACSS_BIS)
    assert "après la pause déjeuner" not in client.get(f"/taches/{row.id}").text
    login(client, ACSS)
    assert "après la pause déjeuner" in client.get(f"/taches/{row.id}").text


def test_a_completion_removes_its_authors_draft_and_costs_no_statement_without_one(app, clock):
    """The completer's own draft goes with the completion, a colleague's stays; a completer without a draft sends
    no DELETE, and the task row is read once (the engine's state read under the lock refuses a task done
    meanwhile: test_the_loser_of_a_completion_race_keeps_their_text_and_sees_the_winner)."""
    drafted, bare = opening_task(clock), opening_task(clock)
    second_analyst()
    first, colleague = app.test_client(), app.test_client()
    login(first, ACSS)
    login(colleague, ACSS_BIS)
    for row in (drafted, bare):
        first.get(f"/taches/{row.id}")
    assert autosave(first, drafted.id, {"commentaire_ouverture": "mon brouillon"}).status_code == 200
    assert autosave(colleague, drafted.id, {"commentaire_ouverture": "le sien"}).status_code == 200
    sent = []
    with sent_statements() as seen:
        for row in (drafted, bare):
            seen.clear()
            done = post(first, f"/taches/{row.id}", {"declaration_recuperee": "true", "action": "valider",
                                                      "analyste_referent": "Karim Benali"})
            assert done.status_code == 302, done.text
            sent.append(list(seen))
    assert draft_of(drafted.id, ACSS) is None and draft_of(drafted.id, ACSS_BIS) == {"commentaire_ouverture": "le sien"}
    deletes = [[s for s in statements if s.startswith("DELETE FROM drafts")] for statements in sent]
    assert len(deletes[0]) == 1 and deletes[1] == [], deletes
    task_reads = [s for s in sent[1] if s.startswith("SELECT tasks.id, tasks.instance_id")]
    assert len(task_reads) == 1, task_reads
