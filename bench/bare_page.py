"""The reference a request's cost is compared with, measured in the same run: a bare Flask page on the same stack.

Issue 21 set its targets against it: Flask, Flask-SQLAlchemy on the same PostgreSQL database, 25 task rows read by
key and a Jinja table of them, served in-process through Flask's test client (2.1 ms median on the day the targets
were set, when an inbox cost 11-13 ms). This machine's speed drifts by tens of percent from one hour to the next and
more from one day to the next; a cost divided by this page's, both measured minutes apart in one process, drifts much
less, so a figure of another day can be compared with it.

A library of the benches, not a script: bench/request_cost.py measures it before and after the application's
requests and divides each kind's cost by it.
"""
from __future__ import annotations

import statistics
import time

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROWS = 25

TABLE = """<!doctype html><html lang="fr"><head><title>Tâches</title></head><body>
<table><thead><tr><th>Tâche</th><th>Étape</th><th>Rôle</th><th>État</th><th>Région</th></tr></thead><tbody>
{% for task in tasks %}<tr><td><a href="/taches/{{ task.id }}">{{ task.title }}</a></td><td>{{ task.spec_name }}</td>
<td>{{ task.role }}</td><td>{{ task.status }}</td><td>{{ task.region or "" }}</td></tr>
{% endfor %}</tbody></table></body></html>"""


def bare_app(url: str):
    """A Flask application with one page: ROWS rows of the `tasks` table read by key, in a Jinja table (the keys
    of ROWS rows taken once, at the start)."""
    app = Flask("bare_page")
    app.config["SQLALCHEMY_DATABASE_URI"] = url

    class Base(DeclarativeBase):  # its own metadata: the page may be built more than once in a process
        pass

    bare_db = SQLAlchemy(model_class=Base)

    class Task(bare_db.Model):
        __tablename__ = "tasks"
        id: Mapped[str] = mapped_column(String(36), primary_key=True)
        spec_name: Mapped[str] = mapped_column(String(100))
        title: Mapped[str] = mapped_column(String(300))
        role: Mapped[str] = mapped_column(String(40))
        status: Mapped[str] = mapped_column(String(20))
        region: Mapped[str | None] = mapped_column(String(100))

    bare_db.init_app(app)
    with app.app_context():
        keys = bare_db.session.scalars(select(Task.id).order_by(Task.id).limit(ROWS)).all()
    if len(keys) < ROWS:
        raise SystemExit(f"the bare page needs {ROWS} task rows, the database has {len(keys)}")
    template = app.jinja_env.from_string(TABLE)

    @app.get("/")
    def page():
        tasks = bare_db.session.scalars(select(Task).where(Task.id.in_(keys)).order_by(Task.id)).all()
        return template.render(tasks=tasks)

    app.extensions["bare_page_db"] = bare_db
    return app


class BarePage:
    """The bare page, built once; `sample(rounds)` adds that many timings (ms, through Flask's test client)."""

    def __init__(self, url: str):
        self.app = bare_app(url)
        self.client = self.app.test_client()
        self.times: list[float] = []
        self.sample(5, keep=False)  # warm-up: first connection, template compiled

    def sample(self, rounds: int, keep: bool = True) -> None:
        for _ in range(rounds):
            started = time.perf_counter()
            response = self.client.get("/")
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or response.get_data().count(b"<tr>") != ROWS + 1:
                raise SystemExit(f"the bare page answered {response.status_code} without its {ROWS} rows")
            if keep:
                self.times.append(elapsed * 1000)

    def median(self) -> float:
        return statistics.median(self.times)

    def close(self) -> None:
        with self.app.app_context():
            self.app.extensions["bare_page_db"].engine.dispose()
