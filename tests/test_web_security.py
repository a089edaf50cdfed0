"""Login throttling, sessions, CSRF, escaping, security headers and French error pages."""
from __future__ import annotations

import scenarios
from app import create_app
from models import User, db
from test_web_support import (ACSS, DECLARANT, PASSWORD, csrf, dossier_by_number, dossier_number, form_data,
                              login, open_task, post, structure_of, user)


def test_login_logout_and_landing_pages(client):
    response = login(client, ACSS)
    assert response.status_code == 302 and response.location.endswith("/boite")
    page = client.get("/boite")
    assert "Karim Benali" in page.text and "Cellule ACSS" in page.text and "Se déconnecter" in page.text
    assert client.get("/deconnexion").status_code == 405  # logout is a POST with its token
    assert post(client, "/deconnexion").status_code == 302
    assert client.get("/boite").status_code == 302


def test_wrong_password_and_throttling(client, clock):
    for _ in range(4):
        response = login(client, ACSS, "mauvais")
        assert response.status_code == 401 and "incorrect" in response.text
    response = login(client, ACSS, "mauvais")
    assert "bloqué" in response.text
    response = login(client, ACSS, PASSWORD)  # even the right password waits
    assert response.status_code == 401 and "bloqué" in response.text
    clock.advance(minutes=16)
    assert login(client, ACSS, PASSWORD).status_code == 302
    assert user(ACSS).failed_logins == 0 and user(ACSS).locked_until is None


def test_unknown_email_and_inactive_account(client):
    assert login(client, "personne@example.fr").status_code == 401
    account = user(ACSS)
    account.active = False
    db.session.commit()
    assert login(client, ACSS).status_code == 401


def test_login_never_redirects_elsewhere(client):
    csrf(client)
    response = client.post("/connexion?next=//evil.example.com/x",
                           data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(client)})
    assert response.location.endswith("/boite")
    login(client, ACSS)
    response = client.post("/connexion?next=/dossiers",
                           data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(client)})
    assert response.location.endswith("/dossiers")


def test_passwords_are_hashed(app):
    assert all(u.password_hash.startswith("$argon2") for u in db.session.scalars(db.select(User)))


def test_csrf_is_required_on_every_post(client, clock):
    response = client.post("/connexion", data={"email": ACSS, "password": PASSWORD})
    assert response.status_code == 400 and "jeton de sécurité" in response.text
    login(client, DECLARANT)
    response = client.post("/declarer", data={"finess_site": structure_of(DECLARANT).finess_et})
    assert response.status_code == 400
    response = client.post("/declarer", data={"csrf_token": "faux"})
    assert response.status_code == 400
    assert client.post("/deconnexion").status_code == 400


def test_session_cookie_flags(app, client):
    response = login(client, ACSS)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    production = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    assert production.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is False  # tests run over plain HTTP


def test_security_headers(client):
    response = client.get("/connexion")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_html_in_a_declaration_is_escaped_everywhere(client, clock):
    login(client, DECLARANT)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = post(client, "/declarer", form_data(dict(scenarios.PERIMETRE, elements_concernes=evil),
                                                   finess_site=structure_of(DECLARANT).finess_et))
    dossier = dossier_by_number(dossier_number(client.get(response.location).text))
    for spec, data in [("p1_impact", scenarios.IMPACT), ("p1_origine", scenarios.ORIGINE),
                       ("p1_formulaire", scenarios.formulaire(titre="Titre " + evil))]:
        row = open_task(dossier.id, spec)
        page = client.get(f"/taches/{row.id}")
        assert "<script>alert" not in page.text
        assert post(client, f"/taches/{row.id}", form_data(data, action="valider")).status_code == 302
    for url in (f"/dossiers/{dossier.id}", "/dossiers", "/boite"):
        login(client, ACSS)
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, url
    page = client.get(f"/dossiers/{dossier.id}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # shown as typed, in the timeline and title
    row = open_task(dossier.id, "p2_ouvrir")
    assert "&lt;script&gt;" in client.get(f"/taches/{row.id}").text  # and in the read-only context


def test_error_pages_are_french_without_stack_trace(app, client):
    @app.route("/test-erreur")
    def boom():
        raise RuntimeError("secret interne")

    login(client, ACSS)
    response = client.get("/test-erreur")
    assert response.status_code == 500
    assert "Erreur interne" in response.text and "secret interne" not in response.text
    assert "Traceback" not in response.text
    response = client.get("/test-erreur", headers={"Accept": "application/json"})
    assert response.status_code == 500 and response.json["statut"] == 500
    assert client.put("/connexion", data={"csrf_token": csrf(client)}).status_code == 405
    assert "Méthode non autorisée" in client.put("/connexion", data={"csrf_token": csrf(client)}).text
