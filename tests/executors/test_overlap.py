"""The ``overlap`` job option: what a run due while ``max_instances`` runs go on does."""

from __future__ import annotations

import threading

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.base import JobCancelled, MaxInstancesReachedError
from tests.executors import targets


def test_skip_refuses_the_run_as_in_3x(thread_executor, scheduler, make_job, release):
    started = threading.Semaphore(0)
    job = make_job(targets.wait_until_released, args=(release, started))
    thread_executor.submit_job(job, [job.next_run_time])
    started.acquire()

    with pytest.raises(MaxInstancesReachedError):
        thread_executor.submit_job(job, [job.next_run_time])


def test_queue_runs_once_more_when_the_instance_ends(
    thread_executor, scheduler, make_job, release
):
    started = threading.Semaphore(0)
    job = make_job(targets.wait_until_released, args=(release, started), overlap="queue")
    thread_executor.submit_job(job, [job.next_run_time])
    started.acquire()

    thread_executor.submit_job(job, [job.next_run_time])  # waits for the instance
    with pytest.raises(MaxInstancesReachedError):
        thread_executor.submit_job(job, [job.next_run_time])  # one waits at most
    assert not started.acquire(timeout=0.2), "the queued run waits while the first one runs"
    release.set()

    events = scheduler.wait_for_events(2)
    assert [event.code for event in events] == [EVENT_JOB_EXECUTED] * 2
    assert thread_executor._instances.get(job.id, 0) == 0


def test_cancel_stops_the_running_instance_then_starts(thread_executor, scheduler, make_job):
    job = make_job(targets.spin, args=(60,), overlap="cancel")
    thread_executor.submit_job(job, [job.next_run_time])
    replacement = make_job(targets.add, args=(1, 2), id=job.id, overlap="cancel")

    thread_executor.submit_job(replacement, [replacement.next_run_time])

    stopped, ran = scheduler.wait_for_events(2)
    assert stopped.code == EVENT_JOB_ERROR
    assert isinstance(stopped.exception, JobCancelled)
    assert stopped.reason.startswith("stopped for the run at ")
    assert stopped.reason.endswith("(overlap='cancel')")
    assert (ran.code, ran.retval) == (EVENT_JOB_EXECUTED, 3)


def test_queue_in_a_process_pool(process_executor, scheduler, make_job, wall_clock_now):
    job = make_job(targets.nap, args=(0.5,), overlap="queue", next_run_time=wall_clock_now)
    process_executor.submit_job(job, [wall_clock_now])

    process_executor.submit_job(job, [wall_clock_now])

    events = scheduler.wait_for_events(2)
    assert [event.retval for event in events] == ["woke", "woke"]
