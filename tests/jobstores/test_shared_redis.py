"""
RedisJobStore shared by several schedulers: claims and runs in progress on a real server.

The tests take the store from the ``shared_factory`` fixture, so ``test_shared_mongodb`` can run
them on MongoDB as well; what only Redis does (its keys, its change messages) is tested in
``test_redis``.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import AbandonedRun, RunStart, RunStartOutcome
from tests.conftest import FakeClock

from . import support
from .support import T0, UTC, SteppedScheduler, make_job

pytestmark = pytest.mark.external_service

#: a lease short enough for tests to watch it expire
SHORT_LEASE = 0.3


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


def add(store, job_id, run_time=T0, **options):
    job = make_job(store._scheduler, job_id, run_time, **options)
    store.add_job(job)
    return job


def ids(jobs):
    return [job.id for job in jobs]


STARTED = RunStartOutcome.STARTED
MAX_INSTANCES = RunStartOutcome.MAX_INSTANCES
LOST = RunStartOutcome.LOST


def start_run(store, owner, job, next_run_time, run_id, run_times=None):
    """Start the runs of one claimed job, as a scheduler pass does; return the outcome."""
    start = RunStart(job, run_times or [job.next_run_time], next_run_time, run_id)
    (outcome,) = store.start_claimed_runs(owner, [start])
    return outcome


def claim_and_start(store, owner, now, run_id, next_run_time=None):
    """Claim the one due job at ``now`` and start its run; return the outcome."""
    (job,) = store.acquire_due_jobs(now, owner)
    return start_run(store, owner, job, next_run_time or now + timedelta(minutes=1), run_id)


def wait_until(condition, timeout=5.0):
    """Poll ``condition`` for up to ``timeout`` seconds (servers keep real time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- the claim protocol ------------------------------------------------------------------


def test_a_claimed_job_is_not_handed_to_another_owner(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    add(first, "b", T0 + timedelta(seconds=1))
    add(first, "later", T0 + timedelta(hours=1))

    claimed = first.acquire_due_jobs(T0 + timedelta(seconds=1), "one")

    assert ids(claimed) == ["a", "b"]
    assert claimed[0].func is support.tick
    assert second.acquire_due_jobs(T0 + timedelta(seconds=1), "two") == []


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
        while claimed := ids(store.acquire_due_jobs(T0 + timedelta(seconds=1), owner)):
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


def test_a_lease_that_expires_lets_another_owner_take_the_job_over(shared_factory):
    first = shared_factory(lease_time=SHORT_LEASE)
    second = shared_factory(lease_time=SHORT_LEASE)
    add(first, "a")
    job = first.acquire_due_jobs(T0, "dead")[0]
    assert second.acquire_due_jobs(T0, "alive") == []

    assert wait_until(lambda: ids(second.acquire_due_jobs(T0, "alive")) == ["a"])
    assert start_run(first, "dead", job, T0 + timedelta(minutes=1), "dead-run") is LOST
    assert first.lookup_job("a").next_run_time == T0, "the lost claim changed nothing"
    assert first.take_abandoned_runs() == [], "and recorded no run"


def test_an_expired_lease_nobody_took_still_records_the_run(shared_factory):
    store = shared_factory(lease_time=SHORT_LEASE)
    add(store, "a")
    job = store.acquire_due_jobs(T0, "slow")[0]
    time.sleep(SHORT_LEASE + 0.1)

    assert start_run(store, "slow", job, T0 + timedelta(minutes=1), "run") is STARTED
    assert store.lookup_job("a").next_run_time == T0 + timedelta(minutes=1)


def test_starting_a_run_moves_the_job_on_and_frees_it(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", args=(1,))
    job = first.acquire_due_jobs(T0, "one")[0]

    assert start_run(first, "one", job, T0 + timedelta(minutes=1), "run") is STARTED

    stored = second.lookup_job("a")
    assert stored.next_run_time == T0 + timedelta(minutes=1)
    assert stored.args == (1,)
    assert ids(second.acquire_due_jobs(T0 + timedelta(minutes=1), "two")) == ["a"]


def test_a_finished_schedule_removes_the_job_when_its_last_run_starts(shared_factory):
    store = shared_factory()
    add(store, "once")
    job = store.acquire_due_jobs(T0, "one")[0]

    assert start_run(store, "one", job, None, "last-run") is STARTED
    assert store.lookup_job("once") is None
    assert store.get_all_jobs() == []


def test_a_released_job_can_be_claimed_by_another_owner_at_once(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    first.acquire_due_jobs(T0, "one")

    second.release_claimed_job("a", "two")  # not the owner: changes nothing
    assert second.acquire_due_jobs(T0, "two") == []
    first.release_claimed_job("a", "one")
    assert ids(second.acquire_due_jobs(T0, "two")) == ["a"]
    assert second.lookup_job("a").next_run_time == T0


def test_an_owner_does_not_claim_again_a_job_it_still_holds(shared_factory):
    """The job is on its way to an executor: claiming it again would run it twice."""
    store = shared_factory()
    add(store, "a")
    store.acquire_due_jobs(T0, "one")

    assert store.acquire_due_jobs(T0, "one") == []


def test_a_job_removed_while_claimed_is_a_lost_lease(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    job = first.acquire_due_jobs(T0, "one")[0]
    second.remove_job("a")

    assert start_run(first, "one", job, T0 + timedelta(minutes=1), "run") is LOST
    assert first.lookup_job("a") is None


def test_a_change_made_while_claimed_is_not_overwritten_by_the_claim(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", args=("old",))
    job = first.acquire_due_jobs(T0, "one")[0]
    changed = second.lookup_job("a")
    changed._modify(args=("new",))
    second.update_job(changed)

    assert start_run(first, "one", job, T0 + timedelta(minutes=1), "run") is LOST

    assert second.lookup_job("a").args == ("new",)
    offered_again = second.acquire_due_jobs(T0, "two")
    assert [(j.id, j.args, j.next_run_time) for j in offered_again] == [("a", ("new",), T0)]


def test_a_claimed_job_that_fails_to_load_is_reported_and_left_free(shared_factory, monkeypatch):
    first, second = shared_factory(), shared_factory()
    add(first, "broken", func=support.doomed)
    add(first, "fine", T0 + timedelta(seconds=1))
    monkeypatch.delattr(support, "doomed")

    assert ids(first.acquire_due_jobs(T0 + timedelta(seconds=1), "one")) == ["fine"]

    assert [job.job_id for job in first.get_unloadable_jobs()] == ["broken"]
    # not leased to the first owner: a process that can load it may run it at once
    monkeypatch.setattr(support, "doomed", lambda: None, raising=False)
    assert ids(second.acquire_due_jobs(T0 + timedelta(seconds=1), "two")) == ["broken"]


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

    assert first.acquire_due_jobs(T0, "one") == []
    assert first.get_next_run_time() is None
    assert ids(second.acquire_due_jobs(T0, "two")) == ["a"]


def test_jobs_stored_without_lease_data_are_claimed(shared_factory):
    """Keys or documents as APScheduler 3 left them, with nothing about leases."""
    store = shared_factory()
    add(store, "a")

    assert ids(store.acquire_due_jobs(T0, "one")) == ["a"]


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


# --- runs in progress --------------------------------------------------------------------


def test_a_run_in_progress_elsewhere_makes_the_next_start_skip_at_max_instances(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED

    outcome = claim_and_start(second, "two", T0 + timedelta(minutes=1), "run-2")

    assert outcome is MAX_INSTANCES
    assert second.lookup_job("a").next_run_time == T0 + timedelta(minutes=2), "moved on"
    assert ids(first.acquire_due_jobs(T0 + timedelta(minutes=2), "one")) == ["a"], "released"


def test_max_instances_counts_the_runs_in_progress_of_every_owner(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", max_instances=2)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED
    assert claim_and_start(second, "two", T0 + timedelta(minutes=1), "run-2") is STARTED

    assert claim_and_start(first, "one", T0 + timedelta(minutes=2), "run-3") is MAX_INSTANCES


def test_a_finished_run_no_longer_counts_for_max_instances(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED
    second.finish_runs("two", ["run-1"])  # not the owner: changes nothing
    assert claim_and_start(second, "two", T0 + timedelta(minutes=1), "run-2") is MAX_INSTANCES

    first.finish_runs("one", ["run-1", "never-started"])

    assert claim_and_start(second, "two", T0 + timedelta(minutes=2), "run-3") is STARTED


def test_a_run_whose_lease_expired_no_longer_counts_for_max_instances(shared_factory):
    dead = shared_factory(lease_time=SHORT_LEASE)
    alive = shared_factory()
    add(dead, "a", max_instances=1)
    assert claim_and_start(dead, "dead", T0, "run-1") is STARTED
    time.sleep(SHORT_LEASE + 0.1)

    assert claim_and_start(alive, "alive", T0 + timedelta(minutes=1), "run-2") is STARTED


def test_a_start_retried_with_the_same_run_id_is_started_once(shared_factory):
    store = shared_factory(lease_time=SHORT_LEASE)
    add(store, "a", max_instances=5)
    job = store.acquire_due_jobs(T0, "one")[0]
    assert start_run(store, "one", job, T0 + timedelta(minutes=1), "run-1") is STARTED

    assert start_run(store, "one", job, T0 + timedelta(minutes=1), "run-1") is STARTED

    assert store.lookup_job("a").next_run_time == T0 + timedelta(minutes=1)
    time.sleep(SHORT_LEASE + 0.1)
    assert store.take_abandoned_runs() == [AbandonedRun("a", [T0], "one")], "one record"


def test_one_call_starts_a_batch_with_an_outcome_for_each_start_in_order(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "busy", max_instances=1)
    assert claim_and_start(first, "one", T0, "busy-1") is STARTED
    add(first, "fine")
    add(first, "removed")
    jobs = {job.id: job for job in second.acquire_due_jobs(T0 + timedelta(minutes=1), "two")}
    first.remove_job("removed")
    later = T0 + timedelta(minutes=2)
    starts = [
        RunStart(jobs["removed"], [T0], later, "removed-1"),
        RunStart(jobs["fine"], [T0], later, "fine-1"),
        RunStart(jobs["busy"], [T0 + timedelta(minutes=1)], later, "busy-2"),
    ]

    assert second.start_claimed_runs("two", starts) == [LOST, STARTED, MAX_INSTANCES]
    assert [(job.id, job.next_run_time) for job in second.get_all_jobs()] == [
        ("busy", later),
        ("fine", later),
    ]


def test_renewed_runs_stay_in_progress_past_their_first_lease(shared_factory):
    first = shared_factory(lease_time=0.5)
    second = shared_factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED
    time.sleep(0.3)

    first.renew_runs("one")
    second.renew_runs("two")  # renews nothing of the first owner's
    time.sleep(0.3)  # past the first lease, not past the renewed one

    assert second.take_abandoned_runs() == []
    assert claim_and_start(second, "two", T0 + timedelta(minutes=1), "run-2") is MAX_INSTANCES


def test_abandoned_runs_are_taken_once_and_live_ones_stay(shared_factory):
    dead = shared_factory(lease_time=SHORT_LEASE)
    alive = shared_factory()
    add(dead, "a", max_instances=1)
    first_run = T0 - timedelta(microseconds=123456)
    (a,) = dead.acquire_due_jobs(T0, "dead")
    assert start_run(dead, "dead", a, T0 + timedelta(minutes=1), "a-1", [first_run, T0]) is STARTED
    add(alive, "b", max_instances=1)
    assert claim_and_start(alive, "alive", T0, "b-1") is STARTED
    time.sleep(SHORT_LEASE + 0.1)

    assert alive.take_abandoned_runs() == [AbandonedRun("a", [first_run, T0], "dead")]
    assert dead.take_abandoned_runs() == [], "each abandoned run is taken once"
    starts = [
        RunStart(job, [job.next_run_time], None, f"{job.id}-2")
        for job in alive.acquire_due_jobs(T0 + timedelta(minutes=1), "alive")
    ]
    assert alive.start_claimed_runs("alive", starts) == [STARTED, MAX_INSTANCES]


def test_removing_every_job_leaves_the_runs_in_progress(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED

    first.remove_all_jobs()
    add(first, "a", T0 + timedelta(minutes=1), max_instances=1)

    assert claim_and_start(second, "two", T0 + timedelta(minutes=1), "run-2") is MAX_INSTANCES


def test_an_empty_batch_changes_nothing(shared_factory):
    store = shared_factory()
    add(store, "a")

    assert store.start_claimed_runs("one", []) == []
    store.finish_runs("one", [])
    assert store.lookup_job("a").next_run_time == T0
