"""The debug executor runs each job in the submitting thread before submit_job returns."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.debug import DebugExecutor
from tests.executors import targets


@pytest.fixture
def debug_executor(scheduler):
    executor = DebugExecutor()
    executor.start(scheduler, "default")
    yield executor
    executor.shutdown()


def test_job_has_run_when_submit_job_returns(debug_executor, scheduler, make_job):
    job = make_job(targets.get_thread_ident)

    debug_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.events
    assert event.code == EVENT_JOB_EXECUTED
    assert event.retval == threading.get_ident()


def test_failing_job_reports_an_error_event(debug_executor, scheduler, make_job):
    job = make_job(targets.raise_value_error, args=("bad input",))

    debug_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.events
    assert event.code == EVENT_JOB_ERROR
    assert str(event.exception) == "bad input"


def test_late_run_times_are_reported_missed(debug_executor, scheduler, make_job):
    job = make_job(targets.add, args=(1, 1), misfire_grace_time=1)
    now = job.next_run_time

    debug_executor.submit_job(job, [now - timedelta(seconds=2), now])

    assert [event.code for event in scheduler.events] == [EVENT_JOB_MISSED, EVENT_JOB_EXECUTED]


def test_a_finished_job_can_be_submitted_again_at_once(debug_executor, scheduler, make_job):
    job = make_job(targets.add, args=(1, 1), max_instances=1)

    for _ in range(3):
        debug_executor.submit_job(job, [job.next_run_time])

    assert [event.retval for event in scheduler.events] == [2, 2, 2]


def test_job_that_submits_itself_again_hits_max_instances(debug_executor, scheduler, make_job):
    """While a job runs it holds its instance, even in the synchronous executor."""
    outcome = []

    def resubmit() -> None:
        try:
            debug_executor.submit_job(job, [job.next_run_time])
        except Exception as exc:
            outcome.append(type(exc).__name__)

    job = make_job(resubmit, max_instances=1)
    debug_executor.submit_job(job, [job.next_run_time])

    assert outcome == ["MaxInstancesReachedError"]
