"""The application's own cost of each kind of request of bench/web.py's mix, in-process, on a bench database.

No server and no HTTP client: the Flask test client drives the application built as in production (no test
checks), on a PostgreSQL database loaded by bench/web.py (`--keep`, then pass its URL here). For each kind
(the inbox in its variants, a dossier page, the completion of an open p2_ouvrir task, a declaration through
the JSON API) it prints the application's own time (median and p90, what bench/web.py reads from the server's
request log), the time through the test client, the CPU time of this process (the Python side alone: what a
busy machine changes least), the SQL statements per request and, with `--profile`, the top
entries by cumulative time (cProfile over every request of that kind, our code and the libraries).

The same run also times the reference issue 21 set its targets against (bench/bare_page.py: a bare Flask page,
Flask-SQLAlchemy on the same database, 25 task rows read by key in a Jinja table), half before the requests and half
after, and divides each kind's median through the test client by the page's: the machine's drift, which moves every
absolute figure by tens of percent from one hour or day to the next, largely cancels out of the ratio.

Last line: `cost_inbox_ms=… cost_dossier_ms=… cost_complete_ms=… cost_api_submit_ms=… queries_inbox=…
queries_dossier=… queries_complete=… queries_api_submit=… bare_page_ms=… inbox_vs_bare=… dossier_vs_bare=…
complete_vs_bare=… api_submit_vs_bare=… rested_bare_page_ms=… rested_inbox_vs_bare=… rested_dossier_vs_bare=…`
(medians of the application's own time; the ratios as said above; the rested ones: the bare page, the inbox and a
dossier page timed in turn, each after 25 ms of rest, the idle time between two requests of an open loop at 40/s,
which slows the next request down on this machine).

Run: python bench/request_cost.py --database URL [--rounds 60] [--rest-ms 25] [--profile [--order tottime]] [--smoke]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from sqlalchemy import event, select  # noqa: E402

from app import create_app  # noqa: E402
from bench import web  # noqa: E402
from bench.bare_page import BarePage  # noqa: E402
from bench.web_client import ACSS, ARS  # noqa: E402
from cli import scenarios  # noqa: E402
from models import User, db  # noqa: E402
from referentiel import REGIONS  # noqa: E402
from web.auth import login_sessions  # noqa: E402
from web.forms import typed_to_raw  # noqa: E402

KINDS = ["inbox", "dossier", "complete", "api_submit"]
RESTED = ["inbox", "dossier"]  # the pages also timed after a rest (rested_pages)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class AppTimes(logging.Handler):
    """The application's own time of each request, as its request log line gives it (web/observability.py: from
    the first before_request hook to the last after_request one), which bench/web.py reads from the server."""

    def __init__(self):
        super().__init__()
        self.last = None
        log = logging.getLogger("signalement.requests")
        log.addHandler(self)
        log.setLevel(logging.INFO)

    def emit(self, record):
        self.last = getattr(record, "duration_ms", None)


class Counter:
    """SQL statements sent on the application's engine."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *args):
        self.count += 1


def production_app(url: str):
    """The application as scripts/serve builds it (no test-only checks), with no scheduler."""
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-cost", "SCHEDULER_ENABLED": False,
                       "LIVE_WORKFLOW_CHECK": False, "PUBLIC_URL": "http://localhost",
                       "SESSION_COOKIE_SECURE": False})


def logged_in(app, email: str):
    """A test client carrying a login session of `email` and its CSRF token."""
    client = app.test_client()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        session_id = login_sessions.open_session(user)
        db.session.commit()
        db.session.remove()
    with client.session_transaction() as session:
        session["_user_id"] = session_id
        session["_fresh"] = True
    page = client.get("/boite").get_data(as_text=True)
    return client, CSRF.search(page).group(1)


def requests_of(app, loaded: dict, rng: random.Random):
    """{kind: a function sending one request of that kind, returning the status}."""
    acss, token = logged_in(app, ACSS)
    ars, _ = logged_in(app, ARS)
    hot = list(loaded["hot_tasks"])
    rng.shuffle(hot)
    opening = typed_to_raw({}, scenarios.OPENING[0][1])
    api_client = app.test_client()
    body = {"finess_site": loaded["api"]["finess"], "perimetre": scenarios.PERIMETRE, "impact": scenarios.IMPACT,
            "origine": scenarios.ORIGINE, "formulaire": scenarios.formulaire()}

    def inbox():
        client = acss if rng.random() < 0.75 else ars
        query = rng.choice(["", "?tri=echeance", "?page=2", "?" + urlencode({"region": rng.choice(REGIONS)}),
                            "?tri=recent"])
        return client.get("/boite" + query).status_code, 200

    def dossier():
        if rng.random() < 0.75:
            return acss.get(f"/dossiers/{rng.choice(loaded['civil'])}").status_code, 200
        return ars.get(f"/dossiers/{rng.choice(loaded['bretagne'])}").status_code, 200

    def complete():
        response = acss.post(f"/taches/{hot.pop()}", data=dict(opening, csrf_token=token))
        return response.status_code, 303 if response.status_code == 303 else 302

    def api_submit():
        response = api_client.post("/api/v1/declarations", data=json.dumps(body), headers={
            "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex,
            "Authorization": f"Bearer {loaded['api']['secret']}"})
        return response.status_code, 201

    return {"inbox": inbox, "dossier": dossier, "complete": complete, "api_submit": api_submit}, hot


def measure(send, rounds: int, counter: Counter, spent: AppTimes,
            profile: bool) -> tuple[list, list, list, pstats.Stats | None]:
    """Times (ms, through the test client and the application's own), statement counts of `rounds` requests
    (after a warm-up of a fifth), and their profile."""
    for _ in range(max(2, rounds // 5)):
        send()
    times, own, cpu, queries = [], [], [], []
    profiler = cProfile.Profile() if profile else None
    for _ in range(rounds):
        before = counter.count
        if profiler:
            profiler.enable()
        started, started_cpu = time.perf_counter(), time.thread_time()
        status, expected = send()
        elapsed, used = time.perf_counter() - started, time.thread_time() - started_cpu
        if profiler:
            profiler.disable()
        if status != expected:
            raise SystemExit(f"unexpected answer {status} (expected {expected})")
        times.append(elapsed * 1000)
        own.append(spent.last)
        cpu.append(used * 1000)
        queries.append(counter.count - before)
    return times, own, cpu, queries, pstats.Stats(profiler) if profiler else None


def top(stats: pstats.Stats, lines: int, order: str) -> str:
    """The top entries in `order` (cumulative or tottime), paths shortened."""
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats(order).print_stats(lines)
    text_ = out.getvalue().replace(str(ROOT) + "/", "")
    return re.sub(r"\S*/site-packages/", "", text_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="URL of a database kept by `python bench/web.py --keep`")
    parser.add_argument("--rounds", type=int, default=60, help="measured requests of each kind")
    parser.add_argument("--profile", action="store_true", help="print the top entries by cumulative time")
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--order", choices=["cumulative", "tottime"], default="cumulative",
                        help="how --profile sorts its entries")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--rest-ms", type=float, default=25,
                        help="rest before each request of the rested measure (an open loop at 40/s: about 25 ms)")
    parser.add_argument("--server", default=os.environ.get("TEST_POSTGRES_SERVER",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--smoke", action="store_true", help="a throwaway database of 200 dossiers, few rounds")
    args = parser.parse_args()
    if args.rest_ms < 0:
        parser.error("--rest-ms must be 0 or more")
    if args.smoke:
        args.rounds = 5
    elif not args.database:
        parser.error("--database (or --smoke) is required")
    with (web.smoke_database(args.server, "cost") if args.smoke else nullcontext(args.database)) as url:
        app = production_app(url)
        loaded = web.found(app, {})
        sends, hot = requests_of(app, loaded, random.Random(21))
        kinds = [k for k in args.kinds.split(",") if k in KINDS]
        if "complete" in kinds and len(hot) < args.rounds * 1.3:
            raise SystemExit(f"only {len(hot)} open p2_ouvrir tasks left for {args.rounds} completions")
        with app.app_context():
            counter = Counter(db.engine)
        spent = AppTimes()
        bare = BarePage(url)
        bare_rounds = max(10, args.rounds)
        bare.sample(bare_rounds)
        results, through = {}, {}
        for kind in kinds:
            times, own, cpu, queries, stats = measure(sends[kind], args.rounds, counter, spent, args.profile)
            results[kind] = (statistics.median(own), statistics.median(queries))
            through[kind] = statistics.median(times)
            times.sort()
            print(f"{kind:<11} n={len(times):<4} application median={results[kind][0]:6.1f} ms "
                  f"p90={sorted(own)[int(0.9 * len(own))]:6.1f} ms | through the test client median="
                  f"{statistics.median(times):6.1f} ms | Python CPU median={statistics.median(cpu):5.1f} ms | "
                  f"statements={results[kind][1]:g}")
            if stats:
                print(top(stats, args.lines, args.order))
        bare.sample(bare_rounds)
        bare_ms = bare.median()
        print(f"bare page  n={len(bare.times):<4} through the test client median={bare_ms:6.2f} ms (half before the "
              f"requests, half after); through the test client, each kind costs "
              + ", ".join(f"{kind} {through[kind] / bare_ms:.1f}x" for kind in kinds) + " the bare page")
        rested = rested_pages(bare, {k: sends[k] for k in RESTED if k in kinds}, args.rounds, args.rest_ms)
        bare.close()
        with app.app_context():
            db.engine.dispose()
    print(" ".join(f"cost_{k}_ms={results[k][0]:.1f}" for k in kinds) + " "
          + " ".join(f"queries_{k}={results[k][1]:g}" for k in kinds) + f" bare_page_ms={bare_ms:.2f} "
          + " ".join(f"{k}_vs_bare={through[k] / bare_ms:.1f}" for k in kinds)
          + f" rested_bare_page_ms={rested['bare']:.2f} "
          + " ".join(f"rested_{k}_vs_bare=" + (f"{rested[k] / rested['bare']:.1f}" if k in rested else "na")
                     for k in RESTED))


def rested_pages(bare: BarePage, sends: dict, rounds: int, rest_ms: float) -> dict[str, float]:
    """Medians (ms, through the test client) of the bare page and of each page of `sends`, in turn, each after
    `rest_ms` of rest: an open loop at 40 requests/s leaves the machine idle about that long between requests, and
    on this machine an idle moment slows the next request down (docs/reference/benchmarks.md gives the figures).
    What bench/web.py's open loop reports includes that; this measure gives the bare page the same rests."""
    times: dict = {"bare": [], **{kind: [] for kind in sends}}
    for _ in range(max(10, rounds // 2)):
        for name in times:
            time.sleep(rest_ms / 1000)
            started = time.perf_counter()
            if name == "bare":
                bare.sample(1, keep=False)
            elif sends[name]()[0] != 200:
                raise SystemExit(f"the {name} page did not answer 200")
            times[name].append((time.perf_counter() - started) * 1000)
    found = {name: statistics.median(values) for name, values in times.items()}
    print(f"after {rest_ms:g} ms of rest before each request: bare page median={found['bare']:6.2f} ms"
          + "".join(f", {kind} median={found[kind]:6.1f} ms ({found[kind] / found['bare']:.1f}x the bare page)"
                    for kind in sends))
    return found


if __name__ == "__main__":
    main()
