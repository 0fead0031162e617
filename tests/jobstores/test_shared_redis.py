"""
RedisJobStore shared by several schedulers: how they claim due jobs, on a real server.

The tests take the store from the ``shared_factory`` fixture, so ``test_shared_mongodb`` can run
them on MongoDB as well; what only Redis does (its keys, its change messages) is tested in
``test_redis``. Starting runs from claimed jobs, and the runs in progress, follow the contract of
``test_runs_contract``, which every shared store meets.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.shared import ClaimedJobs
from tests.conftest import FakeClock

from . import support
from .support import T0, UTC, SteppedScheduler, add, ids

pytestmark = pytest.mark.external_service


class WakeRecorder:
    """Just enough of a running scheduler for a store: it records what it is woken for."""

    timezone = UTC
    state = 1  # STATE_RUNNING

    def __init__(self, clock=None):
        self.wakeups: list[datetime | None] = []
        self.events = []
        if clock is not None:
            self._clock = clock

    def _dispatch_event(self, event):
        self.events.append(event)

    def wakeup(self):
        self.wakeups.append(None)

    def _wakeup_for(self, run_time):
        self.wakeups.append(run_time)


@pytest.fixture
def shared_factory(redis_factory):
    return redis_factory


# --- the claim protocol ------------------------------------------------------------------


def test_a_claimed_job_is_not_handed_to_another_owner(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    add(first, "b", T0 + timedelta(seconds=1))
    add(first, "later", T0 + timedelta(hours=1))

    claimed = first.acquire_due_jobs(T0 + timedelta(seconds=1), "one").jobs

    assert ids(claimed) == ["a", "b"]
    assert claimed[0].func is support.tick
    assert second.acquire_due_jobs(T0 + timedelta(seconds=1), "two").jobs == []


def test_concurrent_claimers_share_out_the_due_jobs_without_overlap(shared_factory):
    stores = [shared_factory() for _ in range(4)]
    for index in range(40):
        add(stores[0], f"job{index:02}", T0 + timedelta(milliseconds=index))
    results: dict[str, list[str]] = {}
    barrier = threading.Barrier(len(stores))

    def claim(store, owner):
        barrier.wait()
        results[owner] = []
        # as a scheduler does, come back for more until a claim brings nothing
        while claimed := ids(store.acquire_due_jobs(T0 + timedelta(seconds=1), owner).jobs):
            results[owner].extend(claimed)

    threads = [
        threading.Thread(target=claim, args=(store, f"owner{n}")) for n, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every_claim = [job_id for claimed in results.values() for job_id in claimed]
    assert sorted(every_claim) == [f"job{index:02}" for index in range(40)]
    assert len(set(every_claim)) == 40


def test_a_released_job_can_be_claimed_by_another_owner_at_once(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    first.acquire_due_jobs(T0, "one")

    second.release_claimed_job("a", "two")  # not the owner: changes nothing
    assert second.acquire_due_jobs(T0, "two").jobs == []
    first.release_claimed_job("a", "one")
    assert ids(second.acquire_due_jobs(T0, "two").jobs) == ["a"]
    assert second.lookup_job("a").next_run_time == T0


def test_an_owner_does_not_claim_again_a_job_it_still_holds(shared_factory):
    """The job is on its way to an executor: claiming it again would run it twice."""
    store = shared_factory()
    add(store, "a")
    store.acquire_due_jobs(T0, "one")

    assert store.acquire_due_jobs(T0, "one").jobs == []


def test_a_claimed_job_that_fails_to_load_is_reported_and_left_free(shared_factory, monkeypatch):
    first, second = shared_factory(), shared_factory()
    add(first, "broken", func=support.doomed)
    add(first, "fine", T0 + timedelta(seconds=1))
    monkeypatch.delattr(support, "doomed")

    assert ids(first.acquire_due_jobs(T0 + timedelta(seconds=1), "one").jobs) == ["fine"]

    assert [job.job_id for job in first.get_unloadable_jobs()] == ["broken"]
    # not leased to the first owner: a process that can load it may run it at once
    monkeypatch.setattr(support, "doomed", lambda: None, raising=False)
    assert ids(second.acquire_due_jobs(T0 + timedelta(seconds=1), "two").jobs) == ["broken"]


def test_a_job_leased_to_another_owner_counts_at_its_lease_expiry(shared_factory):
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    first = shared_factory(lease_time=30)
    second = shared_factory(start=False, lease_time=30)
    second.start(WakeRecorder(clock), "default")
    add(first, "a")
    add(first, "b", T0 + timedelta(days=365 * 10))
    first.acquire_due_jobs(T0, "one")

    # by the second scheduler's clock (years ahead of the server's), about 30 s from now
    next_time = second.get_next_run_time()

    expected = clock.now(UTC) + timedelta(seconds=30)
    assert abs((next_time - expected).total_seconds()) < 2


def test_the_next_run_time_is_that_of_the_first_free_job(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    add(first, "b", T0 + timedelta(seconds=5))
    add(first, "paused", None)

    assert second.get_next_run_time() == T0
    first.acquire_due_jobs(T0, "one")
    first.release_claimed_job("a", "one")
    assert second.get_next_run_time() == T0


def test_a_store_that_was_shut_down_claims_nothing(shared_factory):
    """A pass that runs on after its scheduler shut down must not claim jobs nobody runs."""
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    first.shutdown()

    assert first.acquire_due_jobs(T0, "one") == ClaimedJobs([], None)
    assert first.get_next_run_time() is None
    assert ids(second.acquire_due_jobs(T0, "two").jobs) == ["a"]


def test_jobs_stored_without_lease_data_are_claimed(shared_factory):
    """Keys or documents as APScheduler 3 left them, with nothing about leases."""
    store = shared_factory()
    add(store, "a")

    assert ids(store.acquire_due_jobs(T0, "one").jobs) == ["a"]


def test_two_schedulers_start_each_run_time_once(shared_factory, monkeypatch):
    monkeypatch.setattr(support, "RUNS", [])
    clock = FakeClock(T0)
    schedulers = []
    for _ in range(2):
        scheduler = SteppedScheduler(
            timezone="UTC",
            clock=clock,
            executors={"default": DebugExecutor()},
            jobstores={"default": shared_factory(start=False)},
        )
        scheduler.start()
        schedulers.append(scheduler)
    schedulers[0].add_job(
        support.record_run, "interval", seconds=10, args=["tick"], id="tick", start_date=T0
    )

    for _ in range(5):
        clock.advance(seconds=10)
        for scheduler in schedulers:
            scheduler._process_jobs()

    assert support.RUNS == ["tick"] * 5
    assert schedulers[1].get_job("tick").next_run_time == T0 + timedelta(seconds=60)
    for scheduler in schedulers:
        scheduler.shutdown()
