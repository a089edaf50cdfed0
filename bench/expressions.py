"""Benchmark: how long the interpreter takes to refuse hostile expressions and to evaluate the
largest ones its bounds let through, at deployment (check) and at evaluation.

Usage: python bench/expressions.py
Last line: hostile_worst_ms=<ms> bounded_worst_ms=<ms> shipped_vs_hostile=<ratio>
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from engine import expressions  # noqa: E402
from test_expressions_security import ESCAPES, EXPRESSION_DATA  # noqa: E402

BOUNDED = ["sorted([1] * 10000)", "str([[1] * 10000] * 20)", "('a' * 50000 + 'a' * 50000).find('b')",
           "len([[1] * 10000] * 19 + [[2] * 10000] * 19)", "x * 10000", "sum([1.5] * 10000)",
           "2 ** 4095 * 3", "('ab' * 50000).split('a')", "sorted(list('a' * 100000))"]
SHIPPED = ['["declarant", "ars"] + (["hfds"] if qualification == "significatif" else [])',
           'structure["finess_et"]', "similaires[\"nombre\"] > 0"]
DATA = dict(EXPRESSION_DATA, qualification="significatif", similaires={"nombre": 2}, x=[list(range(20))])


def worst_ms(sources) -> float:
    """Slowest check + evaluation (refused or not) among the sources, in milliseconds."""
    env, worst = expressions.RestrictedEnvironment(), 0.0
    for source in sources:
        expressions.parse.cache_clear()
        started = time.perf_counter()
        for run in (lambda: expressions.check(source), lambda: env.evaluate(source, dict(DATA))):
            try:
                run()
            except Exception:  # noqa: BLE001 - refusals and data errors are what is measured
                pass
        worst = max(worst, (time.perf_counter() - started) * 1000)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="accepted for uniformity: this bench runs in seconds")
    parser.parse_args()
    hostile, bounded, shipped = worst_ms(ESCAPES.values()), worst_ms(BOUNDED), worst_ms(SHIPPED)
    print(f"hostile_worst_ms={hostile:.2f} bounded_worst_ms={bounded:.2f} "
          f"shipped_vs_hostile={shipped / hostile:.3f}")


if __name__ == "__main__":
    main()
