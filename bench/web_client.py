"""The HTTP side of bench/web.py: keep-alive clients with cookies, the production server started on a bench
database, the requests of the mix, and the application's own time read back from its JSON request log."""
from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

from cli import scenarios
from referentiel import REGIONS
from web.forms import typed_to_raw

ROOT = Path(__file__).resolve().parent.parent
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

    def form(self, path: str, data: dict, headers: dict | None = None):
        """POST a form."""
        return self.request("POST", path, urlencode(data, doseq=True),
                            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

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


def serve(url: str, folder: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """scripts/serve on the bench database; returns once /pret says ready."""
    port = free_port()
    env = dict(os.environ, SECRET_KEY="bench-http", DATABASE_URL=url, PORT=str(port), SERVE_SETUP="0",
               WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads), SIGNALEMENT_SECURE_COOKIES="false",
               PUBLIC_URL=f"http://127.0.0.1:{port}")
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
    if process.poll() is None:  # not ready in time: stop it, or its workers and sweeps go on beside what follows
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    raise SystemExit(f"scripts/serve did not get ready: {(folder / 'serve.log').read_text()[-2000:]}")


class Mix:
    """The requests of the mix, as the analysts and the national portal send them; each returns whether the
    answer was the expected one. Completions take open p2_ouvrir tasks from a shared list (each once)."""

    def __init__(self, port: int, loaded: dict, hot_lock):
        self.port, self.loaded, self.hot_lock = port, loaded, hot_lock
        acss, ars = Client(port), Client(port)
        self.tokens = {ACSS: acss.login(ACSS), ARS: ars.login(ARS)}
        self.cookies = {ACSS: acss.cookies, ARS: ars.cookies}
        self.api = Client(port).request("GET", "/api/v1/openapi.json")[0] == 200
        self.hot = list(loaded["hot_tasks"])
        random.Random(7).shuffle(self.hot)
        self.opening = None

    def kinds(self) -> list[str]:
        return [k for k in KINDS if k != "api_submit" or self.api]

    def send(self, kind: str, email: str, clients: dict, rng: random.Random, request_id: str) -> bool | None:
        """One request of a kind as a user (clients: {"page": Client, "api": Client}); None when there is
        nothing left to complete."""
        headers = {"X-Request-Id": request_id}
        client = clients["page"]
        if kind == "inbox":
            query = rng.choice(["", "?tri=echeance", "?page=2", "?" + urlencode({"region": rng.choice(REGIONS)}),
                                "?tri=recent"])
            return client.request("GET", "/boite" + query, headers=headers)[0] == 200
        if kind == "dossier":
            pool = self.loaded["civil"] if email == ACSS else self.loaded["bretagne"]
            return client.request("GET", f"/dossiers/{rng.choice(pool)}", headers=headers)[0] == 200
        if kind == "complete":
            with self.hot_lock:
                task_id = self.hot.pop() if self.hot else None
            if task_id is None:
                return None
            if self.opening is None:
                self.opening = typed_to_raw({}, scenarios.OPENING[0][1])
            status = client.form(f"/taches/{task_id}", dict(self.opening, csrf_token=self.tokens[ACSS]), headers)[0]
            return status in (302, 303)
        return api_submit(clients["api"], self.loaded["api"], headers) in (200, 201)


def api_submit(client: Client, api: dict, headers: dict | None = None) -> int:
    """A declaration through the JSON API (POST /api/v1/declarations: the four blocks of phase 1, as the
    national portal forwards them), with the declarant's bearer token and a fresh Idempotency-Key."""
    body = json.dumps({"finess_site": api["finess"], "perimetre": scenarios.PERIMETRE, "impact": scenarios.IMPACT,
                       "origine": scenarios.ORIGINE, "formulaire": scenarios.formulaire()})
    return client.request("POST", "/api/v1/declarations", body,
                          {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex,
                           "Authorization": f"Bearer {api['secret']}", **(headers or {})})[0]


def worker_memory(serve_pid: int) -> tuple[int, float, float]:
    """(workers, median private memory, median PSS) in MB of the gunicorn workers under a scripts/serve process,
    from /proc (Private_Dirty: what a worker does not share with the master; PSS: its fair share of the rest)."""
    def children(pid: int) -> list[int]:
        try:
            return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def field(text: str, name: str) -> float:
        found = re.search(rf"^{name}:\s+(\d+) kB", text, re.M)
        return int(found.group(1)) / 1024 if found else 0.0

    masters = [pid for pid in children(serve_pid) if "gunicorn" in Path(f"/proc/{pid}/cmdline").read_text()]
    rollups = []
    for worker in (children(masters[0]) if masters else []):
        try:
            rollups.append(Path(f"/proc/{worker}/smaps_rollup").read_text())
        except OSError:
            continue
    if not rollups:
        return 0, float("nan"), float("nan")
    private = sorted(field(text, "Private_Dirty") for text in rollups)
    shared = sorted(field(text, "Pss") for text in rollups)
    return len(rollups), private[len(private) // 2], shared[len(shared) // 2]


def app_times(log: Path, prefix: str) -> dict[str, list]:
    """{kind: the application's own times (ms)} of the requests whose id starts with `prefix` (ids are
    `<prefix>-<kind>-<n>`), from the JSON request log (queueing in the listen backlog excluded)."""
    spent = defaultdict(list)
    for line in log.read_text().splitlines():
        if '"signalement.requests"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        request_id = entry.get("request_id") or ""
        if request_id.startswith(prefix + "-") and entry.get("duration_ms") is not None:
            spent[request_id.split("-")[-2]].append(entry["duration_ms"])
    return spent


def quantile(values: list, q: float) -> float:
    """The q-quantile of a list (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(title: str, latencies: dict, spent: dict, errors: dict) -> None:
    """Per kind: the client's median and p99, and the application's own median and p99."""
    print(title)
    for kind in KINDS:
        values = latencies.get(kind, [])
        if not values:
            continue
        own = spent.get(kind, [])
        print(f"  {kind:<11} n={len(values):<6} client median={quantile(values, 0.5):7.1f} ms "
              f"p99={quantile(values, 0.99):7.1f} ms | app median={quantile(own, 0.5):6.1f} ms "
              f"p99={quantile(own, 0.99):7.1f} ms")
    for kind, count in errors.items():
        print(f"  {kind}: {count} unexpected answers", file=sys.stderr)
