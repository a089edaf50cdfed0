"""List pages at volume: the inbox and the dossier list with tens of thousands of dossiers.

Serves the pages through the Flask test client (queries, access filters, template), for the
Cellule ACSS (sees every dossier) and an ARS (its region only), first with a few dossiers, then
with `--dossiers` open dossiers (default 30,000, each with one open task and two completed ones),
and prints each page's time at both volumes and the ratio large/small.

Usage: python bench/inbox.py [--dossiers 30000] [--database URL]
Last line: list_page_worst_ms=<ms at volume> list_large_vs_small=<worst ratio>
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.volume import add_open_dossiers  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import migrate  # noqa: E402
from app import create_app  # noqa: E402
from cli import demo  # noqa: E402
from models import Dossier, TaskRow, User, db  # noqa: E402
from timekeeping import clock as clock_mod  # noqa: E402
from web.auth import login_sessions  # noqa: E402
from workflow import deployment  # noqa: E402

SMALL = 100
PAGES = [  # (who, page); "{last}" is the last page of that list at that volume
    ("analyste@acss.example.fr", "/boite"),
    ("analyste@acss.example.fr", "/boite?page={last}"),
    ("analyste@acss.example.fr", "/boite?tri=echeance"),  # the order by due date alone, beside the default
    ("analyste@acss.example.fr", "/boite?type=rancongiciel&tri=recent&echeance=retard"),
    ("analyste@acss.example.fr", "/dossiers"),
    ("analyste@acss.example.fr", "/dossiers?page={last}"),
    ("ars.bretagne@ars.example.fr", "/boite"),
    ("ars.bretagne@ars.example.fr", "/dossiers?etat=à+traiter"),
]


def page_ms(app, email: str, url: str, rounds: int = 5) -> float:
    """Median time to serve one page to a logged-in user, in milliseconds."""
    user = db.session.scalar(select(User).where(User.email == email))
    client = app.test_client()
    with client.session_transaction() as session:
        # Flask-Login keeps the server-side login session's id (web/auth/login_sessions.py), not the user's.
        session["_user_id"] = login_sessions.open_session(user)
        session["_fresh"] = True
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url} ({email}): HTTP {response.status_code}")
    return statistics.median(times) * 1000


def last_pages() -> dict:
    """The last page number of the ACSS inbox and of the full dossier list (25 rows a page)."""
    tasks = db.session.scalar(select(func.count()).select_from(TaskRow)
                              .where(TaskRow.status == "ready", TaskRow.role == "acss"))
    dossiers = db.session.scalar(select(func.count()).select_from(Dossier))
    return {"/boite": max(1, -(-tasks // 25)), "/dossiers": max(1, -(-dossiers // 25))}


def measure(app) -> dict:
    last = last_pages()
    db.session.remove()
    return {(email, url): page_ms(app, email, url.format(last=last[url.split("?")[0]])) for email, url in PAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=30_000)
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database (default: a temporary SQLite file)")
    parser.add_argument("--smoke", action="store_true", help="a few hundred dossiers: checks it runs, in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.dossiers = 600
    with tempfile.TemporaryDirectory() as folder:
        clock = clock_mod.FrozenClock()
        url = args.database or f"sqlite:///{folder}/inbox.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "CLOCK": clock, "SECRET_KEY": "bench"})
        with app.app_context():
            migrate.upgrade()
            deployment.deploy(app.config["PROCESS_FILE"])
            demo.load_demo("bench")
            add_open_dossiers(SMALL, clock.now())
            small = measure(app)
            add_open_dossiers(args.dossiers - SMALL, clock.now())
            large = measure(app)
            db.session.remove()
            db.engine.dispose()
    worst_ms, worst_ratio = 0.0, 0.0
    for key in small:
        ratio = large[key] / small[key]
        worst_ms, worst_ratio = max(worst_ms, large[key]), max(worst_ratio, ratio)
        email, page = key
        print(f"{page:60s} {email.split('@')[0]:14s} {SMALL:>6} dossiers {small[key]:7.1f} ms   "
              f"{args.dossiers:>6} dossiers {large[key]:7.1f} ms   x{ratio:.2f}")
    print(f"list_page_worst_ms={worst_ms:.1f} list_large_vs_small={worst_ratio:.2f}")


if __name__ == "__main__":
    main()
