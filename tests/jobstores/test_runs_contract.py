"""
The runs-in-progress contract of the stores that several scheduler processes share.

A scheduler records the runs it submits (:meth:`start_claimed_runs`), keeps them alive while
they run (:meth:`renew_runs`) and forgets them when they end (:meth:`finish_runs`); the runs of a
scheduler that died expire and are handed once to whoever asks (:meth:`take_abandoned_runs`).
Every test here runs on each shared store, against a real server. Two stores made by one
``factory`` stand for two scheduler processes sharing one table, key space or collection.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from apscheduler.jobstores.shared import AbandonedRun

from . import leases
from .conftest import SHARED_KINDS, StoreFactory, _factory
from .reference_store import ReferenceJobStore
from .support import (
    LOST,
    MAX_INSTANCES,
    NEXT,
    SHORT_LEASE,
    STARTED,
    T0,
    UTC,
    add,
    claim_and_start,
    ids,
    make_job,
    start,
    start_for,
    wait_until,
)


@pytest.fixture(params=SHARED_KINDS)
def factory(request, tmp_path):
    """Makes started stores of each shared kind, all in one namespace."""
    yield from _factory(request.param, request, tmp_path)


def expire_leases(store, owner=None):
    """End leases now, as if their holder had died a lease ago (see ``leases.py``)."""
    if isinstance(store, ReferenceJobStore):
        store.storage.expire_leases(owner)
    else:
        leases.expire_leases(store, owner)


def claim_one(store, owner, job_id="a", now=T0):
    claimed = {job.id: job for job in store.acquire_due_jobs(now, owner).jobs}
    return claimed[job_id]


# --- claiming: when the store next has work for the claimer -------------------------------


def test_a_claim_tells_the_next_run_time_of_the_jobs_left_unclaimed(factory: StoreFactory):
    store = factory()
    later = T0 + timedelta(minutes=10)
    add(store, "a")
    add(store, "later", later)
    add(store, "paused", None)

    claimed = store.acquire_due_jobs(T0, "one")

    assert ids(claimed.jobs) == ["a"]
    assert claimed.next_run_time == later, "the claimed job does not count"


def test_a_claim_of_every_scheduled_job_tells_there_is_nothing_else(factory: StoreFactory):
    store = factory()
    add(store, "a")
    add(store, "paused", None)

    claimed = store.acquire_due_jobs(T0, "one")

    assert (ids(claimed.jobs), claimed.next_run_time) == (["a"], None)
    assert factory().acquire_due_jobs(T0, "two").next_run_time is not None, "a is leased"


def test_an_empty_store_tells_there_is_nothing_scheduled(factory: StoreFactory):
    store = factory()

    claimed = store.acquire_due_jobs(T0, "one")
    assert (claimed.jobs, claimed.next_run_time, dict(claimed.requests)) == ([], None, {})


def test_a_job_leased_elsewhere_is_work_when_its_lease_runs_out(factory: StoreFactory):
    """The other owner may die: the claimer must look again when its lease ends."""
    first, second = factory(), factory()
    add(first, "a")
    add(first, "much-later", T0 + timedelta(days=365 * 100))
    before = datetime.now(UTC)
    claim_one(first, "one")
    after = datetime.now(UTC)

    claimed = second.acquire_due_jobs(T0, "two")

    assert claimed.jobs == []
    lease = timedelta(seconds=first.lease_time)
    # by the store's clock, told in the scheduler's; a second of slack for the round trips
    slack = timedelta(seconds=1)
    assert before + lease - slack <= claimed.next_run_time <= after + lease + slack


# --- claiming: whether runs are in progress -------------------------------------------------

#: the kinds whose claims tell whether runs are in progress; the others always say there may be
TELL_RUNS_IN_PROGRESS = {"reference", "sqlite", "postgresql", "mysql", "redis"}


def test_a_claim_says_when_no_run_is_in_progress(factory: StoreFactory, request):
    kind = request.node.callspec.params["factory"]
    store = factory()
    add(store, "a")
    add(store, "b", NEXT)

    first = store.acquire_due_jobs(T0, "one")
    assert first.runs_in_progress is (kind not in TELL_RUNS_IN_PROGRESS)
    start(store, "one", first.jobs[0], run_id="run-1")
    assert store.acquire_due_jobs(T0, "one").runs_in_progress is True, "run-1 goes on"

    store.finish_runs("one", ["run-1"])
    assert store.acquire_due_jobs(T0, "one").runs_in_progress is (
        kind not in TELL_RUNS_IN_PROGRESS
    )


def test_a_claim_counts_the_runs_of_every_owner_expired_or_not(factory: StoreFactory):
    """A run whose lease ran out is an abandoned one, which someone must still take."""
    dead, alive = factory(), factory()
    add(dead, "a")
    assert claim_and_start(dead, "dead", T0, "run-1") is STARTED
    assert alive.acquire_due_jobs(T0, "alive").runs_in_progress is True

    expire_leases(dead, "dead")

    assert alive.acquire_due_jobs(T0, "alive").runs_in_progress is True
    alive.take_abandoned_runs()
    assert claim_and_start(alive, "alive", NEXT, "run-2") is STARTED
    assert alive.acquire_due_jobs(NEXT, "alive").runs_in_progress is True, "run-2 goes on"


# --- starting runs -------------------------------------------------------------------------


def test_a_started_run_moves_the_job_on_and_releases_it(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a", args=(1,))

    outcome, _ = start(first, "one", claim_one(first, "one"))

    assert outcome is STARTED
    stored = second.lookup_job("a")
    assert stored.next_run_time == NEXT
    assert stored.args == (1,)
    # released: the job is free for whoever finds it due next
    assert ids(second.acquire_due_jobs(NEXT, "two").jobs) == ["a"]


def test_one_call_starts_a_batch_with_an_outcome_for_each_start_in_order(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "busy", max_instances=1)
    assert claim_and_start(first, "one", T0, "busy-1") is STARTED
    add(first, "fine")
    add(first, "removed")
    jobs = {job.id: job for job in second.acquire_due_jobs(NEXT, "two").jobs}
    first.remove_job("removed")  # a user removed it after the claim
    later = T0 + timedelta(minutes=2)
    starts = [
        start_for(jobs["removed"], [T0], later, "removed-1"),
        start_for(jobs["fine"], [T0], later, "fine-1"),
        start_for(jobs["busy"], [NEXT], later, "busy-2"),
    ]

    assert second.start_claimed_runs("two", starts) == [LOST, STARTED, MAX_INSTANCES]
    assert [(job.id, job.next_run_time) for job in second.get_all_jobs()] == [
        ("busy", later),
        ("fine", later),
    ]


def test_an_empty_batch_changes_nothing(factory: StoreFactory):
    store = factory()
    add(store, "a")

    assert store.start_claimed_runs("one", []) == []
    store.finish_runs("one", [])
    assert store.lookup_job("a").next_run_time == T0


def test_the_last_run_of_a_finished_schedule_removes_the_job(factory: StoreFactory):
    store = factory()
    add(store, "a")

    outcome, _ = start(store, "one", claim_one(store, "one"), next_run_time=None)

    assert outcome is STARTED
    assert store.lookup_job("a") is None
    assert store.get_all_jobs() == []


def test_a_retried_start_is_recognised_and_not_recorded_twice(factory: StoreFactory):
    """The first attempt was applied but its reply was lost; the retry must not say LOST."""
    store = factory()
    add(store, "a", max_instances=1)
    job = claim_one(store, "one")
    assert start(store, "one", job, run_id="run-1", run_times=[T0])[0] is STARTED

    # neither lost (the claim is gone) nor skipped (its own run is in progress)
    assert start(store, "one", job, run_id="run-1", run_times=[T0])[0] is STARTED

    assert store.lookup_job("a").next_run_time == NEXT
    expire_leases(store, "one")
    assert store.take_abandoned_runs() == [AbandonedRun("a", [T0], "one")], "one record"


# --- leases and changes made while a job was claimed --------------------------------------


def test_a_start_after_the_lease_was_taken_over_changes_nothing(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a")
    stale = claim_one(first, "dead")
    assert second.acquire_due_jobs(T0, "alive").jobs == [], "not before the lease expires"
    expire_leases(first, "dead")
    assert ids(second.acquire_due_jobs(T0, "alive").jobs) == ["a"]

    outcome, _ = start(first, "dead", stale)

    assert outcome is LOST
    assert first.lookup_job("a").next_run_time == T0
    expire_leases(first)
    assert first.take_abandoned_runs() == [], "a lost start records no run"


def test_an_expired_lease_nobody_took_over_still_starts(factory: StoreFactory):
    store = factory()
    add(store, "a")
    job = claim_one(store, "slow")
    expire_leases(store, "slow")

    assert start(store, "slow", job)[0] is STARTED
    assert store.lookup_job("a").next_run_time == NEXT


def test_a_user_change_since_the_claim_wins_over_the_start(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a", args=("old",))
    job = claim_one(first, "one")
    # only the arguments change: the run time the start would replace stays as it was
    second.update_job(make_job(second._scheduler, "a", T0, args=("new",)))

    outcome, _ = start(first, "one", job)

    assert outcome is LOST
    stored = second.lookup_job("a")
    assert (stored.args, stored.next_run_time) == (("new",), T0)
    offered_again = second.acquire_due_jobs(T0, "two").jobs
    assert [(j.id, j.args, j.next_run_time) for j in offered_again] == [("a", ("new",), T0)]


# --- max_instances across processes -------------------------------------------------------


def test_a_run_in_progress_elsewhere_makes_the_next_start_skip_at_max_instances(
    factory: StoreFactory,
):
    first, second = factory(), factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED

    outcome = claim_and_start(second, "two", NEXT, "run-2")

    assert outcome is MAX_INSTANCES
    # the skipped run time is behind the job all the same, and the claim is released
    assert second.lookup_job("a").next_run_time == T0 + timedelta(minutes=2), "moved on"
    assert ids(first.acquire_due_jobs(T0 + timedelta(minutes=2), "one").jobs) == ["a"], "released"


def test_max_instances_counts_the_runs_in_progress_of_every_owner(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a", max_instances=2)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED
    assert claim_and_start(second, "two", NEXT, "run-2") is STARTED

    assert claim_and_start(first, "one", T0 + timedelta(minutes=2), "run-3") is MAX_INSTANCES


def test_a_finished_run_no_longer_counts_for_max_instances(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED
    second.finish_runs("two", ["run-1"])  # not the owner: changes nothing
    assert claim_and_start(second, "two", NEXT, "run-2") is MAX_INSTANCES

    first.finish_runs("one", ["run-1", "never-started"])
    first.finish_runs("one", ["run-1"])  # twice: harmless

    assert first.take_abandoned_runs() == []
    assert claim_and_start(second, "two", T0 + timedelta(minutes=2), "run-3") is STARTED


def test_a_run_whose_lease_expired_no_longer_counts_for_max_instances(factory: StoreFactory):
    dead, alive = factory(), factory()
    add(dead, "a", max_instances=1)
    assert claim_and_start(dead, "dead", T0, "run-1") is STARTED
    expire_leases(dead, "dead")

    assert claim_and_start(alive, "alive", NEXT, "run-2") is STARTED


def test_removing_every_job_leaves_the_runs_in_progress(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a", max_instances=1)
    assert claim_and_start(first, "one", T0, "run-1") is STARTED

    first.remove_all_jobs()
    add(first, "a", NEXT, max_instances=1)

    assert claim_and_start(second, "two", NEXT, "run-2") is MAX_INSTANCES


# --- renewing and abandoned runs ----------------------------------------------------------


def test_leases_run_out_by_the_servers_clock_after_lease_time(factory: StoreFactory):
    """The one test that waits leases out; the others end them with ``expire_leases``."""
    dead = factory(lease_time=SHORT_LEASE)
    alive = factory()
    add(dead, "running")
    assert claim_and_start(dead, "dead", T0, "run-1") is STARTED
    add(dead, "claimed")
    claim_one(dead, "dead", "claimed")
    taken: list[AbandonedRun] = []

    assert wait_until(lambda: taken.extend(alive.take_abandoned_runs()) or taken)
    assert taken == [AbandonedRun("running", [T0], "dead")]
    assert wait_until(lambda: ids(alive.acquire_due_jobs(T0, "alive").jobs) == ["claimed"])


def test_renewed_runs_stay_in_progress_past_their_first_lease(factory: StoreFactory):
    first, second = factory(), factory()
    add(first, "a", max_instances=1)
    add(first, "b")
    jobs = first.acquire_due_jobs(T0, "one").jobs
    first.start_claimed_runs("one", [start_for(job, [T0], NEXT, f"run-{job.id}") for job in jobs])

    expire_leases(first, "one")  # the first lease ran out, but the owner lives on
    assert first.renew_runs("one") == {"run-a", "run-b"}, "expired, but nobody took them"
    assert second.renew_runs("two") == set(), "renews nothing of the first owner's"
    assert second.take_abandoned_runs() == []

    job = claim_one(second, "two", now=NEXT)
    assert start(second, "two", job, NEXT + timedelta(minutes=1))[0] is MAX_INSTANCES
    first.finish_runs("one", ["run-a"])
    expire_leases(first, "one")
    taken = second.take_abandoned_runs()
    assert [run.job_id for run in taken] == ["b"], "a finished run is not abandoned"


def test_renewing_runs_of_one_owner_leaves_the_others_to_expire(factory: StoreFactory):
    store = factory()
    add(store, "a")
    store.start_claimed_runs("alive", [start_for(claim_one(store, "alive"), [T0], NEXT, "r1")])
    add(store, "b")
    store.start_claimed_runs("dead", [start_for(claim_one(store, "dead", "b"), [T0], NEXT, "r2")])

    expire_leases(store)
    assert store.renew_runs("alive") == {"r1"}

    assert store.take_abandoned_runs() == [AbandonedRun("b", [T0], "dead")]


def test_renewing_tells_which_runs_are_still_the_owners(factory: StoreFactory):
    """A run another scheduler took as abandoned (its owner was paused, say) must not start."""
    paused, other = factory(), factory()
    add(paused, "a")
    assert claim_and_start(paused, "paused", T0, "taken") is STARTED
    expire_leases(paused, "paused")
    assert other.take_abandoned_runs() == [AbandonedRun("a", [T0], "paused")]
    add(paused, "b")
    outcome, _ = start(paused, "paused", claim_one(paused, "paused", "b"), run_id="kept")
    assert outcome is STARTED
    add(paused, "c")
    outcome, _ = start(paused, "paused", claim_one(paused, "paused", "c"), run_id="ended")
    paused.finish_runs("paused", ["ended"])

    assert paused.renew_runs("paused") == {"kept"}
    assert other.renew_runs("other") == set()


def test_abandoned_runs_are_taken_once_and_live_ones_stay(factory: StoreFactory):
    dead, alive = factory(), factory()
    add(dead, "a", max_instances=1)
    first_run = T0 - timedelta(microseconds=123456)
    a = claim_one(dead, "dead")
    assert start(dead, "dead", a, run_id="a-1", run_times=[first_run, T0])[0] is STARTED
    add(alive, "b", max_instances=1)
    assert claim_and_start(alive, "alive", T0, "b-1") is STARTED
    assert alive.take_abandoned_runs() == [], "no lease has expired yet"
    expire_leases(dead, "dead")

    taken = alive.take_abandoned_runs()

    assert taken == [AbandonedRun("a", [first_run, T0], "dead")]
    assert all(run_time.utcoffset() == timedelta(0) for run_time in taken[0].run_times)
    assert dead.take_abandoned_runs() == [], "each abandoned run is taken once"
    starts = [
        start_for(job, [job.next_run_time], None, f"{job.id}-2")
        for job in alive.acquire_due_jobs(NEXT, "alive").jobs
    ]
    assert alive.start_claimed_runs("alive", starts) == [STARTED, MAX_INSTANCES]
