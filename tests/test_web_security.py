"""Login throttling, sessions, CSRF, escaping, security headers and French error pages."""
from __future__ import annotations

import re

from sqlalchemy import select

from app import create_app
from cli import scenarios
from models import User, db
from test_web_support import (ACSS, DECLARANT, PASSWORD, csrf, dossier_by_number, dossier_number, form_data, login,
                              open_task, post, structure_of, user)


def test_login_logout_and_landing_pages(client):
    response = login(client, ACSS)
    assert response.status_code == 302 and response.location.endswith("/boite")
    page = client.get("/boite")
    assert "Karim Benali" in page.text and "Cellule ACSS" in page.text and "Se déconnecter" in page.text
    assert client.get("/deconnexion").status_code == 405  # logout is a POST with its token
    assert post(client, "/deconnexion").status_code == 302
    assert client.get("/boite").status_code == 302


def test_wrong_password_and_throttling(client, clock):
    for _ in range(5):
        response = login(client, ACSS, "mauvais")
        assert response.status_code == 401 and "incorrect" in response.text
    response = login(client, ACSS, PASSWORD)  # even the right password waits, with the same answer
    assert response.status_code == 401 and "incorrect" in response.text and "bloqué" not in response.text
    clock.advance(minutes=16)
    assert login(client, ACSS, PASSWORD).status_code == 302


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
    api = client.post("/declarer", headers={"Accept": "application/json"})
    assert api.status_code == 400 and api.json["statut"] == 400 and "jeton de sécurité" in api.json["message"]
    assert client.post("/deconnexion", headers={"X-CSRF-Token": csrf(client)}).status_code == 302  # programs


def test_session_cookie_flags(app, client):
    response = login(client, ACSS)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    production = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "SCHEDULER_ENABLED": False})
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


def _urls(app, method: str, values: dict) -> list[str]:
    """Every route of a method with each of its arguments replaced by good, unknown and malformed values."""
    urls = []
    for rule in app.url_map.iter_rules():
        if method not in rule.methods or rule.endpoint in ("static", "vendor", "auth.logout"):
            continue
        combos = [{}]
        for name, converter in rule._converters.items():
            kind = type(converter).__name__.replace("Converter", "").lower()
            combos = [dict(c, **{name: v}) for c in combos for v in values.get(kind, values["default"])]
        for combo in combos:
            url = rule.rule
            for name, value in combo.items():
                url = re.sub(rf"<(?:[^:>]+:)?{name}>", str(value), url)
            urls.append(url)
    return urls


def test_no_route_answers_5xx_to_malformed_input(app, client, clock):
    """Every GET and POST route, anonymously and as every role, with ids that exist, do not exist or
    are malformed, and with malformed query strings and form fields: a page or a 4xx, never a 5xx."""
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    task = open_task(dossier.id, "p4_accompagner")
    values = {"integer": [dossier.id, 999_999, 10 ** 20],
              "default": [dossier.number, task.id, "<script>", "x%00y", "9" * 20, "²"]}
    queries = ["", "?page=abc&tri=zz&etape=-1&echeance=y&prise=z&tache=%00&structure=²",
               "?region=%ff&q=" + "a" * 3000 + "&debut=2026-13-45&structure=" + "9" * 20 + "&page=" + "9" * 5000]
    junk = {"email": "x", "password": "y", "data": "zz", "version": "abc", "expected_version": "x",
            "modalite_appui": "<b>", "structure_id": "abc", "page": "-1", "action": "zz",
            "analyste_referent": "a\x00b", "finess_site": "35000002²", "perimetre-" + "9" * 5000 + "-x": "1"}
    gets, posts = _urls(app, "GET", values), _urls(app, "POST", values)
    gets.remove("/pret")  # readiness answers 503 by design when no scheduler runs (tests/test_production.py)
    failures = []
    one_per_role = {u.role: u.email for u in db.session.scalars(select(User).order_by(User.id.desc()))}
    for email in [None, *one_per_role.values()]:
        if email:
            login(client, email)
        else:
            client.get("/connexion")  # a session with a CSRF token, no user
        for url in gets:
            for query in queries:
                if (status := client.get(url + query).status_code) >= 500:
                    failures.append(f"GET {url}{query[:40]} ({email}): {status}")
        for url in posts:
            if (status := client.post(url, data=dict(junk, csrf_token=csrf(client))).status_code) >= 500:
                failures.append(f"POST {url} ({email}): {status}")
    assert len(gets) > 30 and len(posts) > 10
    assert failures == []


def test_a_nul_character_is_refused_with_a_clear_400(client, clock):
    login(client, ACSS)
    page = client.get("/dossiers?q=a%00b")
    assert page.status_code == 400 and "caractère nul" in page.text
    api = client.get("/dossiers?q=a%00b", headers={"Accept": "application/json"})
    assert api.status_code == 400 and api.json["statut"] == 400 and "caractère nul" in api.json["message"]
    assert post(client, "/declarer", {"elements_concernes": "x\x00"}).status_code == 400
    assert client.get("/dossiers?q=ab").status_code == 200
