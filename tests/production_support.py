"""Helpers for the production-shape tests (no tests here): start scripts/serve, talk HTTP, find its processes."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Shape:
    """scripts/serve running on a port: gunicorn workers and the scheduler, logs in a file."""

    def __init__(self, url: str, log_dir: Path, **env):
        self.port = free_port()
        self.log = log_dir / "serve.err"
        environment = dict(os.environ, SECRET_KEY="cle-de-test-production", DATABASE_URL=url, PORT=str(self.port),
                           PUBLIC_URL=f"http://127.0.0.1:{self.port}",
                           SERVE_SETUP="0", WEB_CONCURRENCY="2", GUNICORN_THREADS="1", SCHEDULER_MAX_SLEEP="1",
                           GC_FREEZE_AFTER="3",  # each worker freezes early: the tests below run on frozen workers
                           SIGNALEMENT_SECURE_COOKIES="false", **env)
        environment.pop("SIGNALEMENT_ENV", None)
        self.stderr = open(self.log, "w")
        self.process = subprocess.Popen([str(ROOT / "scripts" / "serve")], cwd=ROOT, env=environment,
                                        stdout=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until /pret answers 200 (or fail with the server's log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"scripts/serve exited {self.process.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if Browser(self.port).get("/pret").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM the shape and wait for it; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.stderr.close()
        return self.process.returncode

    def log_lines(self) -> list[dict]:
        """The JSON objects logged so far (a non-JSON line fails the test: logs are structured)."""
        self.stderr.flush()
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def child(self, word: str) -> int:
        """The pid of the serve script's child whose command line contains `word`."""
        [pid] = [pid for pid in children(self.process.pid) if word in cmdline(pid)]
        return pid

    def workers(self) -> list[int]:
        """The gunicorn worker pids at this moment."""
        return children(self.child("gunicorn"))


def cmdline(pid: int) -> str:
    """A process's command line, or '' once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def children(parent: int) -> list[int]:
    """Pids whose parent is `parent` (scanning /proc: no extra package)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found


class Response:
    """What a test needs of an HTTP answer."""

    def __init__(self, raw: http.client.HTTPResponse):
        self.status = raw.status
        self.headers = raw.headers
        self.text = raw.read().decode("utf-8", "replace")

    def json(self):
        """The body as JSON."""
        return json.loads(self.text)

    @property
    def location(self) -> str:
        """The redirect target's path."""
        return urlsplit(self.headers.get("Location", "")).path


class Browser:
    """A cookie-keeping HTTP client on 127.0.0.1 (one connection per request: a killed worker breaks only it)."""

    def __init__(self, port: int, cookies: dict | None = None):
        self.port = port
        self.cookies = dict(cookies or {})

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None) -> Response:
        """Send one request; raises OSError/HTTPException when the worker dies under it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            sent = dict(headers or {})
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if data is not None:
                body = urlencode(data, doseq=True)
                sent["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=sent)
            response = Response(connection.getresponse())
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, **kwargs) -> Response:
        """GET a path."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> Response:
        """POST a form."""
        return self.request("POST", path, data=data, **kwargs)

    def token(self, path: str) -> str:
        """The CSRF token of the form on a page."""
        page = self.get(path)
        found = CSRF.search(page.text)
        assert found, (path, page.status, page.text[:500])
        return found.group(1)

    def login(self, email: str, password: str) -> None:
        """Log in through the login form."""
        answer = self.post("/connexion", {"email": email, "password": password, "csrf_token": self.token("/connexion")})
        assert answer.status in (302, 303), (answer.status, answer.text[:500])
