"""web/workers.py: a worker's long-lived objects leave the cyclic collector's walk, its request garbage does not."""
from __future__ import annotations

import gc
import weakref

import pytest

from web import workers


@pytest.fixture
def counting(monkeypatch):
    """The worker's request count from zero; the collector's frozen generation emptied afterwards unless something
    (the anonymization engine) had frozen objects before this test, which stay frozen as they were."""
    frozen_before = gc.get_freeze_count()
    monkeypatch.setattr(workers, "_served", 0)
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
        inherited = workers.forked()
    assert inherited == gc.get_freeze_count() > 0
    assert f"starts with {inherited} objects" in caplog.text
    assert [workers.request_served(after=2) for _ in range(2)] == [False, True]  # the master's 2 did not count


def test_the_setting_turns_the_worker_freeze_off_or_falls_back(counting, monkeypatch):
    monkeypatch.setenv("GC_FREEZE_AFTER", "0")
    before = gc.get_freeze_count()
    assert not any(workers.request_served() for _ in range(workers.DEFAULT_FREEZE_AFTER + 5))
    assert gc.get_freeze_count() == before
    monkeypatch.setenv("GC_FREEZE_AFTER", "beaucoup")
    assert workers.freeze_after() == workers.DEFAULT_FREEZE_AFTER
    monkeypatch.setenv("GC_FREEZE_AFTER", "-4")
    assert workers.freeze_after() == 0
    monkeypatch.setenv("GC_FREEZE_AFTER", "7")
    assert workers.freeze_after() == 7

