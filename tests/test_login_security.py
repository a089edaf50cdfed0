"""Login that holds (atomic throttle shared in the database, one answer for every failure, sessions held
server-side), request size limits, no-store and proxy settings: against a real server where it matters."""
from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

import live_server
from app import create_app
from cli import scenarios
from models import Draft, LoginSession, LoginThrottle, ProcessDefinition, db
from web.auth import login as auth
from web.auth import login_sessions
from web.auth import login_throttle as throttle
from test_web_support import (ACSS, ADMIN, ARS_BRETAGNE, AUDITEUR, DECLARANT, PASSWORD, csrf, login, open_task,
                              post, user)

FAST = {"LOGIN_DELAY_BASE_S": 0.05, "LOGIN_DELAY_MAX_S": 0.2, "LOGIN_IP_MAX_FAILURES": 100}


def proxied_app(app, **extra):
    """A second application on the same database, behind one trusted reverse proxy (TRUSTED_PROXIES=1)."""
    config = {key: app.config[key] for key in ("TESTING", "SQLALCHEMY_DATABASE_URI", "SECRET_KEY")}
    config.update(CLOCK=app.extensions["clock"], SCHEDULER_ENABLED=False, TRUSTED_PROXIES=1, **FAST)
    config.update(extra)
    return create_app(config)


@pytest.fixture
def server(app):
    """The application behind a trusted proxy, served over real HTTP from a thread: (host, port)."""
    app.config.update(FAST)
    proxied = proxied_app(app)
    with live_server.served(proxied) as where:
        yield where
    with proxied.app_context():
        db.engine.dispose()


def _request(where, method, path, body="", headers=None):
    connection = http.client.HTTPConnection(*where, timeout=60)
    connection.request(method, path, body=body.encode(), headers=headers or {})
    response = connection.getresponse()
    result = (response.status, response.read().decode(), dict(response.getheaders()))
    connection.close()
    return result


def login_form(where) -> dict:
    """Headers carrying a fresh session cookie, and the CSRF token of the login form as `token`."""
    _, page, headers = _request(where, "GET", "/connexion")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return {"Cookie": cookie, "token": token}


def guess(where, form, email, password, address):
    """One login POST from a client address (X-Forwarded-For through the trusted proxy)."""
    body = f"email={email}&password={password}&csrf_token={form['token']}"
    return _request(where, "POST", "/connexion", body, {
        "Cookie": form["Cookie"], "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": address})


def pair_count(email, address) -> int:
    """Attempts counted for an account from an address."""
    db.session.expire_all()
    return db.session.scalar(select(LoginThrottle.failures)
                             .where(LoginThrottle.key == throttle.key("paire", email, address))) or 0


def normalized(page: str, email: str) -> str:
    """A login page without what legitimately differs: the e-mail typed and the signed CSRF token."""
    return re.sub(r'name="csrf_token" value="[^"]+"', "", page).replace(email, "EMAIL")


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting its verifications."""

    calls = 0

    def verify(self, hash, password):
        type(self).calls += 1
        return super().verify(hash, password)


def test_forty_parallel_guesses_lock_like_five_sequential_ones(server):
    form = login_form(server)
    sequential = [guess(server, form, ACSS, "mauvais", "10.1.1.1") for _ in range(5)]
    with ThreadPoolExecutor(max_workers=40) as pool:
        parallel = list(pool.map(lambda n: guess(server, form, ARS_BRETAGNE, f"mauvais{n}", "10.2.2.2"), range(40)))
    assert {status for status, _, _ in sequential + parallel} == {401}
    assert all(auth.GENERIC_FAILURE.replace("'", "&#39;") in page for _, page, _ in sequential + parallel)
    # Exactly five attempts were counted (and checked) in both cases: the other 35 were refused unchecked.
    assert pair_count(ACSS, "10.1.1.1") == 5 and pair_count(ARS_BRETAGNE, "10.2.2.2") == 5
    for email, address in ((ACSS, "10.1.1.1"), (ARS_BRETAGNE, "10.2.2.2")):
        assert guess(server, form, email, PASSWORD, address)[0] == 401  # even the right password
        assert guess(server, login_form(server), email, PASSWORD, "10.9.9.9")[0] == 302  # the owner elsewhere


def test_unknown_wrong_and_locked_answer_alike(client, app):
    app.config.update(FAST)
    for _ in range(5):
        login(client, DECLARANT, "mauvais")
    tries = {"unknown": ("personne@chu-rennes.example.fr", PASSWORD), "wrong": (ACSS, "mauvais"),
             "locked": (DECLARANT, PASSWORD)}
    answers = {name: (email, login(client, email, password)) for name, (email, password) in tries.items()}
    assert {r.status_code for _, r in answers.values()} == {401}
    pages = {name: normalized(r.text, email) for name, (email, r) in answers.items()}
    assert pages["unknown"] == pages["wrong"] == pages["locked"]
    assert "incorrect" in pages["locked"] and "bloqué" not in pages["locked"]


def test_every_failure_path_runs_one_argon2_verification(client, app, monkeypatch):
    app.config.update(FAST)
    monkeypatch.setattr(auth, "_hasher", CountingHasher())
    for _ in range(5):
        login(client, DECLARANT, "mauvais")
    inactive = user(ADMIN)
    inactive.active = False
    db.session.commit()
    for email, password in (("personne@example.fr", "x"), (ACSS, "mauvais"), (DECLARANT, PASSWORD), (ADMIN, PASSWORD)):
        before = CountingHasher.calls
        assert login(client, email, password).status_code == 401
        assert CountingHasher.calls - before == 1, email


def test_a_stranger_cannot_lock_the_owner_out(client, app):
    app.config.update(FAST)
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    for _ in range(8):
        client.post("/connexion", data={"email": ACSS, "password": "x", "csrf_token": csrf(client)},
                    environ_base=stranger)
    assert pair_count(ACSS, "203.0.113.9") == 5
    owner = app.test_client()
    started = time.monotonic()
    response = owner.post("/connexion", data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(owner)},
                          environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert response.status_code == 302  # delayed, not refused
    assert time.monotonic() - started >= FAST["LOGIN_DELAY_MAX_S"]  # 8 failures: 0.05 x 2^3 capped at 0.2 s


def test_unknown_emails_count_like_known_ones(client, app, clock):
    app.config.update(FAST)
    for email in ("personne@example.fr", ACSS):
        for _ in range(6):
            login(client, email, "x")
    for email in ("personne@example.fr", ACSS):
        assert pair_count(email, "127.0.0.1") == 5
        assert throttle.count(throttle.key("compte", email), clock.now()) == 6


def test_address_throttle_answers_429_with_retry_after(client, app, clock):
    app.config.update(FAST, LOGIN_IP_MAX_FAILURES=3)
    for n in range(3):
        assert login(client, f"inconnu{n}@example.fr", "x").status_code == 401
    response = login(client, ACSS)
    assert response.status_code == 429 and "Trop de tentatives de connexion depuis cette adresse" in response.text
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    api = client.post("/connexion", data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(client)},
                      headers={"Accept": "application/json"})
    assert api.status_code == 429 and api.json["statut"] == 429 and "Retry-After" in api.headers
    other = app.test_client()
    assert other.post("/connexion", data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(other)},
                      environ_base={"REMOTE_ADDR": "192.0.2.20"}).status_code == 302
    clock.advance(minutes=16)
    assert login(client, ACSS).status_code == 302


def test_forwarded_for_is_trusted_only_behind_a_configured_proxy(client, app):
    app.config.update(FAST, LOGIN_IP_MAX_FAILURES=3)
    for n in range(3):  # no proxy configured: the header is ignored, all from 127.0.0.1
        client.post("/connexion", data={"email": f"x{n}@example.fr", "password": "x", "csrf_token": csrf(client)},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"})
    assert login(client, ACSS).status_code == 429
    behind = proxied_app(app, LOGIN_IP_MAX_FAILURES=3).test_client()
    for n in range(5):  # behind the proxy: one address each, none throttled
        response = behind.post("/connexion", data={"email": f"y{n}@example.fr", "password": "x",
                                                   "csrf_token": csrf(behind)},
                               headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == 401
    assert behind.post("/connexion", data={"email": ACSS, "password": PASSWORD, "csrf_token": csrf(behind)},
                       headers={"X-Forwarded-For": "198.51.100.77"}).status_code == 302


def test_logout_revokes_a_copied_cookie(client, app):
    login(client, AUDITEUR)
    assert client.get("/audit/").status_code == 200
    copy = client.get_cookie("session").value
    assert post(client, "/deconnexion").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copy)
    response = thief.get("/audit/")
    assert response.status_code == 302 and "/connexion" in response.location
    assert db.session.scalar(select(func.count()).select_from(LoginSession)
                             .where(LoginSession.revoked_at.is_(None))) == 0


def _two_sessions(app, email):
    clients = [app.test_client(), app.test_client()]
    for c in clients:
        login(c, email)
        assert c.get("/boite").status_code == 200
    return clients


def test_password_change_and_deactivation_end_every_session(app):
    clients = _two_sessions(app, ACSS)
    login_sessions.change_password(user(ACSS), auth.hash_password("nouveau-mot-de-passe"))
    assert [c.get("/boite").status_code for c in clients] == [302, 302]
    clients = _two_sessions(app, ARS_BRETAGNE)
    login_sessions.deactivate(user(ARS_BRETAGNE))
    assert [c.get("/boite").status_code for c in clients] == [302, 302]
    clients = _two_sessions(app, DECLARANT)  # a password changed behind the application's back too
    user(DECLARANT).password_hash = auth.hash_password("autre")
    db.session.commit()
    assert [c.get("/boite").status_code for c in clients] == [302, 302]


def test_idle_and_old_sessions_end(client, app, clock):
    app.config["SESSION_CLOCK"] = clock
    login(client, ACSS)
    clock.advance(minutes=61)
    assert client.get("/boite").status_code == 302
    login(client, ACSS)
    statuses = []
    for _ in range(10):  # active every 50 minutes, yet ended after 8 hours
        clock.advance(minutes=50)
        statuses.append(client.get("/boite").status_code)
    assert statuses == [200] * 9 + [302]


def test_a_200_mb_request_is_refused_before_its_body_is_read(server):
    for accept, marker in (("text/html", "trop volumineuses"), ("application/json", '"statut":413')):
        sock = socket.create_connection(server, timeout=10)
        sock.sendall(b"POST /connexion HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Accept: " + accept.encode() + b"\r\nContent-Length: 209715200\r\n\r\nemail=a")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = sock.recv(65536)  # the server answers without waiting for the 200 MB (timeout: 10 s)
            if not chunk:
                break
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert marker in answer.decode()


def test_a_draft_over_a_field_limit_is_refused_and_nothing_is_stored(client, clock):
    dossier, _ = scenarios.run("grave_acss", clock, until="p2_ouvrir")
    row = open_task(dossier.id, "p2_ouvrir")
    login(client, ACSS)
    over = post(client, f"/taches/{row.id}", {"action": "brouillon", "analyste_referent": "a" * 201})
    assert over.status_code == 422 and "Analyste référent" in over.text and "200 caractères" in over.text
    huge = post(client, f"/taches/{row.id}", {"action": "valider", "commentaire_ouverture": "b" * 20_001})
    assert huge.status_code == 422
    api = post(client, f"/taches/{row.id}", {"action": "brouillon", "analyste_referent": "a" * 201},
               headers={"Accept": "application/json"})
    assert api.status_code == 422 and api.json["statut"] == 422
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0
    assert post(client, f"/taches/{row.id}", {"action": "brouillon", "analyste_referent": "a" * 200}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 1


def test_no_store_on_personal_data_and_downloads(client, clock, app):
    dossier, _ = scenarios.run("grave_acss", clock, until="p4_accompagner")
    login(client, ACSS)
    pages = [client.get(f"/dossiers/{dossier.id}"), client.get(f"/dossiers/{dossier.id}/diagram.bpmn")]
    login(client, AUDITEUR)
    pages += [client.get(f"/audit/export.csv?dossier={dossier.number}"),
              client.get(f"/audit/export.xes?dossier={dossier.number}")]
    login(client, ADMIN)
    definition = db.session.scalar(select(ProcessDefinition.id))
    pages.append(client.get(f"/admin/processus/{definition}.bpmn"))
    assert [p.status_code for p in pages] == [200] * 5
    assert all(p.headers["Cache-Control"] == "no-store" for p in pages)
    asset = client.get("/static/css/app.css")
    assert asset.status_code == 200 and "no-store" not in asset.headers.get("Cache-Control", "")


def test_hsts_only_over_https_behind_a_configured_proxy(client, app):
    https = {"X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" not in client.get("/connexion", headers=https).headers  # no proxy: ignored
    behind = proxied_app(app).test_client()
    assert behind.get("/connexion", headers=https).headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in behind.get("/connexion").headers


def test_a_multipart_field_over_256_kib_is_refused_with_413(client):
    response = client.post("/connexion", data={"email": "a" * 300 * 1024, "password": "x", "csrf_token": csrf(client)},
                           content_type="multipart/form-data")  # werkzeug applies it to multipart fields
    assert response.status_code == 413 and "256 Kio par champ" in response.text
    assert client.post("/connexion", data={"email": "a" * 2048 * 1024}).status_code == 413  # over 1 MiB
