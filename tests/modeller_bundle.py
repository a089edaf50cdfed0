"""The modeller's browser bundle (scripts/build-assets, run by scripts/setup), rebuilt for the browser tests when a
source is newer than it, so a test never runs an old bundle; skipped (failed with REQUIRE_TOOLS=1) without esbuild."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "web" / "static" / "vendor" / "modeller" / "modeller.js"
SOURCES = [*(ROOT / "web" / "static" / "js" / "modeller").glob("*.js"), ROOT / "validation" / "bpmnlint-fr.json",
           ROOT / "web" / "static" / "js" / "spiffworkflow-moddle.json", ROOT / "package-lock.json"]


def ensure_bundle() -> None:
    if BUNDLE.exists() and BUNDLE.stat().st_mtime >= max(p.stat().st_mtime for p in SOURCES):
        return
    if not (ROOT / "node_modules" / ".bin" / "esbuild").exists():
        message = "esbuild absent (lancez `npm ci`) : le modeleur ne peut pas être assemblé"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([str(ROOT / "scripts" / "build-assets")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
