"""The production shape (scripts/serve: gunicorn workers and a separate scheduler, configured from the
environment only) serves, tells liveness from readiness, logs JSON lines with request ids, lets one of
many racers complete a task (the others get 409), and loses or doubles nothing while its workers are
killed with SIGKILL."""
from __future__ import annotations

import http.client
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text, update

import app as app_module
import migrate
from app import create_app
from cli import demo, scenarios
from conftest import PG_MISSING, PG_SERVER, REQUIRE_POSTGRES, _postgres_available
from models import AuditEvent, Dossier, IdempotencyKey, SchedulerHeartbeat, TaskRow, db
from production_support import ROOT, Browser, Shape, children, cmdline
from test_web_support import DECLARANT, PASSWORD, form_data
from workflow import deployment

FIRST, SECOND = "p1_perimetre", "p1_impact"
BROKEN = (OSError, http.client.HTTPException)  # what a client sees when the worker serving it is killed


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory):
    """A database of this module's own, migrated, with the process deployed and the demo accounts."""
    folder = tmp_path_factory.mktemp("production")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'production.db'}"
        drop = None
    else:
        if not _postgres_available():
            if REQUIRE_POSTGRES:
                pytest.fail("PostgreSQL est obligatoire (REQUIRE_POSTGRES=1) mais injoignable sur 127.0.0.1:5432")
            pytest.skip(PG_MISSING)
        name = f"signalement_prod_{uuid.uuid4().hex[:10]}"
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_SERVER}/{name}"

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t",
                              "SCHEDULER_ENABLED": False})
    with application.app_context():
        migrate.upgrade()
        deployment.deploy(application.config["PROCESS_FILE"])
        demo.load_demo(password=PASSWORD)
        db.session.remove()
        db.engine.dispose()
    yield request.param, url, application, folder
    if drop:
        drop()


@pytest.fixture(scope="module")
def shape(database):
    """scripts/serve on a free port against the module's database, ready (/pret 200)."""
    backend, url, _, folder = database
    serving = Shape(url, folder)
    try:
        serving.wait_ready()
        yield serving
    finally:
        assert serving.stop() == 0, serving.log.read_text()[-3000:]


@pytest.fixture
def sql(database):
    """A connection to the module's database for checks and sabotage (committed at once)."""
    engine = create_engine(database[1])
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_liveness_and_readiness_name_what_fails(shape, sql):
    browser = Browser(shape.port)
    alive = browser.get("/sante")
    assert alive.status == 200 and alive.json() == {"statut": "vivant"}
    ready = browser.get("/pret")
    assert ready.status == 200 and ready.json()["echecs"] == [], ready.text

    # The schema behind the migrations: not ready, and the body says so.
    head = sql.execute(text("SELECT version_num FROM alembic_version")).scalar()
    sql.execute(text("UPDATE alembic_version SET version_num = '0014_observables'"))
    sql.commit()
    try:
        behind = browser.get("/pret")
        assert behind.status == 503 and behind.json()["echecs"] == ["migrations"], behind.text
        assert behind.json()["verifications"]["migrations"]["current"] == ["0014_observables"]
        assert browser.get("/sante").status == 200  # liveness never depends on the database
    finally:
        sql.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        sql.commit()

    # The scheduler stopped (SIGSTOP) and its last beat long ago: not ready until it sweeps again.
    scheduler = shape.child("scheduler")
    os.kill(scheduler, signal.SIGSTOP)
    try:
        sql.execute(update(SchedulerHeartbeat).values(beat_at=func.now() - timedelta(hours=1))
                    if sql.dialect.name == "postgresql" else
                    text("UPDATE scheduler_heartbeats SET beat_at = datetime('now', '-1 hour')"))
        sql.commit()
        stale = browser.get("/pret")
        assert stale.status == 503 and stale.json()["echecs"] == ["scheduler"], stale.text
        assert stale.json()["verifications"]["scheduler"]["age_s"] >= 3590
    finally:
        os.kill(scheduler, signal.SIGCONT)
    deadline = time.monotonic() + 15
    while browser.get("/pret").status != 200:
        assert time.monotonic() < deadline, "the scheduler's heartbeat did not come back"
        time.sleep(0.2)


def test_json_log_lines_carry_the_request_id_and_no_form_data(shape):
    browser = Browser(shape.port)
    given = browser.get("/sante", headers={"X-Request-Id": "lb-7f3a.9:2"})
    assert given.headers["X-Request-Id"] == "lb-7f3a.9:2"
    hostile = browser.get("/sante", headers={"X-Request-Id": "a\" , \"level\": \"x" + "y" * 200})
    generated = hostile.headers["X-Request-Id"]
    assert len(generated) == 32 and generated.isalnum()  # refused, replaced by a fresh one
    browser.login(DECLARANT, PASSWORD)
    time.sleep(0.2)  # the worker's write to the shared log file (not a timer: a flush between processes)
    lines = shape.log_lines()
    requests = {line["request_id"]: line for line in lines if line["logger"] == "signalement.requests"}
    first = requests["lb-7f3a.9:2"]
    assert first["method"] == "GET" and first["path"] == "/sante" and first["status"] == 200
    assert first["level"] == "INFO" and first["time"].endswith("+00:00") and first["duration_ms"] >= 0
    assert requests[generated]["path"] == "/sante"
    [logged_in] = [line for line in requests.values() if line["path"] == "/connexion" and line["method"] == "POST"]
    assert logged_in["status"] == 302
    assert PASSWORD not in shape.log.read_text() and "cle-de-test-production" not in shape.log.read_text()
    after = browser.get("/taches")
    [mine] = [line for line in shape.log_lines() if line.get("request_id") == after.headers["X-Request-Id"]]
    assert mine["user_id"] is not None  # the user of a logged-in request is named by id


def declare(browser: Browser, key: str, token: str) -> str:
    """Post a declaration's first step (retried by its key when the worker dies); the next task's path."""
    sent = form_data(scenarios.PERIMETRE, idempotency_key=key, csrf_token=token, finess_site=FINESS[0])
    for _ in range(20):
        try:
            answer = browser.post("/declarer", sent)
        except BROKEN:  # the worker was killed under this request: the browser posts again, same key
            RETRIES.append(key)
            continue
        if answer.status >= 500:
            continue
        assert answer.status in (302, 303), (answer.status, answer.text[:500])
        return answer.location
    raise AssertionError(f"declaration {key} never accepted")


FINESS: list[str] = []
RETRIES: list[str] = []  # requests cut by a kill and sent again


def _finess(database) -> str:
    with database[2].app_context():
        from test_web_support import structure_of
        value = structure_of(DECLARANT).finess_et
        db.session.remove()
        return value


def test_workers_keep_the_preloaded_application_and_their_warm_caches_out_of_the_collector(shape):
    """web/workers.py: each worker inherits the master's objects frozen, then freezes its own after its first
    requests (GC_FREEZE_AFTER=3 here): a full collection no longer walks the application on a request's time."""
    browser = Browser(shape.port)
    for _ in range(30):  # the workers take turns: at least one gets past its 3 requests
        assert browser.get("/sante").status == 200
    workers = set(shape.workers())
    messages = [line["message"] for line in shape.log_lines() if line["logger"] == "signalement.serve"]
    inherited = {int(pid): int(count) for pid, count in
                 (re.fullmatch(r"worker (\d+): starts with (\d+) objects of the preloaded application frozen",
                               message).groups() for message in messages if "starts with" in message)}
    frozen = {int(pid): int(count) for pid, count in
              (re.fullmatch(r"worker (\d+): (\d+) long-lived objects frozen after 3 requests", message).groups()
               for message in messages if "long-lived" in message)}
    # The preloaded application is tens of thousands of objects: without the master's freeze a worker inherits none.
    assert workers <= inherited.keys() and all(inherited[pid] > 50_000 for pid in workers), (workers, inherited)
    assert frozen.keys() & workers, (frozen, workers)
    assert all(frozen[pid] > inherited[pid] for pid in frozen)  # the worker's own caches joined them


@pytest.mark.parametrize("racers", [2, 8, 32])
def test_racers_on_one_task_one_wins_the_rest_get_409(shape, database, racers):
    FINESS[:] = [_finess(database)]
    browser = Browser(shape.port)
    browser.login(DECLARANT, PASSWORD)
    token = browser.token("/declarer")
    task_path = declare(browser, f"course-{racers}-{uuid.uuid4().hex}", token)
    assert task_path.startswith("/taches/")
    token = browser.token(task_path)
    sent = form_data(scenarios.IMPACT, csrf_token=token)
    barrier = threading.Barrier(racers)

    def race(_):
        racer = Browser(shape.port, browser.cookies)
        barrier.wait()
        return racer.post(task_path, sent).status

    with ThreadPoolExecutor(racers) as pool:
        statuses = sorted(pool.map(race, range(racers)))
    assert statuses.count(409) == racers - 1 and len([s for s in statuses if s in (200, 302, 303)]) == 1, statuses
    task_id = task_path.rsplit("/", 1)[1]
    with database[2].app_context():
        row = db.session.get(TaskRow, task_id)
        assert row.status == "completed"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == row.instance_id, AuditEvent.payload["spec"].as_string() == SECOND)) == 1
        db.session.remove()


def test_sigkilled_workers_lose_and_double_nothing(shape, database):
    """≥500 commands (declarations and their second step) over HTTP while workers are SIGKILLed."""
    FINESS[:] = [_finess(database)]
    browser = Browser(shape.port)
    browser.login(DECLARANT, PASSWORD)
    token = browser.token("/declarer")
    impact = form_data(scenarios.IMPACT, csrf_token=token)
    keys = [f"kill-{i:04d}-{uuid.uuid4().hex[:12]}" for i in range(250)]
    stop = threading.Event()
    kills = []

    def killer():
        rng = random.Random(281)
        while not stop.wait(rng.uniform(0.15, 0.5)):
            workers = shape.workers()
            if workers:
                try:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    kills.append(1)
                except ProcessLookupError:
                    pass

    def client(batch):
        mine = Browser(shape.port, browser.cookies)
        for key in batch:
            task_path = declare(mine, key, token)
            for _ in range(20):  # the second step, retried: a 409 after a lost answer means it was done
                try:
                    status = mine.post(task_path, impact).status
                except BROKEN:
                    RETRIES.append(task_path)
                    continue
                if status < 500:
                    assert status in (302, 303, 409), status
                    break
            else:
                raise AssertionError(f"{task_path} never answered")

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(client, [keys[i::4] for i in range(4)]))
    finally:
        stop.set()
        thread.join()
    assert len(kills) >= 5 and RETRIES, f"{len(kills)} kills cut {len(RETRIES)} requests: too few to mean anything"

    with database[2].app_context():
        known = set(db.session.scalars(select(IdempotencyKey.key)).all())
        assert set(keys) <= known  # nothing acknowledged is lost
        mine = db.session.scalars(select(Dossier).join(IdempotencyKey, IdempotencyKey.dossier_id == Dossier.id)
                                  .where(IdempotencyKey.key.in_(keys))).all()
        assert len(mine) == len(keys) == len({d.id for d in mine})  # one dossier per key, never two
        # Declarations in progress carry a provisional reference, unique; no SSI number is taken before
        # validation, so none was lost to a killed worker either.
        references = [d.number for d in db.session.scalars(select(Dossier)).all()]
        assert len(set(references)) == len(references)
        assert all(d.number.startswith("BR-") for d in mine)
        for dossier in mine:
            steps = db.session.scalars(select(AuditEvent.payload["spec"].as_string()).where(
                AuditEvent.instance_id == dossier.instance_id, AuditEvent.command == "complete")).all()
            assert sorted(steps) == sorted([FIRST, SECOND]), (dossier.number, steps)
        db.session.remove()
    verify = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "audit", "verify"], cwd=ROOT,
                            env=dict(os.environ, DATABASE_URL=database[1], SECRET_KEY="t"),
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0 and "aucune différence" in verify.stdout, verify.stdout + verify.stderr


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    env = dict(os.environ, SIGNALEMENT_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
               SERVE_SETUP="0", SERVE_MIGRATE="0")
    env.pop("SECRET_KEY", None)
    refused = subprocess.run([str(ROOT / "scripts" / "serve")], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode == 2
    assert "SECRET_KEY manquante" in refused.stderr and "SECRET_KEY is missing" in refused.stderr
    monkeypatch.setenv("SIGNALEMENT_ENV", "production")
    monkeypatch.setenv("LOG_FORMAT", "text")  # JSON logging would take over this test process's root logger
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(app_module.ConfigurationError, match="SECRET_KEY is missing"):
        create_app()
    monkeypatch.setenv("SECRET_KEY", "k")
    monkeypatch.setenv("PUBLIC_URL", "https://signalement.example.fr")  # required too (tests/test_public_address.py)
    monkeypatch.setenv("SMTP_PORT", "vingt-cinq")
    with pytest.raises(app_module.ConfigurationError, match="SMTP_PORT"):
        create_app()
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example/signalement")
    built = create_app()
    assert built.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/signalement"
    assert built.config["SMTP_PORT"] == 2525 and built.config["SECRET_KEY"] == "k"
    assert built.config["SCHEDULER_ENABLED"] is False  # the scheduler is its own process in production


def _heartbeats(sql) -> dict:
    sql.rollback()
    return dict(sql.execute(select(SchedulerHeartbeat.name, SchedulerHeartbeat.beat_at)).all())


def test_a_dead_scheduler_or_master_is_restarted_alone(shape, sql):
    """SIGKILL the scheduler: every request keeps getting 200 meanwhile, and a new scheduler process beats
    again. SIGKILL the gunicorn master: the scheduler keeps running (same pid) and a new master serves."""
    browser = Browser(shape.port)
    browser.login(DECLARANT, PASSWORD)
    statuses, stop = [], threading.Event()

    def traffic():
        while not stop.is_set():
            statuses.append(browser.get("/dossiers").status)
            time.sleep(0.05)

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        first = shape.child("scheduler")
        before = _heartbeats(sql)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, shape.log.read_text()[-3000:]
            alive = [pid for pid in children(shape.process.pid) if "flask scheduler" in cmdline(pid)]
            fresh = [name for name in _heartbeats(sql) if name not in before and alive
                     and name.endswith(f":{alive[0]}")]
            if alive and alive[0] != first and fresh:
                break
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        thread.join(30)
    assert len(statuses) > 20 and set(statuses) == {200}, statuses
    assert browser.get("/pret").status == 200
    assert any('"scheduler (pid' in line and "started again" in line for line in shape.log.read_text().splitlines())

    scheduler, master = shape.child("scheduler"), shape.child("gunicorn")
    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, shape.log.read_text()[-3000:]
        masters = [pid for pid in children(shape.process.pid) if "gunicorn" in cmdline(pid)]
        if masters and masters[0] != master:
            try:
                if Browser(shape.port, browser.cookies).get("/dossiers").status == 200 and children(masters[0]):
                    break
            except BROKEN:
                pass
        time.sleep(0.3)
    assert shape.child("scheduler") == scheduler  # untouched by the web's restart
    assert browser.get("/pret").status == 200


def test_the_upgrade_is_a_step_of_its_own(tmp_path):
    """`scripts/serve upgrade` brings an empty database to the migrations' head and deploys the process, then
    exits; a second run changes nothing."""
    url = f"sqlite:///{tmp_path / 'neuve.db'}"
    env = dict(os.environ, SIGNALEMENT_ENV="production", DATABASE_URL=url, SECRET_KEY="k", SERVE_SETUP="0",
               PUBLIC_URL="http://127.0.0.1:8000")
    for _ in range(2):
        done = subprocess.run([str(ROOT / "scripts" / "serve"), "upgrade"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Base de données à jour" in done.stdout
    engine = create_engine(url)
    with engine.connect() as conn:
        assert {conn.execute(text("SELECT version_num FROM alembic_version")).scalar()} == migrate.head_revisions()
        assert conn.execute(text("SELECT count(*) FROM process_definitions")).scalar() == 1
    engine.dispose()
    refused = subprocess.run([str(ROOT / "scripts" / "serve"), "autre"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 2 and "Usage" in refused.stderr
