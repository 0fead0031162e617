"""GeventScheduler and GeventExecutor, with gevent not monkey patching this test process."""

from __future__ import annotations

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from tests.schedulers.flavours.conftest import require_for_module

require_for_module("gevent")

import gevent  # noqa: E402

pytestmark = pytest.mark.flavours("gevent")


def test_start_returns_the_greenlet_that_ends_at_shutdown(harness, scheduler):
    greenlet = scheduler.start()

    assert isinstance(greenlet, gevent.Greenlet)
    assert not greenlet.dead

    scheduler.shutdown()

    assert greenlet.dead


def test_each_job_runs_in_a_greenlet_of_its_own(harness, scheduler, event_log):
    scheduler.start()

    first = scheduler.add_job(gevent.getcurrent)
    second = scheduler.add_job(gevent.getcurrent)

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, count=2))
    first_greenlet = event_log.of(EVENT_JOB_EXECUTED, first.id)[0].retval
    second_greenlet = event_log.of(EVENT_JOB_EXECUTED, second.id)[0].retval
    assert first_greenlet is not second_greenlet
    assert gevent.getcurrent() not in (first_greenlet, second_greenlet)


def test_shutdown_waits_for_running_jobs(harness, scheduler, event_log):
    finished = []

    def slow_job():
        gevent.sleep(0.01)
        finished.append(True)

    scheduler.start()
    scheduler.add_job(slow_job)
    assert harness.wait_until(lambda: scheduler._executors["default"]._greenlets)

    scheduler.shutdown(wait=True)

    assert finished == [True]


def test_a_job_can_shut_the_scheduler_down(harness, scheduler):
    scheduler.start()

    scheduler.add_job(scheduler.shutdown)

    assert harness.wait_until(lambda: not scheduler.running)
