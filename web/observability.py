"""Structured logs: one JSON object per line, and one line per request carrying its request id.

The request id comes from a trusted `X-Request-Id` (a reverse proxy's; letters, digits, `-_.:`, at most
100 characters) or is generated, and is echoed in the response so a user's report can be found in the
logs. Only the method, path (never the query string, which may carry search terms), status, duration
and the user id are logged: never form data, cookies or headers.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import g, has_request_context, request
from sqlalchemy import inspect

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
log = logging.getLogger("signalement.requests")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: time, level, logger, message, the request's fields and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if has_request_context():
            entry["request_id"] = g.get("request_id")
            entry.setdefault("method", request.method)
            entry.setdefault("path", request.path)
        for field in ("method", "path", "status", "duration_ms", "user_id"):
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_json_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines (replacing the handlers already installed)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("gunicorn.error", "gunicorn.access", "apscheduler"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per sweep would drown the requests


def _start():
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response):
    response.headers["X-Request-Id"] = g.get("request_id", "")
    started = g.get("request_started")
    duration = round((time.perf_counter() - started) * 1000, 1) if started else None
    user = g.get("_login_user")  # only if this request loaded it: logging never costs a query,
    state = inspect(user, raiseerr=False) if user is not None else None  # even after a commit expired it
    user_id = state.identity[0] if state is not None and state.identity else None
    log.info("%s %s %s", request.method, request.path, response.status_code,
             extra={"method": request.method, "path": request.path, "status": response.status_code,
                    "duration_ms": duration, "user_id": user_id})
    return response


def init_app(app) -> None:
    """Give every request an id and a log line; JSON log lines when LOG_FORMAT is "json"."""
    if app.config.get("LOG_FORMAT") == "json":
        configure_json_logging(app.config.get("LOG_LEVEL", "INFO"))
    app.before_request(_start)
    app.after_request(_finish)
