"""Application factory: configuration, extensions, blueprints. Nothing runs at import."""
from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

import cli.dryrun
import cli.process
import scheduler
import web
from engine import clockhooks
from handlers import similarity
from mail import links
from mail.notifications import DEFAULT_MAILBOXES
from models import db, liveness, prepared
from timekeeping import clock as clock_mod

ROOT = Path(__file__).parent

def _sqlite_pragmas(dbapi_connection, connection_record):
    """Durability on SQLite: every accepted command is on disk when the call returns."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Plain environment variables of a deployment (twelve-factor names) -> (config key, parser).
ENVIRONMENT = {
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str), "SECRET_KEY": ("SECRET_KEY", str),
    "SMTP_HOST": ("SMTP_HOST", str), "SMTP_PORT": ("SMTP_PORT", int), "SMTP_SECURITY": ("SMTP_SECURITY", str),
    "SMTP_USER": ("SMTP_USER", str), "SMTP_PASSWORD": ("SMTP_PASSWORD", str), "SMTP_TIMEOUT": ("SMTP_TIMEOUT", float),
    "MAIL_FROM": ("MAIL_FROM", str), "MAIL_DOMAIN": ("MAIL_DOMAIN", str), "MAIL_BACKEND": ("MAIL_BACKEND", str),
    "TRUSTED_PROXIES": ("TRUSTED_PROXIES", int), "LOG_FORMAT": ("LOG_FORMAT", str), "LOG_LEVEL": ("LOG_LEVEL", str),
    "SCHEDULER_ENABLED": ("SCHEDULER_ENABLED", lambda v: v.strip().lower() in ("1", "true", "yes", "oui")),
    "SCHEDULER_MAX_SLEEP": ("SCHEDULER_MAX_SLEEP", float),
    "SCHEDULER_HEARTBEAT_MAX_AGE": ("SCHEDULER_HEARTBEAT_MAX_AGE", float),
    "PUBLIC_URL": ("PUBLIC_URL", str), "METRICS_TOKEN": ("METRICS_TOKEN", str),
    "METRICS_ALLOWED_IPS": ("METRICS_ALLOWED_IPS", lambda v: [part.strip() for part in v.split(",") if part.strip()]),
    # Hosts accepted besides PUBLIC_URL's (a probe or a scraper calling the server by its own address).
    "INTERNAL_HOSTS": ("INTERNAL_HOSTS", lambda v: [part.strip() for part in v.split(",") if part.strip()]),
    "DB_STATEMENT_TIMEOUT_MS": ("DB_STATEMENT_TIMEOUT_MS", int), "DB_LOCK_TIMEOUT_MS": ("DB_LOCK_TIMEOUT_MS", int),
    "DB_CONNECT_TIMEOUT_S": ("DB_CONNECT_TIMEOUT_S", int), "DB_READY_TIMEOUT_MS": ("DB_READY_TIMEOUT_MS", int),
}
# Limits of the web's PostgreSQL connections outside tests (tests set them when they test them).
DATABASE_LIMITS = {"DB_STATEMENT_TIMEOUT_MS": 5000, "DB_LOCK_TIMEOUT_MS": 3000, "DB_CONNECT_TIMEOUT_S": 5}
MISSING_SECRET = ("SECRET_KEY manquante : en production (SIGNALEMENT_ENV=production), la clé de session doit venir "
                  "de l'environnement. / SECRET_KEY is missing: in production (SIGNALEMENT_ENV=production) the "
                  "session key must come from the environment.")


class ConfigurationError(RuntimeError):
    """The deployment's environment cannot run the application (message in French and English)."""


def production() -> bool:
    """True when the environment declares a production deployment (SIGNALEMENT_ENV=production)."""
    return os.environ.get("SIGNALEMENT_ENV", "").strip().lower() == "production"


def environment_config(environ=os.environ) -> dict:
    """Settings read from plain environment variables (DATABASE_URL, SECRET_KEY, SMTP_*...), bad values refused."""
    config = {}
    for name, (key, parse) in ENVIRONMENT.items():
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            config[key] = parse(raw)
        except ValueError:
            raise ConfigurationError(f"Valeur invalide pour {name} / invalid value for {name}") from None
    url = config.get("SQLALCHEMY_DATABASE_URI", "")
    for scheme in ("postgres://", "postgresql://"):  # the usual form of DATABASE_URL; we use psycopg 3
        if url.startswith(scheme):
            config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + url[len(scheme):]
    return config


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application: defaults, then instance config and environment, then test config."""
    app = Flask(__name__, instance_relative_config=True, template_folder="web/templates",
                static_folder="web/static")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY=None,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(app.instance_path) / 'signalement.db'}",
        SQLALCHEMY_ENGINE_OPTIONS={},
        PROCESS_FILE=str(ROOT / "processes" / "signalement_incident_ssi.bpmn"),
        # Deployments are versions of this process; a file with another process id is refused.
        PROCESS_ID="signalement_incident_ssi",
        BPMN_LINT=True,  # run the pinned bpmnlint on deployed files when node_modules has it
        FORMS_DIR=str(ROOT / "forms"),
        MAILBOXES=dict(DEFAULT_MAILBOXES),
        MAIL_DOMAIN="signalement-ssi.example.fr",
        MAIL_FROM="Signalement SSI <ne-pas-repondre@signalement-ssi.example.fr>",
        MAIL_BACKEND="log",
        SMTP_HOST="localhost", SMTP_PORT=25, SMTP_SECURITY="none", SMTP_USER=None, SMTP_PASSWORD=None,
        SMTP_TIMEOUT=10,
        # Similar incidents (phase 4 task A, handlers/similarity.py): points per criterion, the total that
        # proposes the switch to phase 4 bis, and how close in time two declarations count as related.
        SIMILARITY_WEIGHTS=dict(similarity.DEFAULT_WEIGHTS),
        SIMILARITY_THRESHOLD=similarity.DEFAULT_THRESHOLD,
        SIMILARITY_WINDOW_DAYS=similarity.DEFAULT_WINDOW_DAYS,
        SCHEDULER_ENABLED=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Forms are text: 1 MiB per request (a BPMN upload included), 256 KiB per form field, 1,000 parts.
        MAX_CONTENT_LENGTH=1024 * 1024, MAX_FORM_MEMORY_SIZE=256 * 1024, MAX_FORM_PARTS=1000,
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (0: none).
        TRUSTED_PROXIES=0,
        # Bound of a dry run (the named scenarios on a candidate version and on the active one), and of each
        # scenario in it: engine steps and seconds (its process is killed when it runs over).
        DRY_RUN_SECONDS=60, DRY_RUN_STEPS=500, DRY_RUN_SCENARIO_SECONDS=20,
        # Workflows kept in memory between two commands on a dossier (workflow/live_cache.py); 0 turns it off.
        LIVE_WORKFLOWS=128,
    )
    if test_config is None:
        if production():  # configuration from the environment only: no file in the checkout decides
            # (a restarted server leaves dead connections in the pool: models/liveness.py replaces them)
            app.config.update(LOG_FORMAT="json", SCHEDULER_ENABLED=False)
        else:
            app.config.from_pyfile("config.py", silent=True)
        app.config.update(DATABASE_LIMITS)
        app.config.update(environment_config())
        app.config.from_prefixed_env("SIGNALEMENT")
    else:
        # Tests compare every workflow taken back from memory with its stored state (live_cache.py).
        app.config["LIVE_WORKFLOW_CHECK"] = True
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        if test_config is None and production():
            raise ConfigurationError(MISSING_SECRET)
        app.config["SECRET_KEY"] = _instance_secret(app)
    _public_address(app, test_config is None and production())
    app.extensions["clock"] = app.config.get("CLOCK") or clock_mod.SystemClock()
    similarity.settings(app.config)  # a wrong weight or threshold stops the start, not a dossier in phase 4
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    clockhooks.install_spiff_hooks()
    if not getattr(_sqlite_pragmas, "_installed", False):
        event.listen(Engine, "connect", _sqlite_pragmas)
        _sqlite_pragmas._installed = True
    _database_limits(app)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            prepared.install(engine)  # statements stay prepared across read-only requests (models/prepared.py)
            liveness.install(engine)  # dead pooled connections replaced without a ping (models/liveness.py)

    app.extensions["dry_run"] = _dry_runner(app)
    cli.process.init_app(app)
    web.init_app(app)
    scheduler.init_app(app)  # not in tests, nor in the reloader's parent, nor for CLI tasks
    return app


def _public_address(app: Flask, in_production: bool) -> None:
    """PUBLIC_URL: required in production; in development the address the dev server serves (HOST/PORT)."""
    explicit = bool(app.config.get("PUBLIC_URL"))
    if not explicit:
        if in_production:
            raise ConfigurationError(links.MISSING)
        app.config["PUBLIC_URL"] = links.development_url(_served_address())
    try:
        links.configure(app.config, explicit)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def _database_limits(app: Flask) -> None:
    """Statement, lock and connection timeouts on the web's PostgreSQL connections (DB_STATEMENT_TIMEOUT_MS,
    DB_LOCK_TIMEOUT_MS, DB_CONNECT_TIMEOUT_S; 0 or unset: none), so that a slow query, a held lock or an
    unreachable server gives a quick 503 rather than a hung worker. Flask commands other than `flask run`
    (init-db, the scheduler, audits, backups) keep no limit, as scheduler.should_start tells them apart."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return
    command = click.get_current_context(silent=True)
    if command is not None and command.info_name != "run":
        return
    settings = {name: int(app.config.get(key) or 0) for name, key in (
        ("statement_timeout", "DB_STATEMENT_TIMEOUT_MS"), ("lock_timeout", "DB_LOCK_TIMEOUT_MS"))}
    options = " ".join(f"-c {name}={value}" for name, value in settings.items() if value > 0)
    engine = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect = dict(engine.get("connect_args") or {})
    if options:
        connect["options"] = f"{connect.get('options', '')} {options}".strip()
    if int(app.config.get("DB_CONNECT_TIMEOUT_S") or 0) > 0:
        connect.setdefault("connect_timeout", int(app.config["DB_CONNECT_TIMEOUT_S"]))
    engine["connect_args"] = connect
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine


def _served_address() -> dict:
    """HOST/PORT, overridden by `flask run --host/--port` when that is what builds the app."""
    served = dict(os.environ)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.info_name == "run":
        for name, param in (("HOST", "host"), ("PORT", "port")):
            if ctx.params.get(param) is not None:
                served[name] = str(ctx.params[param])
    return served


def throwaway_app(keep: dict, url: str, clock) -> Flask:
    """An application for one dry run (in its own process): the kept settings, a throwaway database."""
    return create_app({**keep, "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "CLOCK": clock,
                       "SECRET_KEY": "essai", "SCHEDULER_ENABLED": False, "BPMN_LINT": False, "MAIL_BACKEND": "log"})


def _dry_runner(app: Flask):
    """The dry run the deployment gate calls: scenarios in throwaway applications built like this one."""
    def run(xml: str, forms: dict, active) -> list[dict]:
        keep = {k: app.config[k] for k in ("PROCESS_ID", "FORMS_DIR", "MAILBOXES", "MAIL_DOMAIN", "PUBLIC_URL")}
        budgets = cli.dryrun.Budgets(app.config["DRY_RUN_STEPS"], app.config["DRY_RUN_SCENARIO_SECONDS"],
                                     app.config["DRY_RUN_SECONDS"])
        return cli.dryrun.dry_run(functools.partial(throwaway_app, keep), xml, forms,
                                  active.bpmn_xml if active else None, active.forms if active else None,
                                  active.content_hash if active else None, app.config["DRY_RUN_SECONDS"], budgets)
    return run


def _instance_secret(app: Flask) -> str:
    """A random secret kept in the instance folder, so sessions survive restarts without a committed key."""
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        # Written aside, then linked into place: several processes starting at once (gunicorn workers,
        # parallel test workers) all end up reading the one complete secret.
        draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        draft.write_text(secrets.token_hex(32))
        os.chmod(draft, 0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
