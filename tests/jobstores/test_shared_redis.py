"""
RedisJobStore shared by several schedulers: claims, leases and change messages on a real server.

The tests of the claim protocol at the top take the store from the ``shared_factory`` fixture,
so ``test_shared_mongodb`` runs them on MongoDB as well.
"""

from __future__ import annotations

import pickle
import threading
import time
from datetime import datetime, timedelta

import pytest

from apscheduler.executors.debug import DebugExecutor
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
    assert first.advance_claimed_job(job, "dead", T0 + timedelta(minutes=1), True) is False
    assert first.lookup_job("a").next_run_time == T0, "the lost claim changed nothing"


def test_an_expired_lease_nobody_took_still_records_the_run(shared_factory):
    store = shared_factory(lease_time=SHORT_LEASE)
    add(store, "a")
    job = store.acquire_due_jobs(T0, "slow")[0]
    time.sleep(SHORT_LEASE + 0.1)

    assert store.advance_claimed_job(job, "slow", T0 + timedelta(minutes=1), True) is True
    assert store.lookup_job("a").next_run_time == T0 + timedelta(minutes=1)


def test_recording_a_run_moves_the_job_on_and_frees_it(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", args=(1,))
    job = first.acquire_due_jobs(T0, "one")[0]

    assert first.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), True) is True

    stored = second.lookup_job("a")
    assert stored.next_run_time == T0 + timedelta(minutes=1)
    assert stored.args == (1,)
    assert ids(second.acquire_due_jobs(T0 + timedelta(minutes=1), "two")) == ["a"]


def test_a_run_recorded_without_release_keeps_the_lease(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a")
    job = first.acquire_due_jobs(T0 + timedelta(minutes=5), "one")[0]

    assert first.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), False) is True
    assert second.acquire_due_jobs(T0 + timedelta(minutes=5), "two") == []
    assert first.advance_claimed_job(job, "one", T0 + timedelta(minutes=2), True) is True
    assert ids(second.acquire_due_jobs(T0 + timedelta(minutes=5), "two")) == ["a"]
    assert second.lookup_job("a").next_run_time == T0 + timedelta(minutes=2)


def test_each_run_recorded_without_release_renews_the_lease(shared_factory):
    first = shared_factory(lease_time=SHORT_LEASE)
    second = shared_factory(lease_time=SHORT_LEASE)
    add(first, "a")
    job = first.acquire_due_jobs(T0 + timedelta(minutes=5), "one")[0]
    time.sleep(SHORT_LEASE * 2 / 3)

    assert first.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), False) is True
    time.sleep(SHORT_LEASE * 2 / 3)  # past the first lease, not past the renewed one

    assert second.acquire_due_jobs(T0 + timedelta(minutes=5), "two") == []


def test_a_finished_schedule_removes_the_job_when_its_last_run_starts(shared_factory):
    store = shared_factory()
    add(store, "once")
    job = store.acquire_due_jobs(T0, "one")[0]

    assert store.advance_claimed_job(job, "one", None, True) is True
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

    assert first.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), True) is False
    assert first.lookup_job("a") is None


def test_a_change_made_while_claimed_is_not_overwritten_by_the_claim(shared_factory):
    first, second = shared_factory(), shared_factory()
    add(first, "a", args=("old",))
    job = first.acquire_due_jobs(T0, "one")[0]
    changed = second.lookup_job("a")
    changed._modify(args=("new",))
    second.update_job(changed)

    assert first.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), True) is False

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


# --- Redis only --------------------------------------------------------------------------


def test_leases_live_in_a_hash_beside_the_keys_of_apscheduler_3(redis_factory):
    store = redis_factory()
    add(store, "a")
    store.acquire_due_jobs(T0, "host:1:abc")

    owner, expiry = store.redis.hget(f"{store.jobs_key}.leases", "a").decode().rsplit("|", 1)
    server_now = float("{}.{:06}".format(*store.redis.time()))
    assert owner == "host:1:abc"
    assert 0 < float(expiry) - server_now <= store.lease_time
    assert pickle.loads(store.redis.hget(store.jobs_key, "a"))["id"] == "a"


def test_a_reply_lost_after_the_run_was_recorded_still_counts(redis_factory, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    store = redis_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one")[0]
    script = store._advance_script
    calls = []

    def reply_lost_once(**kwargs):
        result = script(**kwargs)
        calls.append(result)
        if len(calls) == 1:
            raise RedisConnectionError("connection reset after the script ran")
        return result

    monkeypatch.setattr(store, "_advance_script", reply_lost_once)

    assert store.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), True) is True
    assert calls == [1, 1]
    assert store.lookup_job("a").next_run_time == T0 + timedelta(minutes=1)


def test_a_change_in_another_process_wakes_the_scheduler(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(writer, "a", T0 + timedelta(minutes=1))

    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(minutes=1)])


def test_a_store_is_not_woken_by_its_own_changes(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(listening, "own")
    add(writer, "other", T0 + timedelta(minutes=2))

    assert wait_until(lambda: scheduler.wakeups)
    assert scheduler.wakeups == [T0 + timedelta(minutes=2)]


def test_a_recorded_run_wakes_the_other_schedulers_for_the_next_run_time(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    runner = redis_factory()
    add(runner, "a")
    assert wait_until(lambda: listening._listener.live)
    job = runner.acquire_due_jobs(T0, "one")[0]
    scheduler.wakeups.clear()

    runner.advance_claimed_job(job, "one", T0 + timedelta(seconds=10), True)

    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(seconds=10)])


def test_the_scheduler_polls_slowly_while_changes_are_heard(redis_factory):
    store = redis_factory(start=False, poll_interval=0.5)
    assert store.poll_interval == 0.5, "not listening yet"

    store.start(WakeRecorder(), "default")

    assert wait_until(lambda: store.poll_interval == 5.0)
    store.shutdown()
    assert store.poll_interval == 0.5


def test_the_listener_comes_back_after_a_server_restart_and_wakes_the_scheduler(
    redis_factory, redis_server
):
    scheduler = WakeRecorder()
    store = redis_factory(start=False)
    store.start(scheduler, "default")
    assert wait_until(lambda: store._listener.live)

    redis_server.stop()
    try:
        assert wait_until(lambda: not store._listener.live)
        scheduler.wakeups.clear()
    finally:
        redis_server.start()

    assert wait_until(lambda: store._listener.live, timeout=10)
    assert None in scheduler.wakeups, "changes made meanwhile were not heard: look again"
