"""The ``timeout`` job option: runs that take too long are stopped and reported timed out."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from apscheduler.events import EVENT_ALL, EVENT_JOB_EXECUTED, EVENT_JOB_TIMED_OUT
from apscheduler.executors.base import JobTimeout, MaxInstancesReachedError
from apscheduler.executors.debug import DebugExecutor
from tests.executors import targets


def codes(events):
    return [event.code for event in events]


def test_the_timed_out_code_is_outside_event_all():
    assert not EVENT_JOB_TIMED_OUT & EVENT_ALL


def test_a_python_loop_in_a_thread_is_interrupted(thread_executor, scheduler, make_job):
    job = make_job(targets.spin, args=(60,), timeout=0.3)
    started = time.monotonic()

    thread_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_TIMED_OUT
    assert isinstance(event.exception, JobTimeout)
    assert event.reason == "it ran for longer than its timeout of 0.3 s"
    assert time.monotonic() - started < 10
    # the thread stopped: the job's instance is free again
    deadline = time.monotonic() + 10
    while thread_executor._instances.get(job.id):
        assert time.monotonic() < deadline, "the thread never ended"
        time.sleep(0.01)


def test_a_job_that_catches_every_exception_is_stopped_all_the_same(
    thread_executor, scheduler, make_job
):
    job = make_job(targets.swallow_everything, args=(60,), timeout=0.3)

    thread_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_TIMED_OUT


def test_a_blocking_call_is_reported_at_the_deadline_and_keeps_its_instance(
    thread_executor, scheduler, make_job
):
    """The run is timed out at the deadline; its slot frees only when the thread really ends."""
    job = make_job(targets.nap, args=(1.5,), timeout=0.2)
    started = time.monotonic()

    thread_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_TIMED_OUT
    assert time.monotonic() - started < 1.4, "reported at the deadline, not when the call ended"
    with pytest.raises(MaxInstancesReachedError):
        thread_executor.submit_job(job, [job.next_run_time])
    deadline = time.monotonic() + 10
    while thread_executor._instances.get(job.id):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert codes(scheduler.events) == [EVENT_JOB_TIMED_OUT], "one report, not a late success too"


def test_a_run_within_its_timeout_succeeds(thread_executor, scheduler, make_job):
    job = make_job(targets.add, args=(1, 2), timeout=5)

    thread_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.wait_for_events(1)
    assert (event.code, event.retval) == (EVENT_JOB_EXECUTED, 3)
    time.sleep(0.1)
    assert codes(scheduler.events) == [EVENT_JOB_EXECUTED]


def test_in_a_process_pool_a_sleeping_job_is_stopped_and_the_next_job_runs(
    process_executor, scheduler, make_job, wall_clock_now
):
    job = make_job(targets.nap, args=(60,), timeout=1, next_run_time=wall_clock_now)
    started = time.monotonic()

    process_executor.submit_job(job, [wall_clock_now])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_TIMED_OUT
    assert event.reason == "it ran for longer than its timeout of 1 s"
    assert time.monotonic() - started < 30
    after = make_job(targets.get_pid, next_run_time=wall_clock_now)
    process_executor.submit_job(after, [wall_clock_now])
    assert scheduler.wait_for_events(2)[1].code == EVENT_JOB_EXECUTED


def test_in_a_process_pool_a_python_loop_is_stopped(
    process_executor, scheduler, make_job, wall_clock_now
):
    job = make_job(targets.spin, args=(60,), timeout=0.5, next_run_time=wall_clock_now)

    process_executor.submit_job(job, [wall_clock_now])

    assert scheduler.wait_for_events(1)[0].code == EVENT_JOB_TIMED_OUT


def test_the_debug_executor_stops_a_run_too(scheduler, make_job):
    executor = DebugExecutor()
    executor.start(scheduler, "default")
    job = make_job(targets.spin, args=(60,), timeout=0.2)

    executor.submit_job(job, [job.next_run_time])

    assert codes(scheduler.events) == [EVENT_JOB_TIMED_OUT]


# --- the option ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, seconds",
    [(1, 1.0), (0.25, 0.25), (timedelta(minutes=2), 120.0), ("30", 30.0), (None, None)],
)
def test_timeout_takes_seconds_a_timedelta_or_text(make_job, value, seconds):
    assert make_job(targets.add, args=(1, 2), timeout=value).timeout == seconds


@pytest.mark.parametrize(
    "value, error, message",
    [
        (0, ValueError, "timeout must be positive"),
        (-1, ValueError, "timeout must be positive"),
        ("soon", ValueError, "timeout must be a number of seconds"),
        ([1], TypeError, "timeout must be a number of seconds or a timedelta"),
        (True, TypeError, "timeout must be a number of seconds or a timedelta"),
    ],
)
def test_a_bad_timeout_is_refused_naming_the_value(make_job, value, error, message):
    with pytest.raises(error, match=message) as caught:
        make_job(targets.add, args=(1, 2), timeout=value)
    assert repr(value) in "".join(caught.value.__notes__)


def test_the_state_of_a_job_without_run_options_is_the_3x_state(make_job):
    plain = make_job(targets.add, args=(1, 2))
    timed = make_job(targets.add, args=(1, 2), timeout=5)

    assert "run_control" not in plain.__getstate__()
    assert timed.__getstate__()["run_control"] == {"timeout": 5.0}
    restored = type(timed).__new__(type(timed))
    restored.__setstate__(timed.__getstate__())
    assert restored.timeout == 5.0
