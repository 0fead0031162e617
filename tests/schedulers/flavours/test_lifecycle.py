"""The life of a scheduler, the same on every flavour: start, run jobs, pause, resume, stop."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_START,
)
from apscheduler.schedulers import SchedulerAlreadyRunningError, SchedulerNotRunningError
from tests.schedulers.flavours.conftest import COROUTINE_FLAVOURS, THREADED_FLAVOURS
from tests.schedulers.flavours.harnesses import TIMEOUT


def answer():
    return 42


def fail():
    raise RuntimeError("the job failed on purpose")


def test_a_job_added_while_running_runs(harness, scheduler, event_log):
    harness.call(scheduler.start)

    job = harness.call(scheduler.add_job, answer)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert event_log.of(EVENT_JOB_EXECUTED, job.id)[0].retval == 42


def test_jobs_added_before_start_run_once_it_starts(harness, scheduler, event_log):
    job = scheduler.add_job(answer)

    harness.call(scheduler.start)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert event_log.of(EVENT_SCHEDULER_START)


def test_a_job_due_in_a_moment_runs_when_the_timer_fires(harness, scheduler, event_log):
    """Nothing wakes the scheduler at the run time but its own timer."""
    ran_at = []
    run_date = datetime.now(timezone.utc) + timedelta(milliseconds=50)
    harness.call(scheduler.start)

    job = harness.call(
        scheduler.add_job,
        lambda: ran_at.append(datetime.now(timezone.utc)),
        "date",
        run_date=run_date,
        misfire_grace_time=None,
    )

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert ran_at[0] >= run_date


def test_an_interval_job_runs_again_and_again(harness, scheduler, event_log):
    harness.call(scheduler.start)

    job = harness.call(scheduler.add_job, answer, "interval", seconds=0.02)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id, count=3))


def test_a_paused_scheduler_keeps_due_jobs_until_resumed(harness, scheduler, event_log):
    harness.call(scheduler.start)
    harness.call(scheduler.pause)

    job = harness.call(scheduler.add_job, answer)
    harness.flush()

    assert not event_log.of(EVENT_JOB_EXECUTED)
    assert harness.call(scheduler.get_job, job.id) is not None

    harness.call(scheduler.resume)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert event_log.of(EVENT_SCHEDULER_PAUSED) and event_log.of(EVENT_SCHEDULER_RESUMED)


def test_a_scheduler_started_paused_runs_nothing_until_resumed(harness, scheduler, event_log):
    job = scheduler.add_job(answer)
    harness.call(scheduler.start, paused=True)
    harness.flush()

    assert not event_log.of(EVENT_JOB_EXECUTED)

    harness.call(scheduler.resume)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))


def test_shutdown_stops_the_scheduler(harness, scheduler, event_log):
    harness.call(scheduler.start)

    harness.call(scheduler.shutdown)

    assert not scheduler.running
    assert event_log.of(EVENT_SCHEDULER_SHUTDOWN)


def test_shutdown_of_a_stopped_scheduler_raises_in_the_caller(harness, scheduler):
    harness.call(scheduler.start)
    harness.call(scheduler.shutdown)

    with pytest.raises(SchedulerNotRunningError):
        harness.call(scheduler.shutdown)


def test_starting_a_running_scheduler_raises_and_keeps_it_running(harness, scheduler, event_log):
    harness.call(scheduler.start)

    with pytest.raises(SchedulerAlreadyRunningError):
        harness.call(scheduler.start)

    job = harness.call(scheduler.add_job, answer)
    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))


def test_a_job_added_from_another_thread_wakes_the_scheduler(harness, scheduler, event_log):
    harness.call(scheduler.start)
    harness.flush()  # the scheduler now sleeps until something wakes it: it has no jobs

    added = []
    adder = threading.Thread(target=lambda: added.append(scheduler.add_job(answer)))
    adder.start()
    adder.join(TIMEOUT)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, added[0].id))


def test_shutdown_from_another_thread_stops_the_scheduler(harness, scheduler, event_log):
    harness.call(scheduler.start)

    stopper = threading.Thread(target=scheduler.shutdown)
    stopper.start()
    assert harness.wait_until(lambda: not stopper.is_alive())

    assert not scheduler.running
    assert event_log.of(EVENT_SCHEDULER_SHUTDOWN)


def test_a_failing_job_is_reported_and_the_scheduler_carries_on(harness, scheduler, event_log):
    harness.call(scheduler.start)

    failing = harness.call(scheduler.add_job, fail)

    assert harness.wait_until(event_log.has(EVENT_JOB_ERROR, failing.id))
    error = event_log.of(EVENT_JOB_ERROR, failing.id)[0]
    assert isinstance(error.exception, RuntimeError)
    assert "fail()" in error.traceback or "in fail" in error.traceback

    later = harness.call(scheduler.add_job, answer)
    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, later.id))


def test_the_default_executor_is_the_flavours_own(harness, scheduler):
    harness.call(scheduler.start)

    assert type(scheduler._executors["default"]) is harness.executor_class


def test_the_scheduler_starts_again_after_a_shutdown(harness, scheduler, event_log):
    harness.call(scheduler.start)
    harness.call(scheduler.shutdown)

    harness.call(scheduler.start)
    job = harness.call(scheduler.add_job, answer)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))


def test_a_listener_can_shut_the_scheduler_down(harness, scheduler, event_log):
    def stop(event):
        scheduler.shutdown(wait=False)

    scheduler.add_listener(stop, EVENT_JOB_EXECUTED)
    harness.call(scheduler.start)

    harness.call(scheduler.add_job, answer)

    assert harness.wait_until(event_log.has(EVENT_SCHEDULER_SHUTDOWN))
    assert not scheduler.running


@pytest.mark.flavours(*THREADED_FLAVOURS)
def test_a_blocking_job_does_not_block_the_loop(harness, scheduler, event_log):
    started, release = threading.Event(), threading.Event()

    def blocking_job():
        started.set()
        release.wait(TIMEOUT)
        return threading.current_thread().name

    harness.call(scheduler.start)
    job = harness.call(scheduler.add_job, blocking_job)
    assert harness.wait_until(started.is_set)

    # the loop still answers while the job blocks
    loop_thread = harness.call(lambda: threading.current_thread().name)
    release.set()

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert event_log.of(EVENT_JOB_EXECUTED, job.id)[0].retval != loop_thread


async def double(value):
    await asyncio.sleep(0)
    return value * 2, threading.current_thread().name


async def fail_later():
    await asyncio.sleep(0)
    raise ValueError("the coroutine failed on purpose")


@pytest.mark.flavours(*COROUTINE_FLAVOURS)
@pytest.mark.parametrize(
    "make_job",
    [lambda: (double, [21]), lambda: (partial(double, 21), None)],
    ids=["coroutine function", "coroutine function behind a partial"],
)
def test_a_coroutine_job_runs_on_the_loop(harness, scheduler, event_log, make_job):
    func, args = make_job()
    harness.call(scheduler.start)
    loop_thread = harness.call(lambda: threading.current_thread().name)

    job = harness.call(scheduler.add_job, func, args=args)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert event_log.of(EVENT_JOB_EXECUTED, job.id)[0].retval == (42, loop_thread)


@pytest.mark.flavours(*COROUTINE_FLAVOURS)
def test_a_failing_coroutine_job_is_reported(harness, scheduler, event_log):
    harness.call(scheduler.start)

    job = harness.call(scheduler.add_job, fail_later)

    assert harness.wait_until(event_log.has(EVENT_JOB_ERROR, job.id))
    assert isinstance(event_log.of(EVENT_JOB_ERROR, job.id)[0].exception, ValueError)
