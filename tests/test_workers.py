"""web/workers.py: a worker's long-lived objects leave the cyclic collector's walk, its request garbage does not."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from web import workers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def counting(monkeypatch):
    """The worker's request count from zero; the collector's frozen generation emptied afterwards unless something
    (the anonymization engine) had frozen objects before this test, which stay frozen as they were."""
    frozen_before = gc.get_freeze_count()
    monkeypatch.setattr(workers, "_served", 0)
    monkeypatch.setattr(workers, "_after", None)
    monkeypatch.setattr(workers.log, "disabled", False)
    yield
    if not frozen_before:
        gc.unfreeze()


class Cycle:
    """Garbage only the cyclic collector frees: it refers to itself."""

    def __init__(self):
        self.me = self


def test_a_worker_freezes_once_at_its_nth_request_after_freeing_its_garbage(counting, caplog):
    gc.collect()
    kept = [Cycle() for _ in range(50)]  # a worker's warm caches: still referenced
    dropped = Cycle()
    gone = weakref.ref(dropped)
    del dropped  # the request garbage of that moment
    before = gc.get_freeze_count()
    with caplog.at_level("INFO", logger="signalement.serve"):
        assert [workers.request_served(after=3) for _ in range(3)] == [False, False, True]
    assert gone() is None  # collected first, not frozen for good
    assert gc.get_freeze_count() >= before + len(kept)
    walked = {id(o) for o in gc.get_objects()}  # what a collection still walks: the frozen objects are not in it
    assert not any(id(c) in walked for c in kept)
    assert "frozen after 3 requests" in caplog.text
    # Once only: later requests freeze nothing more.
    frozen = gc.get_freeze_count()
    assert not any(workers.request_served(after=3) for _ in range(20))
    assert gc.get_freeze_count() == frozen


def test_a_new_worker_counts_its_own_requests_and_reports_what_it_inherited(counting, caplog):
    workers.request_served(after=100)
    workers.request_served(after=100)
    workers.freeze_preloaded()
    with caplog.at_level("INFO", logger="signalement.serve"):
        before = gc.get_freeze_count()
        inherited = workers.forked()
    # A frozen object can still be freed (by another thread of the test process, between two reads): the count
    # read by forked() lies between the counts read just before and just after it, never outside.
    assert before >= inherited >= gc.get_freeze_count() and inherited > 0
    assert f"starts with {inherited} objects" in caplog.text
    assert [workers.request_served(after=2) for _ in range(2)] == [False, True]  # the master's 2 did not count


def test_the_setting_turns_the_worker_freeze_off(counting, monkeypatch):
    monkeypatch.setenv("GC_FREEZE_AFTER", "0")
    workers.forked()  # a worker reads its setting when it starts
    monkeypatch.setenv("GC_FREEZE_AFTER", "1")  # and not again at each request
    before = gc.get_freeze_count()
    assert not any(workers.request_served() for _ in range(workers.DEFAULT_FREEZE_AFTER + 5))
    assert gc.get_freeze_count() == before
    monkeypatch.setenv("GC_FREEZE_AFTER", " 7 ")
    assert workers.freeze_after() == 7
    monkeypatch.delenv("GC_FREEZE_AFTER")
    assert workers.freeze_after() == workers.DEFAULT_FREEZE_AFTER


@pytest.mark.parametrize("value", ["beaucoup", "-4"])
def test_gunicorn_refuses_to_start_with_a_bad_setting(value):
    """The production tests start it with GC_FREEZE_AFTER=3; a value that is not a whole number stops the start."""
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "scripts/gunicorn.conf.py",
                             "--check-config", "app:create_app()"], cwd=ROOT,
                            env=dict(os.environ, GC_FREEZE_AFTER=value), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"GC_FREEZE_AFTER={value!r} : un nombre entier de requêtes est attendu" in result.stderr
    assert "Traceback" not in result.stderr
