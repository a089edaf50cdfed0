"""Benches that cannot rot: every script of bench/ runs at its `--smoke` size (seconds, not minutes) and must
print its figures. Their values are not judged here (a loaded test machine says nothing about speed); that they
are printed, and that the script gets to the end, is what a test can hold."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# script -> the names its last line must carry, each with a number (or "na" where a kind had no request).
FIGURES = {
    "engine.py": ["engine_vs_bare", "step200_vs_step10"],
    "gc_pause.py": ["gc_walk_unfrozen_ms", "gc_walk_master_frozen_ms", "gc_walk_worker_frozen_ms", "walked_unfrozen",
                    "walked_worker_frozen"],
    "expressions.py": ["hostile_worst_ms", "bounded_worst_ms", "shipped_vs_hostile"],
    "inbox.py": ["list_page_worst_ms", "list_large_vs_small"],
    "login.py": ["locked_vs_wrong", "unknown_vs_wrong"],
    "periodic.py": ["sweep_idle_ms", "readiness_ms", "readiness_per_task_ms", "statistics_national_ms",
                    "statistics_region_ms", "dossiers"],
    "replay.py": ["replay_vs_live", "replay_full_100_s", "verify_100_s"],
    "request_cost.py": ["cost_inbox_ms", "cost_dossier_ms", "cost_complete_ms", "cost_api_submit_ms", "queries_inbox",
                        "queries_dossier", "queries_complete", "queries_api_submit", "bare_page_ms", "inbox_vs_bare",
                        "dossier_vs_bare", "complete_vs_bare", "api_submit_vs_bare", "rested_bare_page_ms",
                        "rested_inbox_vs_bare", "rested_dossier_vs_bare"],
    "timers.py": ["timer_lateness_p50_s", "timer_lateness_p99_s"],
    "web.py": ["open_rate", "inbox_p99_ms", "dossier_p99_ms", "complete_p99_ms", "api_submit_p99_ms",
               "app_inbox_ms", "app_dossier_ms", "app_complete_ms", "saturation_rps"],
}
NEEDS_POSTGRES = {"web.py", "request_cost.py", "periodic.py"}
# Library modules of the benches (data loaders, the HTTP client), not scripts.
LIBRARIES = {"volume.py", "web_load.py", "web_client.py", "replay_copies.py", "bare_page.py"}


def test_every_bench_script_is_listed():
    scripts = {path.name for path in (ROOT / "bench").glob("*.py")} - LIBRARIES
    assert scripts == FIGURES.keys()


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_bench_runs_at_smoke_size_and_prints_its_figures(script, backend):
    # Each script makes its own database: run once, on the half whose server it needs (the PostgreSQL half is
    # skipped, or failed under REQUIRE_POSTGRES=1, when the server is missing).
    if backend != ("postgresql" if script in NEEDS_POSTGRES else "sqlite"):
        pytest.skip("script de mesure exécuté une fois, sur la base qu'il utilise")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--smoke"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    print(f"{script}: {last}")
    found = dict(re.findall(r"(\w+)=(\S+)", last))
    assert list(found) == FIGURES[script], last
    for name, value in found.items():
        assert re.fullmatch(r"-?\d+(\.\d+)?|na", value), (name, value)
