"""The process pool executor: jobs in spawned worker processes, and surviving dead workers."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from concurrent.futures.process import BrokenProcessPool

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import ProcessPoolExecutor
from tests.executors import targets
from tests.executors.conftest import wait_until


def test_job_runs_in_another_process(process_executor, scheduler, make_job, wall_clock_now):
    job = make_job(targets.get_pid, next_run_time=wall_clock_now)

    process_executor.submit_job(job, [wall_clock_now])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_EXECUTED
    assert (event.job_id, event.jobstore, event.scheduled_run_time) == (
        job.id,
        "default",
        wall_clock_now,
    )
    assert event.retval != os.getpid()


def test_exception_of_a_job_comes_back_in_the_event(
    process_executor, scheduler, make_job, wall_clock_now
):
    job = make_job(targets.raise_value_error, args=("bad input",), next_run_time=wall_clock_now)

    process_executor.submit_job(job, [wall_clock_now])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, ValueError)
    assert "raise ValueError(message)" in event.traceback


def test_workers_are_spawned_not_forked(
    process_executor, scheduler, make_job, wall_clock_now, monkeypatch
):
    """A forked worker would inherit state changed at run time; a spawned one starts clean."""
    monkeypatch.setattr(targets, "MARKER", "changed in the scheduler process")
    job = make_job(targets.read_marker, next_run_time=wall_clock_now)

    process_executor.submit_job(job, [wall_clock_now])

    assert scheduler.wait_for_events(1)[0].retval == "as imported"


def test_mp_context_in_pool_kwargs_replaces_spawn():
    context = multiprocessing.get_context("forkserver")

    executor = ProcessPoolExecutor(max_workers=1, pool_kwargs={"mp_context": context})

    assert executor._pool._mp_context is context
    executor.shutdown()


def test_job_that_cannot_be_pickled_is_reported_as_an_error(
    process_executor, scheduler, make_job, wall_clock_now, caplog
):
    job = make_job(lambda: None, next_run_time=wall_clock_now)

    process_executor.submit_job(job, [wall_clock_now])

    wait_until(lambda: "Error running job" in caplog.text)
    assert "cannot be serialized" in caplog.text
    # the failure released the job's instance, so it can be submitted again
    process_executor.submit_job(job, [wall_clock_now])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")
def test_killed_worker_fails_its_job_and_later_jobs_still_run(
    process_executor, scheduler, make_job, wall_clock_now, caplog
):
    caplog.set_level(logging.WARNING)
    killer = make_job(targets.kill_own_process, next_run_time=wall_clock_now)

    process_executor.submit_job(killer, [wall_clock_now])

    wait_until(lambda: any(record.levelno == logging.ERROR for record in caplog.records))
    [error] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert error.getMessage() == f"Error running job {killer.id}"
    assert isinstance(error.exc_info[1], BrokenProcessPool)
    assert "replacing it with a fresh one" in caplog.text
    assert scheduler.events == []

    worker = make_job(targets.add, args=(20, 22), next_run_time=wall_clock_now)
    process_executor.submit_job(worker, [wall_clock_now])
    assert scheduler.wait_for_events(1)[0].retval == 42
    # the killed job's instance was released too
    process_executor.submit_job(killer, [wall_clock_now])
    wait_until(lambda: len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")
def test_jobs_queued_behind_a_killed_worker_fail_and_the_pool_is_replaced_once(
    scheduler, make_job, wall_clock_now, caplog
):
    caplog.set_level(logging.WARNING)
    executor = ProcessPoolExecutor(max_workers=1)
    executor.start(scheduler, "default")
    try:
        killer = make_job(targets.kill_own_process, next_run_time=wall_clock_now)
        queued = [make_job(targets.get_pid, next_run_time=wall_clock_now) for _ in range(2)]
        for job in [killer, *queued]:
            executor.submit_job(job, [wall_clock_now])

        def errors() -> list[logging.LogRecord]:
            return [record for record in caplog.records if record.levelno == logging.ERROR]

        wait_until(lambda: len(errors()) == 3)
        assert {record.getMessage() for record in errors()} == {
            f"Error running job {job.id}" for job in [killer, *queued]
        }
        assert caplog.text.count("replacing it with a fresh one") == 1

        survivor = make_job(targets.add, args=(1, 2), next_run_time=wall_clock_now)
        executor.submit_job(survivor, [wall_clock_now])
        assert scheduler.wait_for_events(1)[0].retval == 3
    finally:
        executor.shutdown()
