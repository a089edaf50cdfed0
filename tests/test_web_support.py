"""Helpers shared by the web and browser tests (no tests here): login with the CSRF token, post forms."""
from __future__ import annotations

import re
from contextlib import contextmanager

from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import event, select

from app import create_app
from cli import scenarios
from models import Dossier, Structure, TaskRow, User, db
from web.forms import typed_to_raw

PASSWORD = "secret-test"
DECLARANT = "declarant.rennes@chu-rennes.example.fr"
DECLARANT_METZ = "declarant.metz@chr-metz.example.fr"
DECLARANT_BEGIN = "declarant.begin@sante.defense.example.fr"
ARS_BRETAGNE = "ars.bretagne@ars.example.fr"
ARS_GRANDEST = "ars.grandest@ars.example.fr"
ACSS = "analyste@acss.example.fr"

# A grave incident after its declaration, task by task: (who, BPMN task, submitted data).
GRAVE_STEPS = [(ACSS, "p2_ouvrir", scenarios.OPENING[0][1]),
               (ACSS, "p3_qualifier", scenarios.qualification("grave")),
               (ARS_BRETAGNE, "p4_choix", {"modalite_appui": "confier_acss"}),
               (ACSS, "p4_analyse", scenarios.ANALYSE),
               (ACSS, "p4_accompagner", scenarios.SUIVI_FIN),
               (DECLARANT, "p4_fin_structure", scenarios.FIN_STRUCTURE),
               (ACSS, "p5_cloturer", scenarios.CLOTURE),
               (ACSS, "p5_bilan", scenarios.BILAN),
               (ACSS, "p6_retex", scenarios.RETEX)]
HFDS = "fssi@hfds.example.fr"
DGS = "dgs@dgs.example.fr"
ARMEES = "cyber@armees.example.fr"
AUDITEUR = "auditeur@igas.example.fr"
PROCESSUS = "processus@hfds.example.fr"
ADMIN = "admin@signalement.example.fr"


def csrf(client) -> str:
    """A valid CSRF token for the client's session, as Flask-WTF makes it: the session keeps a raw token
    (created if it has none yet) and forms send it signed with the application's secret key."""
    with client.session_transaction() as session:
        session.setdefault("csrf_token", "jeton-de-test-csrf-0123456789")
        raw = session["csrf_token"]
    return URLSafeTimedSerializer(client.application.secret_key, salt="wtf-csrf-token").dumps(raw)


def login(client, email: str, password: str = PASSWORD):
    """Log a test client in (logging out whoever was there)."""
    client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None
    with client.session_transaction() as session:
        session.clear()
    return client.post("/connexion", data={"email": email, "password": password, "csrf_token": csrf(client)})


def form_data(data: dict, **extra) -> dict:
    """Typed task data as the browser posts it (lists stay lists: repeated fields)."""
    raw = typed_to_raw({}, data)
    raw.update(extra)
    return raw


def post(client, url: str, data: dict | None = None, **kwargs):
    """POST with the CSRF token."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf(client))
    return client.post(url, data=data, **kwargs)


def user(email: str) -> User:
    """A demo user by e-mail."""
    return db.session.scalar(select(User).where(User.email == email))


def open_task(dossier_id: int, spec_name: str) -> TaskRow:
    """The open task of a dossier for a BPMN element."""
    db.session.expire_all()
    return db.session.scalar(select(TaskRow).where(TaskRow.dossier_id == dossier_id, TaskRow.spec_name == spec_name,
                                                   TaskRow.status == "ready"))


def structure_of(email: str) -> Structure:
    """The structure of a declarant."""
    return db.session.get(Structure, user(email).structure_id)


def dossier_by_number(number: str) -> Dossier:
    """A dossier by its number."""
    db.session.expire_all()
    return db.session.scalar(select(Dossier).where(Dossier.number == number))


def dossier_number(html: str) -> str:
    """The first dossier number on a page: an SSI number, or a declaration's provisional reference before its
    validation (workflow.commands.PROVISIONAL_PREFIX)."""
    return re.search(r"SSI-\d{4}-\d{5}|BR-[0-9A-F]{10}", html).group(0)


def confirm_deployment(client, page, comment: str = "Essai validé"):
    """Follow an upload's dry-run page to « Déployer » with a comment; the page after the deployment."""
    text = page.get_data(as_text=True)
    found = re.search(r'action="(/admin/processus/essai/[\w-]+/deployer)"', text)
    assert found, "no dry-run page: " + re.sub(r"\s+", " ", text)[:2000]
    return client.post(found.group(1), data={"csrf_token": csrf(client), "commentaire": comment},
                       follow_redirects=True)


def as_served(app, **config):
    """The application as scripts/serve builds it (no scheduler, no live-workflow check), on the test's database,
    CSRF off for the test client; each request pushes its own application context."""
    return create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test",
                       "SCHEDULER_ENABLED": False, "PUBLIC_URL": "http://localhost", "WTF_CSRF_ENABLED": False,
                       "LIVE_WORKFLOW_CHECK": False, **config})


@contextmanager
def sent_statements():
    """The SQL texts the application's engine sends inside the block, in order (a list the caller may clear)."""
    seen: list[str] = []

    def note(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
