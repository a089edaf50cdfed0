"""One public address: every link mailed is built on PUBLIC_URL (never on the request's Host header), other
hosts get 400, production refuses to start without it, and in development links follow the address served
(scripts/start on another port mails links to that port)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup
from sqlalchemy import select

import app as app_module
from app import create_app
from mail import links
from models import OutboxMessage, db
from production_support import ROOT, Browser, free_port
from test_web_support import ACSS, ADMIN, DECLARANT, csrf, login, post

PUBLIC = "https://signalement.example.fr"


def _links_mailed_to(email: str) -> list[str]:
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "lien_mot_de_passe")
                              .order_by(OutboxMessage.id)).all()
    return [line.strip() for row in rows if email in row.recipients
            for line in row.body_text.splitlines() if "/mot-de-passe/" in line]


def _public(app, *internal):
    app.config.update(PUBLIC_URL=PUBLIC + "/", INTERNAL_HOSTS=["localhost", *internal])
    links.configure(app.config, explicit=True)


def test_a_reset_asked_through_another_host_mails_a_link_on_the_public_address(app, client):
    _public(app, "proxy.interne")
    assert app.config["PUBLIC_URL"] == PUBLIC  # kept without its trailing slash
    # A host the platform does not serve: 400 before any work, nothing queued.
    refused = client.post("/mot-de-passe-oublie", data={"email": DECLARANT, "csrf_token": csrf(client)},
                          headers={"Host": "evil.attacker.example"})
    assert refused.status_code == 400
    assert _links_mailed_to(DECLARANT) == []
    assert client.get("/connexion", headers={"Host": "evil.attacker.example:443"}).status_code == 400
    # A host accepted (an internal name) still never makes the link: PUBLIC_URL does.
    inside = app.test_client()
    form = inside.get("/mot-de-passe-oublie", base_url="http://proxy.interne:8000")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.get_data(as_text=True)).group(1)
    asked = inside.post("/mot-de-passe-oublie", data={"email": DECLARANT, "csrf_token": token},
                        base_url="http://proxy.interne:8000")
    assert asked.status_code == 200
    [link] = _links_mailed_to(DECLARANT)
    assert link.startswith(f"{PUBLIC}/mot-de-passe/"), link


def test_invitations_and_administrator_links_use_the_public_address(app, client, runner):
    _public(app)
    login(client, ADMIN)
    sent = post(client, f"/admin/comptes/{_user_id(ACSS)}/lien")
    assert sent.status_code in (302, 303)
    [link] = _links_mailed_to(ACSS)
    assert link.startswith(f"{PUBLIC}/mot-de-passe/")
    result = runner.invoke(args=["comptes", "creer", "--email", "nouvelle@acss.example.fr", "--nom", "Nouvelle Personne",
                                 "--role", "acss"])
    assert result.exit_code == 0, result.output
    [invitation] = _links_mailed_to("nouvelle@acss.example.fr")
    assert invitation.startswith(f"{PUBLIC}/mot-de-passe/")
    assert links.absolute("/connaissances/fiches/x/v1") == f"{PUBLIC}/connaissances/fiches/x/v1"


def _user_id(email: str) -> int:
    from models import User
    return db.session.scalar(select(User.id).where(User.email == email))


def test_production_refuses_to_start_without_a_public_address(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNALEMENT_ENV", "production")
    monkeypatch.setenv("LOG_FORMAT", "text")
    monkeypatch.setenv("SECRET_KEY", "k")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    with pytest.raises(app_module.ConfigurationError) as missing:
        create_app()
    assert "PUBLIC_URL manquante" in str(missing.value) and "PUBLIC_URL is missing" in str(missing.value)
    for wrong in ("signalement.example.fr", "javascript:alert(1)", "https://x.example/?next=y", "ftp://x.example",
                  "https://user:pw@x.example", "https://x.example:99999"):
        monkeypatch.setenv("PUBLIC_URL", wrong)
        with pytest.raises(app_module.ConfigurationError, match="PUBLIC_URL is invalid"):
            create_app()
    monkeypatch.setenv("PUBLIC_URL", "https://signalement.example.fr/")
    built = create_app()
    assert built.config["PUBLIC_URL"] == "https://signalement.example.fr"
    assert built.config["TRUSTED_HOSTS"] == ["signalement.example.fr"]
    assert built.test_client().get("/sante", base_url="https://signalement.example.fr").status_code == 200
    assert built.test_client().get("/sante", base_url="http://127.0.0.1:8000").status_code == 400
    monkeypatch.setenv("INTERNAL_HOSTS", "10.0.0.5, sonde.interne")  # a probe's or a scraper's own address
    probed = create_app()
    assert probed.config["TRUSTED_HOSTS"] == ["signalement.example.fr", "10.0.0.5", "sonde.interne"]
    assert probed.test_client().get("/sante", base_url="http://10.0.0.5:8000").status_code == 200
    assert probed.test_client().get("/sante", base_url="http://ailleurs.example").status_code == 400
    monkeypatch.delenv("INTERNAL_HOSTS")
    # The serve script says it before starting anything.
    env = dict(os.environ, SIGNALEMENT_ENV="production", SECRET_KEY="k", SERVE_SETUP="0", SERVE_MIGRATE="0",
               DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    env.pop("PUBLIC_URL", None)
    refused = subprocess.run([str(ROOT / "scripts" / "serve")], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 2
    assert "PUBLIC_URL manquante" in refused.stderr and "PUBLIC_URL is missing" in refused.stderr


def test_development_links_follow_the_address_served(monkeypatch, tmp_path):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("SIGNALEMENT_ENV", raising=False)
    monkeypatch.setenv("PORT", "5099")
    built = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.db'}"})
    assert built.config["PUBLIC_URL"] == "http://127.0.0.1:5099"
    assert set(built.config["TRUSTED_HOSTS"]) == {"127.0.0.1", "localhost"}
    # `flask run --port 5098` (Flask's own command, which builds the app inside it): links follow its port.
    seen = {}
    result = CliRunner().invoke(FlaskGroup(create_app=lambda: _remember(seen, tmp_path)),
                                ["run", "--port", "5098", "--no-reload"], catch_exceptions=True)
    assert seen.get("url") == "http://127.0.0.1:5098", (result.output, seen)


class _Built(Exception):
    """Raised by the factory once the app is built: the test needs the address, not a served port."""


def _remember(seen: dict, tmp_path: Path):
    built = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'r.db'}"})
    seen["url"] = built.config["PUBLIC_URL"]
    raise _Built()


def _checkout_copy(target: Path) -> None:
    """The tracked files of this checkout (as they are now) with its virtualenv and npm tools linked."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for linked in (".venv", "node_modules"):
        if (ROOT / linked).exists():
            (target / linked).symlink_to((ROOT / linked).resolve())


def test_scripts_start_on_port_5099_mails_links_on_5099(tmp_path):
    port = 5099
    try:
        Browser(port).get("/sante")
        port = free_port()  # 5099 busy on this machine: the same check on a free port
    except OSError:
        pass
    copy = tmp_path / "copie"
    _checkout_copy(copy)
    env = dict(os.environ, PORT=str(port), START_SETUP="0")
    for name in ("PUBLIC_URL", "SIGNALEMENT_ENV", "HOST", "FLASK_RUN_PORT", "FLASK_RUN_HOST"):
        env.pop(name, None)
    log = open(tmp_path / "start.log", "w")
    started = subprocess.Popen([str(copy / "scripts" / "start")], cwd=copy, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        browser = Browser(port)
        deadline = time.monotonic() + 180
        while True:
            assert started.poll() is None, (tmp_path / "start.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "start.log").read_text()[-3000:]
            try:
                if browser.get("/sante").status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        answer = browser.post("/mot-de-passe-oublie", {"email": DECLARANT,
                                                       "csrf_token": browser.token("/mot-de-passe-oublie")})
        assert answer.status == 200, answer.text[:500]
        with sqlite3.connect(copy / "instance" / "signalement.db") as database:
            bodies = [row[0] for row in database.execute(
                "SELECT body_text FROM outbox WHERE kind = 'lien_mot_de_passe'")]
        lines = [line.strip() for body in bodies for line in body.splitlines() if "/mot-de-passe/" in line]
        assert lines and all(line.startswith(f"http://127.0.0.1:{port}/mot-de-passe/") for line in lines), lines
    finally:
        os.killpg(started.pid, signal.SIGTERM)
        started.wait(30)
        log.close()
