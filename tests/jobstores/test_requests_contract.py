"""
The run-request contract of the shared stores: ``run_job_now`` from any process.

:meth:`~apscheduler.jobstores.shared.SharedJobStore.request_run` records one extra run of a job
with it and makes the job due, so that exactly one scheduler claims it, whatever its schedule
(paused too); the claim hands the request over and the start forgets it. Every test here runs
on each shared store, against a real server; two stores made by one ``factory`` stand for two
scheduler processes.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from apscheduler.jobstores.shared import RunRequest, RunStart

from .conftest import SHARED_KINDS, StoreFactory, _factory
from .support import LOST, NEXT, STARTED, T0, add, ids, start_for

LATER = T0 + timedelta(hours=5)
ASKED_AT = T0 + timedelta(seconds=2)


@pytest.fixture(params=SHARED_KINDS)
def factory(request, tmp_path):
    """Makes started stores of each shared kind, all in one namespace."""
    yield from _factory(request.param, request, tmp_path)


def ask(store, job_id="a", run_id="asked-1", at=ASKED_AT):
    return store.request_run(job_id, RunRequest(run_id, at))


def start_requested(store, owner, job, requests, next_run_time=None, regular=()):
    """Start the requested runs (and ``regular`` ones) of a claimed job, as a pass does."""
    job._modify(next_run_time=next_run_time)
    run_times = sorted([*regular, *(request.requested_at for request in requests)])
    [outcome] = store.start_claimed_runs(owner, [RunStart(job, run_times, "run-1", requests)])
    return outcome


def test_a_request_for_no_such_job_is_refused(factory: StoreFactory):
    assert ask(factory(), "nothing") is False


def test_a_request_makes_a_job_due_without_changing_its_schedule(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)

    assert ask(store) is True

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert ids(claimed.jobs) == ["a"]
    assert claimed.requests == {"a": (RunRequest("asked-1", ASKED_AT),)}
    assert claimed.jobs[0].next_run_time == LATER, "the schedule is the job's own"
    assert store.lookup_job("a").next_run_time == LATER


def test_a_request_is_not_due_before_it_was_made(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    ask(store)

    claimed = store.acquire_due_jobs(ASKED_AT - timedelta(seconds=1), "one")

    assert claimed.jobs == []
    assert claimed.next_run_time == ASKED_AT


def test_the_requests_of_a_job_come_oldest_first(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    ask(store, run_id="second", at=ASKED_AT + timedelta(seconds=1))
    ask(store, run_id="first", at=ASKED_AT)

    claimed = store.acquire_due_jobs(LATER, "one")

    assert [request.run_id for request in claimed.requests["a"]] == ["first", "second"]


def test_only_jobs_with_requests_are_listed_with_requests(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    add(store, "due")
    ask(store)

    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    assert sorted(ids(claimed.jobs)) == ["a", "due"]
    assert set(claimed.requests) == {"a"}


def test_a_paused_job_can_be_asked_to_run_and_stays_paused(factory: StoreFactory):
    store = factory()
    add(store, "a", None)
    ask(store)

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    [job] = claimed.jobs
    assert job.next_run_time is None
    assert start_requested(store, "one", job, claimed.requests["a"]) == STARTED

    assert store.lookup_job("a").next_run_time is None, "the job is kept, still paused"
    assert store.acquire_due_jobs(LATER, "one").jobs == []


def test_the_start_forgets_the_requests_it_makes(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    ask(store)
    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    assert start_requested(store, "one", claimed.jobs[0], claimed.requests["a"], LATER) == STARTED

    again = store.acquire_due_jobs(ASKED_AT + timedelta(seconds=1), "two")
    assert again.jobs == [] and dict(again.requests) == {}
    assert again.next_run_time == LATER, "due again by its schedule only"
    assert store.lookup_job("a").next_run_time == LATER


def test_requested_and_regular_runs_start_together(factory: StoreFactory):
    store = factory()
    add(store, "a")
    ask(store)
    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    outcome = start_requested(
        store, "one", claimed.jobs[0], claimed.requests["a"], NEXT, regular=[T0]
    )

    assert outcome == STARTED
    assert store.lookup_job("a").next_run_time == NEXT
    assert store.acquire_due_jobs(ASKED_AT, "two").jobs == []


def test_a_job_whose_schedule_ends_with_a_request_is_removed(factory: StoreFactory):
    store = factory()
    add(store, "a")
    ask(store)
    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    start_requested(store, "one", claimed.jobs[0], claimed.requests["a"], None, regular=[T0])

    assert store.lookup_job("a") is None


def test_a_request_ends_a_claim_taken_before_it(factory: StoreFactory):
    """The claimer did not see the request: its start is lost, and the next claim has it."""
    store = factory()
    add(store, "a")
    [job] = store.acquire_due_jobs(T0, "one").jobs

    ask(store)

    [outcome] = store.start_claimed_runs("one", [start_for(job, [T0], NEXT, "run-1")])
    assert outcome == LOST
    claimed = store.acquire_due_jobs(ASKED_AT, "two")
    assert ids(claimed.jobs) == ["a"]
    assert [request.run_id for request in claimed.requests["a"]] == ["asked-1"]


def test_only_one_scheduler_claims_a_requested_job(factory: StoreFactory):
    one, two = factory(), factory()
    add(one, "a", LATER)
    ask(two)

    first = one.acquire_due_jobs(ASKED_AT, "one")
    second = two.acquire_due_jobs(ASKED_AT, "two")

    assert ids(first.jobs) == ["a"] and "a" in first.requests
    assert second.jobs == [] and "a" not in second.requests


def test_changing_a_job_keeps_its_requests(factory: StoreFactory):
    store = factory()
    job = add(store, "a", LATER)
    ask(store)

    job._modify(next_run_time=LATER + timedelta(hours=1), args=(1,))
    store.update_job(job)

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert ids(claimed.jobs) == ["a"]
    assert claimed.jobs[0].args == (1,)
    assert claimed.jobs[0].next_run_time == LATER + timedelta(hours=1)
    assert [request.run_id for request in claimed.requests["a"]] == ["asked-1"]


def test_removing_a_job_drops_its_requests(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    ask(store)

    store.remove_job("a")
    add(store, "a", LATER)

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert claimed.jobs == [] and dict(claimed.requests) == {}


def test_removing_every_job_drops_every_request(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    ask(store)

    store.remove_all_jobs()
    add(store, "a", LATER)

    assert store.acquire_due_jobs(ASKED_AT, "one").jobs == []


def test_a_request_keeps_its_attempt_number(factory: StoreFactory):
    store = factory()
    add(store, "a", LATER)
    store.request_run("a", RunRequest("retry-1", ASKED_AT, attempt=3))

    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    assert claimed.requests["a"] == (RunRequest("retry-1", ASKED_AT, 3),)


def test_a_request_is_kept_for_another_process(factory: StoreFactory):
    """A client process asks and goes away; a scheduler started later finds the request."""
    client = factory()
    add(client, "a", LATER)
    ask(client)
    client.shutdown()

    claimed = factory().acquire_due_jobs(ASKED_AT, "worker")

    assert ids(claimed.jobs) == ["a"]
    assert [request.run_id for request in claimed.requests["a"]] == ["asked-1"]
