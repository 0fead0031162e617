"""TwistedScheduler and TwistedExecutor: the reactor, its thread pool, its delayed calls."""

from __future__ import annotations

import threading

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from tests.schedulers.flavours.conftest import require_for_module
from tests.schedulers.flavours.harnesses import TIMEOUT

require_for_module("twisted")

from apscheduler.schedulers.twisted import TwistedScheduler, run_in_reactor  # noqa: E402

pytestmark = pytest.mark.flavours("twisted")


def test_without_the_option_the_scheduler_uses_the_global_reactor(harness, scheduler):
    from twisted.internet import reactor

    harness.call(scheduler.start)

    assert scheduler._reactor is reactor


def test_jobs_run_in_the_reactor_pool_and_listeners_hear_on_the_reactor(
    harness, scheduler, event_log
):
    listener_threads = []
    scheduler.add_listener(
        lambda event: listener_threads.append(threading.current_thread().name), EVENT_JOB_EXECUTED
    )
    harness.call(scheduler.start)

    job = harness.call(scheduler.add_job, lambda: threading.current_thread().name)

    assert harness.wait_until(lambda: listener_threads)
    assert event_log.of(EVENT_JOB_EXECUTED, job.id)[0].retval.startswith("PoolThread")
    assert listener_threads == [harness.reactor_thread_name]


def test_shutdown_leaves_no_delayed_call_in_the_reactor(harness, scheduler):
    harness.call(scheduler.start)
    harness.call(scheduler.add_job, print, "interval", hours=1)
    harness.flush()
    assert scheduler._timer in harness.call(harness.reactor.getDelayedCalls)
    delayed_call = scheduler._timer

    harness.call(scheduler.shutdown)
    harness.flush()

    assert delayed_call not in harness.call(harness.reactor.getDelayedCalls)


def test_the_reactor_option_takes_the_reactor_to_run_on(harness, event_log):
    scheduler = TwistedScheduler(timezone="UTC", reactor="twisted.internet:reactor")
    ran = threading.Event()
    harness.call(scheduler.start)
    try:
        harness.call(scheduler.add_job, ran.set)
        assert ran.wait(TIMEOUT)
        assert scheduler._reactor is harness.reactor
    finally:
        harness.call(scheduler.shutdown)


def test_run_in_reactor_runs_the_method_in_the_reactor_thread(harness):
    class RecordingScheduler(TwistedScheduler):
        @run_in_reactor
        def record_thread(self, into, done):
            into.append(threading.current_thread().name)
            done.set()

    scheduler = RecordingScheduler(timezone="UTC")
    harness.call(scheduler.start)
    threads, done = [], threading.Event()
    try:
        scheduler.record_thread(threads, done)  # called from the test's thread
        assert done.wait(TIMEOUT)
        assert threads == [harness.reactor_thread_name]
    finally:
        harness.call(scheduler.shutdown)
