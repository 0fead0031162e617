"""
The runs-in-progress contract of the stores that several scheduler processes share.

A scheduler records the runs it submits (:meth:`start_claimed_runs`), keeps them alive while
they run (:meth:`renew_runs`) and forgets them when they end (:meth:`finish_runs`); the runs of a
scheduler that died expire and are handed once to whoever asks (:meth:`take_abandoned_runs`).
Every test here runs on each shared store, against a real server.
"""

from __future__ import annotations

import time
from datetime import timedelta
from uuid import uuid4

import pytest

from apscheduler.jobstores.base import AbandonedRun, RunStart, RunStartOutcome

from .conftest import StoreFactory, _factory, external
from .support import T0, make_job

STARTED, MAX_INSTANCES, LOST = (
    RunStartOutcome.STARTED,
    RunStartOutcome.MAX_INSTANCES,
    RunStartOutcome.LOST,
)
#: a lease short enough for tests to watch it expire
SHORT_LEASE = 0.3
NEXT = T0 + timedelta(minutes=1)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=external),
        pytest.param("mysql", id="mysql", marks=external),
        pytest.param("redis", id="redis", marks=external),
        pytest.param("mongodb", id="mongodb", marks=external),
    ]
)
def factory(request, tmp_path):
    """Makes started stores of each shared kind, all in one namespace."""
    yield from _factory(request.param, request, tmp_path)


def add(store, job_id, **options):
    job = make_job(store._scheduler, job_id, T0, **options)
    store.add_job(job)
    return job


def claim_one(store, owner, job_id="a", now=T0):
    claimed = {job.id: job for job in store.acquire_due_jobs(now, owner)}
    return claimed[job_id]


def start(store, owner, job, next_run_time=NEXT, run_id=None):
    """Record the one due run of ``job`` as started; return the outcome and the run id."""
    run_id = run_id or uuid4().hex
    [outcome] = store.start_claimed_runs(owner, [RunStart(job, [T0], next_run_time, run_id)])
    return outcome, run_id


def wait_until(condition, timeout=5.0):
    """Poll ``condition`` for up to ``timeout`` seconds (servers keep real time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_started_run_moves_the_job_on_and_releases_it(factory: StoreFactory):
    store = factory()
    add(store, "a")

    outcome, _ = start(store, "one", claim_one(store, "one"))

    assert outcome is STARTED
    assert store.lookup_job("a").next_run_time == NEXT
    # released: the job is free for whoever finds it due next
    assert [job.id for job in store.acquire_due_jobs(NEXT, "two")] == ["a"]


def test_a_batch_of_starts_gets_one_outcome_per_start_in_order(factory: StoreFactory):
    store = factory()
    for job_id in ("a", "b", "c"):
        add(store, job_id)
    jobs = store.acquire_due_jobs(T0, "one")
    store.remove_job("b")  # a user removed it after the claim

    outcomes = store.start_claimed_runs(
        "one", [RunStart(job, [T0], NEXT, uuid4().hex) for job in jobs]
    )

    assert outcomes == [STARTED, LOST, STARTED]
    assert [job.id for job in store.get_all_jobs()] == ["a", "c"]


def test_the_last_run_of_a_finished_schedule_removes_the_job(factory: StoreFactory):
    store = factory()
    add(store, "a")

    outcome, _ = start(store, "one", claim_one(store, "one"), next_run_time=None)

    assert outcome is STARTED
    assert store.lookup_job("a") is None


def test_a_run_in_progress_elsewhere_makes_the_next_start_skip_for_max_instances(
    factory: StoreFactory,
):
    first, second = factory(), factory()
    add(first, "a", max_instances=1)
    start(first, "one", claim_one(first, "one"))

    job = claim_one(second, "two", now=NEXT)
    outcome, _ = start(second, "two", job, next_run_time=NEXT + timedelta(minutes=1))

    assert outcome is MAX_INSTANCES
    # the skipped run time is behind the job all the same, and the claim is released
    assert second.lookup_job("a").next_run_time == NEXT + timedelta(minutes=1)
    assert [j.id for j in second.acquire_due_jobs(NEXT + timedelta(minutes=1), "three")] == ["a"]


def test_max_instances_allows_that_many_runs_in_progress(factory: StoreFactory):
    store = factory()
    add(store, "a", max_instances=2)

    outcomes = []
    for minute in range(3):
        [job] = store.acquire_due_jobs(T0 + timedelta(minutes=minute), "one")
        outcomes.append(start(store, "one", job, T0 + timedelta(minutes=minute + 1))[0])

    assert outcomes == [STARTED, STARTED, MAX_INSTANCES]


def test_a_finished_run_no_longer_counts_towards_max_instances(factory: StoreFactory):
    store = factory()
    add(store, "a", max_instances=1)
    _, run_id = start(store, "one", claim_one(store, "one"))

    store.finish_runs("one", [run_id])

    job = store.acquire_due_jobs(NEXT, "one")[0]
    assert start(store, "one", job, NEXT + timedelta(minutes=1))[0] is STARTED


def test_finishing_runs_twice_or_unknown_runs_is_harmless(factory: StoreFactory):
    store = factory()
    add(store, "a")
    _, run_id = start(store, "one", claim_one(store, "one"))

    store.finish_runs("one", [run_id, "unknown"])
    store.finish_runs("one", [run_id])

    assert store.take_abandoned_runs() == []


def test_an_expired_run_no_longer_counts_towards_max_instances(factory: StoreFactory):
    store = factory(lease_time=SHORT_LEASE)
    add(store, "a", max_instances=1)
    start(store, "dead", claim_one(store, "dead"))
    time.sleep(SHORT_LEASE + 0.1)

    job = store.acquire_due_jobs(NEXT, "alive")[0]

    assert start(store, "alive", job, NEXT + timedelta(minutes=1))[0] is STARTED


def test_a_retried_start_is_recognised_and_not_recorded_twice(factory: StoreFactory):
    """The first attempt was applied but its reply was lost; the retry must not say LOST."""
    store = factory(lease_time=SHORT_LEASE)
    add(store, "a")
    job = claim_one(store, "one")
    _, run_id = start(store, "one", job)

    outcome, _ = start(store, "one", job, run_id=run_id)

    assert outcome is STARTED
    time.sleep(SHORT_LEASE + 0.1)
    assert [run.job_id for run in store.take_abandoned_runs()] == ["a"]


def test_a_start_after_the_lease_was_taken_over_changes_nothing(factory: StoreFactory):
    first = factory(lease_time=SHORT_LEASE)
    second = factory(lease_time=SHORT_LEASE)
    add(first, "a")
    stale = claim_one(first, "dead")
    assert wait_until(lambda: [j.id for j in second.acquire_due_jobs(T0, "alive")] == ["a"])

    outcome, _ = start(first, "dead", stale)

    assert outcome is LOST
    assert first.lookup_job("a").next_run_time == T0
    time.sleep(SHORT_LEASE + 0.1)
    assert first.take_abandoned_runs() == [], "a lost start records no run"


def test_an_expired_lease_nobody_took_over_still_starts(factory: StoreFactory):
    store = factory(lease_time=SHORT_LEASE)
    add(store, "a")
    job = claim_one(store, "slow")
    time.sleep(SHORT_LEASE + 0.1)

    assert start(store, "slow", job)[0] is STARTED
    assert store.lookup_job("a").next_run_time == NEXT


def test_a_user_change_since_the_claim_wins_over_the_start(factory: StoreFactory):
    store = factory()
    add(store, "a")
    job = claim_one(store, "one")
    changed = make_job(store._scheduler, "a", T0 + timedelta(hours=5), args=("new",))
    store.update_job(changed)

    outcome, _ = start(store, "one", job)

    assert outcome is LOST
    assert store.lookup_job("a").args == ("new",)
    assert store.lookup_job("a").next_run_time == T0 + timedelta(hours=5)


def test_runs_of_a_scheduler_that_stopped_renewing_are_taken_once(factory: StoreFactory):
    first = factory(lease_time=SHORT_LEASE)
    second = factory(lease_time=SHORT_LEASE)
    add(first, "a", coalesce=False)
    job = claim_one(first, "dead")
    run_times = [T0, T0 + timedelta(seconds=30)]
    first.start_claimed_runs("dead", [RunStart(job, run_times, NEXT, "run-1")])
    assert second.take_abandoned_runs() == [], "its lease has not expired yet"
    time.sleep(SHORT_LEASE + 0.1)

    taken = second.take_abandoned_runs()

    assert taken == [AbandonedRun("a", run_times, "dead")]
    assert all(run_time.utcoffset() == timedelta(0) for run_time in taken[0].run_times)
    assert first.take_abandoned_runs() == []


def test_renewed_runs_outlive_their_first_lease(factory: StoreFactory):
    store = factory(lease_time=SHORT_LEASE)
    add(store, "a")
    add(store, "b")
    jobs = store.acquire_due_jobs(T0, "alive")
    store.start_claimed_runs("alive", [RunStart(job, [T0], NEXT, f"run-{job.id}") for job in jobs])

    for _ in range(4):
        time.sleep(SHORT_LEASE / 2)
        store.renew_runs("alive")
        assert store.take_abandoned_runs() == []

    store.finish_runs("alive", ["run-a"])
    time.sleep(SHORT_LEASE + 0.1)
    assert [run.job_id for run in store.take_abandoned_runs()] == ["b"]


def test_renewing_runs_of_one_owner_leaves_the_others_to_expire(factory: StoreFactory):
    store = factory(lease_time=SHORT_LEASE)
    add(store, "a")
    store.start_claimed_runs("alive", [RunStart(claim_one(store, "alive"), [T0], NEXT, "r1")])
    add(store, "b")
    store.start_claimed_runs("dead", [RunStart(claim_one(store, "dead", "b"), [T0], NEXT, "r2")])

    time.sleep(SHORT_LEASE / 2)
    store.renew_runs("alive")
    time.sleep(SHORT_LEASE / 2 + 0.1)

    assert store.take_abandoned_runs() == [AbandonedRun("b", [T0], "dead")]


def test_removing_jobs_leaves_their_runs_in_progress_counted(factory: StoreFactory):
    store = factory()
    add(store, "a", max_instances=1)
    start(store, "one", claim_one(store, "one"))

    store.remove_all_jobs()
    add(store, "a", max_instances=1)

    assert start(store, "one", claim_one(store, "one"))[0] is MAX_INSTANCES
