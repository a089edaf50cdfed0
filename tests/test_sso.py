"""Single sign-on against a real OpenID Connect provider (npm `oidc-provider`, started by these tests):
known agents log in and are bound by subject; unknown people, wrong roles, a tampered nonce, a code or an ID
token issued to another client, and a provider that does not answer are all refused in French."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc.errors import JoseError
from sqlalchemy import func, select

from accounts import identities
from models import User, UserIdentity, db
from test_web_support import ACSS, DECLARANT, user
from web.auth import sso

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = ["ars", "acss", "hfds", "dgs", "armees", "auditeur", "responsable_processus", "admin"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def issuer():
    """The provider, with two clients: this platform and another service of the same federation."""
    if not shutil.which("node") or not (ROOT / "node_modules" / "oidc-provider").exists():
        message = "oidc-provider absent (lancez `npm ci`) : les tests d'authentification unique sont ignorés"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    ours = [f"http://localhost/sso/{name}/retour" for name in ("proconnect", "psc")]
    clients = [{"client_id": "signalement", "client_secret": "secret-signalement", "redirect_uris": ours},
               {"client_id": "autre-service", "client_secret": "secret-autre",
                "redirect_uris": ["http://localhost/sso/autre/retour"]}]
    process = subprocess.Popen(["node", str(ROOT / "tests" / "oidc_provider.mjs")], cwd=ROOT, text=True,
                               env={**os.environ, "OIDC_PORT": str(port), "OIDC_CLIENTS": json.dumps(clients)},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout.readline().strip() == "pret"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def sso_app(app, issuer):
    """The application with three providers configured on the local one."""
    metadata = f"{issuer}/.well-known/openid-configuration"
    app.config["OIDC_PROVIDERS"] = {
        "proconnect": {"label": "ProConnect", "metadata_url": metadata, "client_id": "signalement",
                       "client_secret": "secret-signalement", "roles": NATIONAL},
        "psc": {"label": "Pro Santé Connect", "metadata_url": metadata, "client_id": "signalement",
                "client_secret": "secret-signalement", "roles": ["declarant"]},
        "autre": {"label": "Autre service", "metadata_url": metadata, "client_id": "autre-service",
                  "client_secret": "secret-autre"},
    }
    sso.init_app(app)
    return app


def through_provider(location: str, login: str) -> str:
    """Play the browser at the provider: log in as `login`; return our callback address (path and query)."""
    browser = requests.Session()
    response = browser.get(location, allow_redirects=False, timeout=10)
    for _ in range(10):
        if response.status_code in (302, 303):
            target = urljoin(response.url, response.headers["Location"])
            if target.startswith("http://localhost/"):
                parts = urlsplit(target)
                return f"{parts.path}?{parts.query}"
            response = browser.get(target, allow_redirects=False, timeout=10)
            continue
        action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', response.text).group(1))
        prompt = re.search(r'name="prompt" value="(\w+)"', response.text).group(1)
        data = {"prompt": prompt, "login": login, "password": "x"} if prompt == "login" else {"prompt": prompt}
        response = browser.post(urljoin(response.url, action), data=data, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back")


def start(client, provider: str) -> str:
    response = client.get(f"/sso/{provider}")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    return response.headers["Location"]


def logged_in(client) -> bool:
    return client.get("/boite").status_code == 200


def test_a_known_agent_logs_in_and_stays_bound_by_subject(sso_app):
    client = sso_app.test_client()
    assert "ProConnect" in client.get("/connexion").get_data(as_text=True)
    answer = client.get(through_provider(start(client, "proconnect"), ACSS))
    assert answer.status_code == 302 and logged_in(client)
    bound = db.session.scalar(select(UserIdentity).where(UserIdentity.provider == "proconnect"))
    assert (bound.subject, bound.user_id) == (ACSS, user(ACSS).id)
    # The account's address changes: the binding by subject still finds it; nobody else is created.
    user(ACSS).email = "karim.benali@esante.example.fr"
    db.session.commit()
    again = sso_app.test_client()
    assert again.get(through_provider(start(again, "proconnect"), ACSS)).status_code == 302 and logged_in(again)
    assert db.session.scalar(select(func.count(User.id))) == 21


def test_unknown_people_and_wrong_roles_are_refused_without_an_account(sso_app):
    client = sso_app.test_client()
    refused = client.get(through_provider(start(client, "proconnect"), "inconnu@ars.example.fr"))
    assert refused.status_code == 403 and not logged_in(client)
    assert "Aucun compte de la plateforme ne correspond" in refused.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "inconnu@ars.example.fr")) is None
    wrong = client.get(through_provider(start(client, "proconnect"), DECLARANT))      # a declarant via ProConnect
    assert wrong.status_code == 403 and identities.REFUSED_ROLE in html.unescape(wrong.get_data(as_text=True))
    unverified = client.get(through_provider(start(client, "psc"), "non-verifie:" + DECLARANT))
    assert unverified.status_code == 403 and not logged_in(client)
    assert client.get(through_provider(start(client, "psc"), DECLARANT)).status_code == 302 and logged_in(client)
    assert db.session.scalar(select(func.count(UserIdentity.id))) == 1


def test_a_tampered_nonce_is_refused(sso_app):
    client = sso_app.test_client()
    location = start(client, "proconnect")
    state = parse_qs(urlsplit(location).query)["state"][0]
    with client.session_transaction() as session:
        session[f"_state_proconnect_{state}"]["data"]["nonce"] = "un-autre-nonce"
        session.modified = True
    refused = client.get(through_provider(location, ACSS))
    assert refused.status_code == 401 and not logged_in(client)
    assert "n&#39;a pas abouti" in refused.get_data(as_text=True) or "n'a pas abouti" in refused.get_data(as_text=True)


def test_a_code_or_an_id_token_issued_to_another_client_is_refused(sso_app, issuer):
    client = sso_app.test_client()
    other = through_provider(start(client, "autre"), ACSS)           # a code issued to « autre-service »
    other_query = parse_qs(urlsplit(other).query)
    ours = parse_qs(urlsplit(start(client, "proconnect")).query)["state"][0]
    swapped = client.get(f"/sso/proconnect/retour?code={other_query['code'][0]}&state={ours}")
    assert swapped.status_code == 401 and not logged_in(client)
    # A genuine ID token of the other client (its own flow, redeemed by it) is refused for our audience.
    client = sso_app.test_client()
    other = through_provider(start(client, "autre"), ACSS)
    query = parse_qs(urlsplit(other).query)
    with client.session_transaction() as session:
        data = session[f"_state_autre_{query['state'][0]}"]["data"]
    token = requests.post(f"{issuer}/token", auth=("autre-service", "secret-autre"), timeout=10, data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": data["redirect_uri"],
        "code_verifier": data["code_verifier"]}).json()
    assert "id_token" in token
    assert sso.identity_claims("autre", token, data["nonce"])["sub"] == ACSS
    # aud is « autre-service », not our client id: Authlib refuses it (then asks in vain for an azp naming us).
    with pytest.raises(JoseError, match="aud|azp"):
        sso.identity_claims("proconnect", token, data["nonce"])


def test_a_replayed_answer_and_an_absent_provider_are_refused(sso_app):
    client = sso_app.test_client()
    answer = through_provider(start(client, "proconnect"), ACSS)
    assert client.get(answer).status_code == 302
    replay = sso_app.test_client()
    assert replay.get(answer).status_code == 401 and not logged_in(replay)
    assert replay.get("/sso/inconnu").status_code == 404
    sso_app.config["OIDC_PROVIDERS"]["eteint"] = {"metadata_url": f"http://127.0.0.1:{_free_port()}/.well-known/x",
                                                  "client_id": "x", "client_secret": "y"}
    sso.init_app(sso_app)
    down = replay.get("/sso/eteint")
    assert down.status_code == 503 and "ne répond pas" in down.get_data(as_text=True)
