"""
Schedulers driven with freezegun, the way test suites written for APScheduler 3 drive them.

Those suites freeze the time, add jobs, move the time with ``frozen.tick()`` or
``frozen.move_to()`` and call ``scheduler._process_jobs()`` by hand (or wake a started
scheduler), then check which jobs ran and how long the scheduler would sleep. The expected
values are APScheduler 3.11's.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import freezegun
import pytest

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from tests.schedulers.conftest import SteppedScheduler

UTC = dt_timezone.utc
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WAIT_TIMEOUT = 10.0


@pytest.fixture
def frozen():
    with freezegun.freeze_time(START) as frozen_time:
        yield frozen_time


@pytest.fixture
def events():
    return []


@pytest.fixture
def scheduler(frozen, events):
    scheduler = SteppedScheduler(timezone="UTC", executors={"default": DebugExecutor()})
    scheduler.add_listener(events.append)
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


def ran(events):
    return [
        (event.job_id, event.scheduled_run_time)
        for event in events
        if event.code == EVENT_JOB_EXECUTED
    ]


def test_an_interval_job_runs_when_the_frozen_time_is_ticked_to_it(scheduler, events, frozen):
    scheduler.add_job(print, "interval", seconds=30, id="every30", args=[""])

    assert scheduler._process_jobs() == 30.0
    assert ran(events) == []

    frozen.tick(30)
    assert scheduler._process_jobs() == 30.0
    assert ran(events) == [("every30", START + timedelta(seconds=30))]


def test_a_date_job_due_now_runs_at_the_first_pass(scheduler, events):
    scheduler.add_job(print, "date", id="now", args=[""])
    scheduler.add_job(print, "date", run_date=START + timedelta(minutes=2), id="later", args=[""])

    assert scheduler._process_jobs() == 120.0
    assert ran(events) == [("now", START)]
    assert scheduler.get_job("now") is None


def test_moving_past_several_run_times_runs_a_coalescing_job_once(scheduler, events, frozen):
    scheduler.add_job(print, "cron", minute="*", id="minutely", args=[""], misfire_grace_time=None)

    frozen.move_to(START + timedelta(minutes=5, seconds=30))
    assert scheduler._process_jobs() == 30.0

    assert ran(events) == [("minutely", START + timedelta(minutes=5))]
    assert scheduler.get_job("minutely").next_run_time == START + timedelta(minutes=6)


def test_a_run_later_than_the_grace_time_is_missed(scheduler, events, frozen):
    scheduler.add_job(print, "date", run_date=START + timedelta(seconds=10), id="j", args=[""])

    frozen.tick(13)
    assert scheduler._process_jobs() is None

    assert ran(events) == []
    [missed] = [event for event in events if event.code == EVENT_JOB_MISSED]
    assert missed.job_id == "j"


def test_a_paused_scheduler_computes_run_times_but_runs_nothing(frozen, events):
    """``start(paused=True)``: jobs get their run times from the frozen time, none runs."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_listener(events.append)
    scheduler.start(paused=True)
    try:
        job = scheduler.add_job(print, "interval", minutes=10, id="j", args=[""])
        assert job.next_run_time == START + timedelta(minutes=10)

        frozen.tick(timedelta(minutes=10))
        assert scheduler._process_jobs() is None
        assert ran(events) == []
        assert scheduler.get_job("j").next_run_time == START + timedelta(minutes=10)
    finally:
        scheduler.shutdown()


def test_a_started_background_scheduler_runs_what_is_due_by_the_frozen_time(frozen):
    """Resumed after the frozen time moved, the scheduler's thread runs the job that is due."""
    scheduler = BackgroundScheduler(timezone="UTC")
    executions = []
    done = threading.Event()

    def listener(event):
        executions.append((event.job_id, event.scheduled_run_time))
        done.set()

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(print, "interval", hours=1, id="hourly", args=[""])
        frozen.move_to(START + timedelta(hours=1))
        scheduler.resume()

        assert done.wait(WAIT_TIMEOUT)
        assert executions == [("hourly", START + timedelta(hours=1))]
    finally:
        scheduler.shutdown()
