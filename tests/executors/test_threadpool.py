"""The thread pool executor: running jobs, reporting events, limits and shutdown."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import BrokenExecutor, ThreadPoolExecutor as StdThreadPoolExecutor
from datetime import timedelta

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.executors.pool import BasePoolExecutor, ThreadPoolExecutor
from tests.executors import targets


def test_job_runs_in_a_pool_thread_and_reports_its_return_value(
    thread_executor, scheduler, make_job
):
    job = make_job(targets.get_thread_ident)
    run_time = job.next_run_time

    thread_executor.submit_job(job, [run_time])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_EXECUTED
    assert (event.job_id, event.jobstore, event.scheduled_run_time) == (
        job.id,
        "default",
        run_time,
    )
    assert event.retval != threading.get_ident()


def test_job_gets_its_args_and_kwargs(thread_executor, scheduler, make_job):
    job = make_job(targets.add, args=(2,), kwargs={"b": 40})

    thread_executor.submit_job(job, [job.next_run_time])

    assert scheduler.wait_for_events(1)[0].retval == 42


def test_each_run_time_gives_one_execution(thread_executor, scheduler, make_job):
    job = make_job(targets.add, args=(1, 1))
    run_times = [job.next_run_time - timedelta(minutes=n) for n in (2, 1, 0)]

    thread_executor.submit_job(job, run_times)

    events = scheduler.wait_for_events(3)
    assert [event.scheduled_run_time for event in events] == run_times
    assert {event.code for event in events} == {EVENT_JOB_EXECUTED}


def test_run_times_older_than_the_grace_time_are_reported_missed(
    thread_executor, scheduler, make_job
):
    job = make_job(targets.add, args=(1, 1), misfire_grace_time=30)
    now = job.next_run_time
    run_times = [now - timedelta(seconds=31), now - timedelta(seconds=30), now]

    thread_executor.submit_job(job, run_times)

    events = scheduler.wait_for_events(3)
    assert [event.code for event in events] == [
        EVENT_JOB_MISSED,
        EVENT_JOB_EXECUTED,
        EVENT_JOB_EXECUTED,
    ]
    assert events[0].scheduled_run_time == run_times[0]


def test_no_grace_time_means_no_run_time_is_missed(thread_executor, scheduler, make_job):
    job = make_job(targets.add, args=(1, 1), misfire_grace_time=None)

    thread_executor.submit_job(job, [job.next_run_time - timedelta(days=365)])

    assert scheduler.wait_for_events(1)[0].code == EVENT_JOB_EXECUTED


def test_failing_job_reports_the_exception_and_a_formatted_traceback(
    thread_executor, scheduler, make_job, caplog
):
    job = make_job(targets.raise_value_error, args=("bad input",))

    thread_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, ValueError)
    assert str(event.exception) == "bad input"
    assert isinstance(event.traceback, str)
    assert "raise_value_error" in event.traceback
    assert "raise ValueError(message)" in event.traceback
    assert "raised an exception" in caplog.text


def test_failing_job_leaves_no_locals_alive(thread_executor, scheduler, make_job):
    """The event keeps the exception, but the failed call's frames no longer hold its locals."""
    canary_refs: list = []
    job = make_job(targets.fail_holding_canary, args=(canary_refs,))

    thread_executor.submit_job(job, [job.next_run_time])

    [event] = scheduler.wait_for_events(1)
    assert event.code == EVENT_JOB_ERROR
    assert event.exception.__traceback__ is not None
    assert canary_refs[0]() is None


def test_second_instance_is_refused_while_the_first_runs(
    thread_executor, scheduler, make_job, release
):
    started = threading.Semaphore(0)
    job = make_job(targets.wait_until_released, args=(release, started), max_instances=1)
    thread_executor.submit_job(job, [job.next_run_time])
    assert started.acquire(timeout=10)

    with pytest.raises(MaxInstancesReachedError, match="maximum number of instances"):
        thread_executor.submit_job(job, [job.next_run_time])

    release.set()
    scheduler.wait_for_events(1)
    thread_executor.submit_job(job, [job.next_run_time])
    assert [event.retval for event in scheduler.wait_for_events(2)] == ["released"] * 2


def test_max_instances_allows_that_many_concurrent_runs(
    thread_executor, scheduler, make_job, release
):
    started = threading.Semaphore(0)
    job = make_job(targets.wait_until_released, args=(release, started), max_instances=2)

    thread_executor.submit_job(job, [job.next_run_time])
    thread_executor.submit_job(job, [job.next_run_time])
    assert started.acquire(timeout=10) and started.acquire(timeout=10)
    with pytest.raises(MaxInstancesReachedError):
        thread_executor.submit_job(job, [job.next_run_time])

    release.set()
    assert len(scheduler.wait_for_events(2)) == 2


def test_no_more_threads_than_max_workers_run_jobs(scheduler, make_job, release):
    executor = ThreadPoolExecutor(max_workers="2")  # as read from a configuration file
    executor.start(scheduler, "default")
    started = threading.Semaphore(0)
    try:
        for _ in range(3):
            job = make_job(targets.wait_until_released, args=(release, started))
            executor.submit_job(job, [job.next_run_time])

        assert started.acquire(timeout=10) and started.acquire(timeout=10)
        assert not started.acquire(timeout=0.2)
        release.set()
        assert started.acquire(timeout=10)
        assert len(scheduler.wait_for_events(3)) == 3
    finally:
        release.set()
        executor.shutdown()


def test_submitting_from_many_threads_at_once_loses_nothing(thread_executor, scheduler, make_job):
    job = make_job(targets.add, args=(1, 2), max_instances=1000)

    def submit_many() -> None:
        for _ in range(50):
            thread_executor.submit_job(job, [job.next_run_time])

    submitters = [threading.Thread(target=submit_many) for _ in range(4)]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join()

    events = scheduler.wait_for_events(200)
    assert [event.retval for event in events] == [3] * 200
    # every instance was released: a single-instance limit is free again
    job._modify(max_instances=1)
    thread_executor.submit_job(job, [job.next_run_time])
    assert len(scheduler.wait_for_events(201)) == 201


def test_shutdown_with_wait_returns_after_running_jobs_finish(scheduler, make_job, release):
    executor = ThreadPoolExecutor()
    executor.start(scheduler, "default")
    started = threading.Semaphore(0)
    job = make_job(targets.wait_until_released, args=(release, started))
    executor.submit_job(job, [job.next_run_time])
    assert started.acquire(timeout=10)

    shutdown = threading.Thread(target=executor.shutdown, kwargs={"wait": True})
    shutdown.start()
    shutdown.join(0.1)
    assert shutdown.is_alive()

    release.set()
    shutdown.join(10)
    assert not shutdown.is_alive()
    assert scheduler.events[0].retval == "released"


def test_shut_down_executor_refuses_jobs(scheduler, make_job):
    executor = ThreadPoolExecutor()
    executor.start(scheduler, "default")
    executor.shutdown()
    job = make_job(targets.add, args=(1, 2))

    with pytest.raises(RuntimeError, match="shutdown"):
        executor.submit_job(job, [job.next_run_time])

    # the refused submission does not count as a running instance
    executor.start(scheduler, "default")
    executor.submit_job(job, [job.next_run_time])
    assert scheduler.wait_for_events(1)[0].retval == 3
    executor.shutdown()


def test_executor_runs_jobs_again_after_a_restart(scheduler, make_job):
    executor = ThreadPoolExecutor()
    for expected_events in (1, 2):
        executor.start(scheduler, "default")
        job = make_job(targets.add, args=(1, 2))
        executor.submit_job(job, [job.next_run_time])
        scheduler.wait_for_events(expected_events)
        executor.shutdown()

    assert [event.retval for event in scheduler.events] == [3, 3]


def test_pool_kwargs_reach_the_thread_pool(scheduler, make_job):
    executor = ThreadPoolExecutor(pool_kwargs={"thread_name_prefix": "reporting"})
    executor.start(scheduler, "default")
    job = make_job(threading.current_thread)

    executor.submit_job(job, [job.next_run_time])

    assert scheduler.wait_for_events(1)[0].retval.name.startswith("reporting")
    executor.shutdown()


class _BrokenPool(StdThreadPoolExecutor):
    """A pool that broke before the executor noticed, the way a process pool can."""

    def submit(self, *args, **kwargs):
        raise BrokenExecutor("a worker died")


class _RenewablePoolExecutor(BasePoolExecutor):
    def __init__(self) -> None:
        super().__init__(_BrokenPool())

    def _create_pool(self) -> StdThreadPoolExecutor:
        return StdThreadPoolExecutor(1)


def test_pool_found_broken_at_submission_is_replaced_and_the_job_runs(scheduler, make_job, caplog):
    executor = _RenewablePoolExecutor()
    executor.start(scheduler, "default")
    job = make_job(targets.add, args=(1, 2))

    with caplog.at_level(logging.WARNING):
        executor.submit_job(job, [job.next_run_time])

    assert scheduler.wait_for_events(1)[0].retval == 3
    assert "replacing it with a fresh one" in caplog.text
    executor.shutdown()


def test_pool_that_cannot_be_renewed_reports_a_broken_pool_to_the_caller(scheduler, make_job):
    executor = BasePoolExecutor(_BrokenPool())
    executor.start(scheduler, "default")
    job = make_job(targets.add, args=(1, 2))

    with pytest.raises(BrokenExecutor):
        executor.submit_job(job, [job.next_run_time])

    # the failed submission does not hold an instance
    with pytest.raises(BrokenExecutor):
        executor.submit_job(job, [job.next_run_time])


def test_executor_that_never_started_can_be_shut_down():
    executor = ThreadPoolExecutor()

    executor.shutdown()


class _GatedPool(StdThreadPoolExecutor):
    """A thread pool whose submissions wait at a gate once ``hold`` is set."""

    def __init__(self) -> None:
        super().__init__(2)
        self.hold = False
        self.gate = threading.Event()
        self.entered = threading.Event()

    def submit(self, fn, /, *args, **kwargs):
        if self.hold:
            self.entered.set()
            self.gate.wait(10)
        return super().submit(fn, *args, **kwargs)


def test_a_run_ends_and_is_reported_while_another_is_being_handed_to_the_pool(
    scheduler, make_job
):
    pool = _GatedPool()
    executor = BasePoolExecutor(pool)
    executor.start(scheduler, "default")
    release = threading.Event()
    first = make_job(targets.wait_until_released, args=(release,))
    second = make_job(targets.add, args=(1, 2))
    executor.submit_job(first, [first.next_run_time])
    pool.hold = True
    submitter = threading.Thread(
        target=executor.submit_job, args=(second, [second.next_run_time])
    )
    submitter.start()
    try:
        assert pool.entered.wait(10)
        release.set()
        # the hand-over of the second job is still stuck in the pool's submit()
        [event] = scheduler.wait_for_events(1, timeout=5)
        assert (event.job_id, event.retval) == (first.id, "released")
    finally:
        pool.gate.set()
        release.set()
        submitter.join()

    assert scheduler.wait_for_events(2)[1].retval == 3
    executor.shutdown()


def test_a_subclass_hand_over_runs_under_the_lock_as_in_apscheduler_3(scheduler, make_job):
    held = []

    class RecordingExecutor(ThreadPoolExecutor):
        def _do_submit_job(self, job, run_times):
            held.append(self._lock._is_owned())
            super()._do_submit_job(job, run_times)

    executor = RecordingExecutor(max_workers=1)
    executor.start(scheduler, "default")
    job = make_job(targets.add, args=(1, 2))

    executor.submit_job(job, [job.next_run_time])

    assert scheduler.wait_for_events(1)[0].retval == 3
    assert held == [True]
    executor.shutdown()



def test_a_job_with_run_options_is_handed_over_under_the_lock(scheduler, make_job):
    pool = _GatedPool()
    executor = BasePoolExecutor(pool)
    executor.start(scheduler, "default")
    job = make_job(targets.add, args=(1, 2), overlap="cancel")
    pool.hold = True
    submitter = threading.Thread(target=executor.submit_job, args=(job, [job.next_run_time]))
    submitter.start()
    try:
        assert pool.entered.wait(10)
        # a newer run that must cancel this one finds it counted and watched, never in between
        free = executor._lock.acquire(blocking=False)
        if free:
            executor._lock.release()
        assert not free
    finally:
        pool.gate.set()
        submitter.join()

    assert scheduler.wait_for_events(1)[0].retval == 3
    executor.shutdown()
