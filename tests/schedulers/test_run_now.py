"""``run_job_now()``: one extra run, through the job's executor, its schedule unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
)
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from tests.jobstores.reference_store import ReferenceJobStore, ReferenceStorage
from tests.schedulers import targets
from tests.schedulers.conftest import LaterExecutor

UTC = dt_timezone.utc
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_calls():
    targets.calls.clear()
    yield
    targets.calls.clear()


@pytest.fixture
def started(make_scheduler):
    def factory(**options):
        scheduler = make_scheduler(**options)
        scheduler.start()
        return scheduler

    return factory


def codes(events):
    return [event.code for event in events]


# --- a store of this process only ------------------------------------------------------------


def test_a_job_runs_now_and_keeps_its_schedule(started, events):
    scheduler = started()
    job = scheduler.add_job(targets.record, "interval", hours=1, id="tick", args=["now"])
    del events[:]

    run = scheduler.run_job_now("tick")

    assert targets.calls == [(("now",), {})]
    assert run.state == "succeeded", "the debug executor ran it before run_job_now returned"
    assert (run.job_id, run.jobstore, run.scheduled_run_time) == ("tick", "default", NOON)
    assert (
        scheduler.get_job("tick").next_run_time == job.next_run_time == NOON + timedelta(hours=1)
    )
    assert scheduler.get_job_runs("tick") == [run]
    assert codes(events) == [EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED]


def test_a_run_in_a_pool_is_running_when_it_returns(started):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor})
    scheduler.add_job(targets.record, "interval", hours=1, id="tick")

    run = scheduler.run_job_now("tick")

    assert run.state == "running" and run.submitted_at == NOON
    executor.run_waiting()
    [ended] = scheduler.get_job_runs("tick")
    assert (ended.run_id, ended.state) == (run.run_id, "succeeded")


def test_a_paused_job_can_be_run_now_and_stays_paused(started):
    scheduler = started()
    scheduler.add_job(targets.record, "interval", hours=1, id="tick")
    scheduler.pause_job("tick")

    run = scheduler.run_job_now("tick")

    assert run.state == "succeeded"
    assert len(targets.calls) == 1
    assert scheduler.get_job("tick").next_run_time is None


def test_max_instances_holds_for_a_run_now(started, events):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor})
    scheduler.add_job(targets.record, "interval", hours=1, id="tick")
    scheduler.run_job_now("tick")
    del events[:]

    skipped = scheduler.run_job_now("tick")

    assert skipped.state == "skipped"
    assert skipped.reason == "max_instances=1 reached"
    assert codes(events) == [EVENT_JOB_MAX_INSTANCES]
    executor.run_waiting()
    assert len(targets.calls) == 1
    assert sorted(run.state for run in scheduler.get_job_runs("tick")) == ["skipped", "succeeded"]


def test_the_twin_on_the_job(started):
    scheduler = started()
    job = scheduler.add_job(targets.record, "interval", hours=1, id="tick")

    assert job.run_now().state == "succeeded"
    assert len(targets.calls) == 1


def test_an_unknown_job_cannot_be_run(started):
    with pytest.raises(JobLookupError):
        started().run_job_now("nothing")


def test_a_job_of_a_scheduler_that_is_not_running_cannot_run_now(make_scheduler):
    scheduler = make_scheduler()
    scheduler.add_job(targets.record, "interval", hours=1, id="tick")

    with pytest.raises(SchedulerNotRunningError):
        scheduler.run_job_now("tick")


# --- a store several schedulers share -----------------------------------------------------------


@pytest.fixture
def storage():
    return ReferenceStorage()


@pytest.fixture
def on_shared(make_scheduler, storage):
    """Makes schedulers that share one store, as processes on one database do."""

    def factory(start=True, **options):
        scheduler = make_scheduler(
            jobstores={"default": ReferenceJobStore(storage, poll_interval=None)}, **options
        )
        if start:
            scheduler.start()
        return scheduler

    return factory


def test_on_a_shared_store_exactly_one_scheduler_makes_the_run(on_shared):
    asker, other = on_shared(), on_shared()
    asker.add_job(targets.record, "interval", hours=1, id="tick")

    pending = asker.run_job_now("tick")

    assert pending.state == "pending"
    other._process_jobs()
    asker._process_jobs()
    other._process_jobs()
    assert len(targets.calls) == 1
    made = [
        run for s in (asker, other) for run in s.get_job_runs("tick") if run.state != "pending"
    ]
    assert [(run.run_id, run.state) for run in made] == [(pending.run_id, "succeeded")]
    assert asker.get_job("tick").next_run_time == NOON + timedelta(hours=1)


def test_a_client_that_never_starts_can_ask(on_shared):
    worker = on_shared()
    worker.add_job(targets.record, "interval", hours=1, id="tick")
    client = on_shared(start=False)

    pending = client.run_job_now("tick")

    assert pending.state == "pending"
    assert client.get_job_runs("tick") == [pending]
    worker._process_jobs()
    assert len(targets.calls) == 1
    [run] = worker.get_job_runs("tick")
    assert (run.run_id, run.state) == (pending.run_id, "succeeded")


def test_a_client_asking_for_an_unknown_job_is_told(on_shared):
    on_shared()
    with pytest.raises(JobLookupError):
        on_shared(start=False).run_job_now("nothing")


def test_a_paused_shared_job_runs_on_request_and_stays_paused(on_shared):
    scheduler = on_shared()
    scheduler.add_job(targets.record, "interval", hours=1, id="tick")
    scheduler.pause_job("tick")

    scheduler.run_job_now("tick")
    scheduler._process_jobs()

    assert len(targets.calls) == 1
    assert scheduler.get_job("tick").next_run_time is None


def test_a_shared_run_now_honours_max_instances_across_schedulers(on_shared):
    executor = LaterExecutor()
    busy = on_shared(executors={"default": executor})
    idle = on_shared()
    busy.add_job(targets.record, "interval", hours=1, id="tick")
    busy.run_job_now("tick")
    busy._process_jobs()  # its run is going on, in the busy scheduler's pool

    second = idle.run_job_now("tick")
    idle._process_jobs()

    [skipped] = [run for run in idle.get_job_runs("tick") if run.run_id == second.run_id]
    assert (skipped.state, skipped.reason) == ("skipped", "max_instances=1 reached")
    executor.run_waiting()
    assert len(targets.calls) == 1
