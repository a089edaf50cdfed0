"""HTTP benchmark of the production shape at scale: 100,000 dossiers in PostgreSQL, 32 concurrent clients.

Loads a throwaway PostgreSQL database with whole dossiers (bench/http_load.py: a realistic mix of
closed and open dossiers at every phase, in every region, a few from military hospitals), starts
scripts/serve on it (gunicorn workers and the scheduler), and drives it with concurrent clients, each
on its own keep-alive connection: the inbox (Cellule ACSS and an ARS), a dossier page, the completion
of an open task (p2_ouvrir), and a declaration through the API when /api/v1 exists. Prints the median
and p99 latency per kind and the requests per second; the last line is
`inbox_p99_ms=… dossier_p99_ms=… complete_p99_ms=… api_submit_p99_ms=… rps=…`.

Run: python bench/http.py [--dossiers 100000] [--clients 32] [--seconds 30] (this module is its body).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from sqlalchemy import create_engine, select, text  # noqa: E402

import migrate  # noqa: E402
from app import create_app  # noqa: E402
from bench import http_load  # noqa: E402
from accounts import api_tokens  # noqa: E402
from cli import demo, scenarios  # noqa: E402
from models import Dossier, Structure, TaskRow, User, db  # noqa: E402
from referentiel import REGIONS  # noqa: E402
from timekeeping import clock as clock_mod  # noqa: E402
from web.forms import typed_to_raw  # noqa: E402
from workflow import deployment  # noqa: E402

PASSWORD = "bench-http-2017"
ACSS, ARS = "analyste@acss.example.fr", "ars.bretagne@ars.example.fr"
DECLARANT = "declarant.rennes@chu-rennes.example.fr"  # the API's declarant (a token made at each load)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
KINDS = ["inbox", "dossier", "complete", "api_submit"]
MIX = {"inbox": 4, "dossier": 4, "complete": 2, "api_submit": 1}


class Client:
    """One keep-alive HTTP connection with a user's cookies."""

    def __init__(self, port: int, cookies: dict | None = None):
        self.port, self.cookies, self.connection = port, dict(cookies or {}), None

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        """(status, headers, body text); reconnects once when the server closed the connection."""
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read().decode("utf-8", "replace")
                break
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, response.headers, data

    def form(self, path: str, data: dict):
        """POST a form."""
        return self.request("POST", path, urlencode(data, doseq=True),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def login(self, email: str) -> str:
        """Log in; the session's CSRF token."""
        _, _, page = self.request("GET", "/connexion")
        status, _, _ = self.form("/connexion", {"email": email, "password": PASSWORD,
                                                "csrf_token": CSRF.search(page).group(1)})
        assert status in (302, 303), f"login {email}: {status}"
        _, _, page = self.request("GET", "/boite")
        return CSRF.search(page).group(1)


def free_port() -> int:
    """A free TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load(url: str, count: int) -> tuple[dict, float]:
    """Migrate, deploy, create the demo accounts and the templates, then COPY the clones."""
    clock = clock_mod.FrozenClock()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "CLOCK": clock,
                      "SCHEDULER_ENABLED": False})
    with app.app_context():
        migrate.upgrade()
        deployment.deploy(app.config["PROCESS_FILE"])
        demo.load_demo(password=PASSWORD)
        templates = http_load.make_templates(clock)
        started = time.perf_counter()
        loaded = http_load.clone_all(templates, count, datetime.now(timezone.utc))
        elapsed = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    vacuum(url)
    return found(app, loaded), elapsed


def vacuum(url: str) -> None:
    """VACUUM ANALYZE after the bulk load, as autovacuum would do soon after: statistics for the planner,
    and the visibility map that lets the worklist counts be index-only scans."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def found(app, loaded: dict) -> dict:
    """The dossier ids each bench user reads (and the open p2_ouvrir tasks when reusing a database)."""
    with app.app_context():
        if loaded.get("hot_tasks") is None:
            loaded["hot_tasks"] = db.session.scalars(select(TaskRow.id).where(
                TaskRow.status == "ready", TaskRow.spec_name == "p2_ouvrir", TaskRow.role == "acss")).all()
        civil = db.session.scalars(select(Dossier.id).where(Dossier.military.is_(False))).all()
        bretagne = db.session.scalars(select(Dossier.id).where(Dossier.region == "Bretagne",
                                                               Dossier.military.is_(False))).all()
        loaded.update(civil=civil, bretagne=bretagne, api=api_credentials())
        db.session.remove()
        db.engine.dispose()
    return loaded


def api_credentials() -> dict:
    """A real API token of the demo declarant (a fresh one per run: only its hash is stored) and the FINESS
    of its structure, which its declarations name."""
    declarant = db.session.scalar(select(User).where(User.email == DECLARANT))
    finess = db.session.get(Structure, declarant.structure_id).finess_et
    _, secret = api_tokens.create(declarant, f"bench http {uuid.uuid4().hex[:6]}")
    return {"secret": secret, "finess": finess}


def serve(url: str, folder: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """scripts/serve on the bench database; returns once /pret says ready."""
    port = free_port()
    env = dict(os.environ, SECRET_KEY="bench-http", DATABASE_URL=url, PORT=str(port), SERVE_SETUP="0",
               PUBLIC_URL=f"http://127.0.0.1:{port}",
               WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads), SIGNALEMENT_SECURE_COOKIES="false")
    log = open(folder / "serve.log", "w")
    process = subprocess.Popen([str(ROOT / "scripts" / "serve")], cwd=ROOT, env=env, stdout=log, stderr=log,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if Client(port).request("GET", "/pret")[0] == 200:
                return process, port
        except OSError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    raise SystemExit(f"scripts/serve did not get ready: {(folder / 'serve.log').read_text()[-2000:]}")


def drive(port: int, loaded: dict, clients: int, seconds: float, warmup: float) -> tuple[dict, float, bool]:
    """Run the mixed load; latencies per kind (ms) and the measured duration."""
    acss, ars = Client(port), Client(port)
    tokens = {ACSS: acss.login(ACSS), ARS: ars.login(ARS)}
    cookies = {ACSS: acss.cookies, ARS: ars.cookies}
    api = Client(port).request("GET", "/api/v1/openapi.json")[0] == 200
    hot = list(loaded["hot_tasks"])
    random.Random(7).shuffle(hot)
    hot_lock = threading.Lock()
    opening = typed_to_raw({}, scenarios.OPENING[0][1])
    latencies: dict[str, list] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    start_at = time.monotonic() + warmup
    stop_at = start_at + seconds
    kinds = [k for k in KINDS if k != "api_submit" or api]

    def one(client_no: int) -> None:
        rng = random.Random(client_no)
        email = ACSS if client_no % 4 else ARS  # three analysts of the Cellule for one ARS
        client = Client(port, cookies[email])
        api_client = Client(port)  # the API authenticates with its bearer token, never with cookies
        pool = loaded["civil"] if email == ACSS else loaded["bretagne"]
        while time.monotonic() < stop_at:
            kind = rng.choices(kinds, [MIX[k] for k in kinds])[0]
            if kind == "complete" and email != ACSS:
                kind = "inbox"
            started = time.perf_counter()
            if kind == "inbox":
                query = rng.choice(["", "?tri=echeance", "?page=2", "?" + urlencode({"region": rng.choice(REGIONS)}), "?tri=recent"])
                status = client.request("GET", "/boite" + query)[0]
                ok = status == 200
            elif kind == "dossier":
                status = client.request("GET", f"/dossiers/{rng.choice(pool)}")[0]
                ok = status == 200
            elif kind == "complete":
                with hot_lock:
                    task_id = hot.pop() if hot else None
                if task_id is None:
                    continue
                status = client.form(f"/taches/{task_id}", dict(opening, csrf_token=tokens[ACSS]))[0]
                ok = status in (302, 303)
            else:
                status = api_submit(api_client, loaded["api"])
                ok = status in (200, 201)
            elapsed = (time.perf_counter() - started) * 1000
            if time.monotonic() >= start_at:
                latencies[kind].append(elapsed)
                if not ok:
                    errors[kind] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for kind, count in errors.items():
        print(f"  {kind}: {count} unexpected answers", file=sys.stderr)
    return latencies, seconds, api


def api_submit(client: Client, api: dict) -> int:
    """A declaration through the JSON API (POST /api/v1/declarations: the four blocks of phase 1, as the
    national portal forwards them), with the declarant's bearer token and a fresh Idempotency-Key."""
    body = json.dumps({"finess_site": api["finess"], "perimetre": scenarios.PERIMETRE, "impact": scenarios.IMPACT,
                       "origine": scenarios.ORIGINE, "formulaire": scenarios.formulaire()})
    return client.request("POST", "/api/v1/declarations", body,
                          {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex,
                           "Authorization": f"Bearer {api['secret']}"})[0]


def server_side(log: Path) -> None:
    """Time spent inside the application per kind, from its JSON request log (queueing excluded)."""
    spent = defaultdict(list)
    for line in log.read_text().splitlines():
        if '"signalement.requests"' not in line:
            continue
        entry = json.loads(line)
        kind = {"/boite": "inbox"}.get(entry["path"]) or next(
            (k for prefix, k in (("/dossiers/", "dossier"), ("/taches/", "complete"), ("/api/v1/", "api_submit"))
             if entry["path"].startswith(prefix)), None)
        if kind and entry.get("duration_ms") is not None:
            spent[kind].append(entry["duration_ms"])
    for kind in KINDS:
        if spent.get(kind):
            print(f"  server-side {kind:<11} median={statistics.median(spent[kind]):7.1f} ms "
                  f"p99={p(spent[kind], 0.99):7.1f} ms")


def p(values: list, q: float) -> float:
    """The q-quantile of a list (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    # The production shape's defaults (scripts/gunicorn.conf.py): 2 x cores + 1 single-threaded workers.
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", 1)))
    parser.add_argument("--server", default=os.environ.get("TEST_POSTGRES_SERVER",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--reuse", metavar="NAME", help="drive a database kept by an earlier --keep run")
    args = parser.parse_args()
    name = args.reuse or f"signalement_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{args.server}/{name}"
    process = None
    try:
        if args.reuse:
            loaded, load_s = found(create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "b",
                                               "SCHEDULER_ENABLED": False}), {}), 0.0
            vacuum(url)
        else:
            loaded, load_s = load(url, args.dossiers)
        print(f"{'reused' if args.reuse else 'loaded'} {len(loaded['civil']) + 0} civil dossiers "
              f"({len(loaded['hot_tasks'])} open p2_ouvrir tasks to complete) in {load_s:.0f} s, database {name}")
        with tempfile.TemporaryDirectory() as folder:
            process, port = serve(url, Path(folder), args.workers, args.threads)
            latencies, seconds, api = drive(port, loaded, args.clients, args.seconds, args.warmup)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(60)
            server_side(Path(folder) / "serve.log")
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if not (args.keep or args.reuse):
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    total = sum(len(v) for v in latencies.values())
    print(f"{args.clients} clients, {args.workers} workers x {args.threads} threads, {seconds:.0f} s measured")
    for kind in KINDS:
        values = latencies.get(kind, [])
        if values:
            print(f"  {kind:<11} n={len(values):<6} median={statistics.median(values):7.1f} ms "
                  f"p99={p(values, 0.99):7.1f} ms")
    fields = {kind: (f"{p(latencies[kind], 0.99):.0f}" if latencies.get(kind) else "na") for kind in KINDS}
    if not api:
        fields["api_submit"] = "na"
    print(f"inbox_p99_ms={fields['inbox']} dossier_p99_ms={fields['dossier']} complete_p99_ms={fields['complete']} "
          f"api_submit_p99_ms={fields['api_submit']} rps={total / seconds:.0f}")


if __name__ == "__main__":
    main()
