"""Time of a failed login by cause: a wrong password, an unknown e-mail, an account suspended from this
address. They should cost the same (one argon2 verification each), so that timing does not tell whether
an account exists or is suspended.

    python bench/login.py [--rounds 30]

The last line reads `locked_vs_wrong=<ratio> unknown_vs_wrong=<ratio>` (medians; about 1 expected).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from itsdangerous import URLSafeTimedSerializer  # noqa: E402

from cli import demo  # noqa: E402
import migrate  # noqa: E402
from app import create_app  # noqa: E402

ACCOUNT = "analyste@acss.example.fr"


def attempt(client, email: str, password: str, address: str) -> float:
    """Seconds taken by one login POST from a client address."""
    with client.session_transaction() as session:
        session.setdefault("csrf_token", "jeton-de-banc-d-essai")
        raw = session["csrf_token"]
    token = URLSafeTimedSerializer(client.application.secret_key, salt="wtf-csrf-token").dumps(raw)
    started = time.perf_counter()
    response = client.post("/connexion", data={"email": email, "password": password, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": address})
    elapsed = time.perf_counter() - started
    assert response.status_code == 401, response.status_code
    return elapsed


def main() -> None:
    """Measure the three kinds of failure and print the ratios of their medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="a few rounds: checks it runs, in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 3
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db",
                          "SECRET_KEY": "bench", "SCHEDULER_ENABLED": False, "LOGIN_IP_MAX_FAILURES": 10**6,
                          "LOGIN_DELAY_MAX_S": 0})
        with app.app_context():
            migrate.upgrade()
            demo.load_demo(password="bench-password")
            client = app.test_client()
            for _ in range(5):  # suspend the account from 10.0.0.1
                attempt(client, ACCOUNT, "mauvais", "10.0.0.1")
            times = {"wrong": [], "unknown": [], "locked": []}
            for n in range(args.rounds):  # interleaved, so that machine drift hits all three alike
                times["wrong"].append(attempt(client, ACCOUNT, "mauvais", f"10.1.{n // 4}.{n % 4}"))
                times["unknown"].append(attempt(client, f"personne{n}@example.fr", "mauvais", "10.0.0.2"))
                times["locked"].append(attempt(client, ACCOUNT, "bench-password", "10.0.0.1"))
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    print(" ".join(f"{kind}_median_ms={value * 1000:.1f}" for kind, value in medians.items()))
    print(f"locked_vs_wrong={medians['locked'] / medians['wrong']:.2f} "
          f"unknown_vs_wrong={medians['unknown'] / medians['wrong']:.2f}")


if __name__ == "__main__":
    main()
