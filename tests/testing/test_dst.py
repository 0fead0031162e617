"""
A user's test of a daily job through the DST nights of 2026 in Europe/Berlin.

On 2026-03-29 the clocks jump from 02:00 to 03:00, so 02:30 does not exist: the cron trigger
runs the day's job at the first instant after the jump, 03:00. On 2026-10-25 they go back from
03:00 to 02:00, so 02:30 comes twice: the job runs at the first 02:30 only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.testing import FakeClock, advance
from tests.testing.conftest import make_store

BERLIN = ZoneInfo("Europe/Berlin")


def nightly_report():
    """Stands for the user's job."""


def local_run_times(events):
    return [event.scheduled_run_time.astimezone(BERLIN).isoformat() for event in events]


@pytest.fixture
def make_berlin_scheduler(tmp_path, store_kind):
    started = []

    def factory(start):
        clock = FakeClock(start)
        scheduler = BackgroundScheduler(
            timezone=BERLIN, clock=clock, jobstores={"default": make_store(store_kind, tmp_path)}
        )
        scheduler.add_job(nightly_report, "cron", hour=2, minute=30, id="report")
        scheduler.start()
        started.append(scheduler)
        return scheduler

    yield factory
    for scheduler in started:
        scheduler.shutdown()


def test_spring_forward_runs_once_right_after_the_jump(make_berlin_scheduler):
    scheduler = make_berlin_scheduler(datetime(2026, 3, 28, tzinfo=BERLIN))

    events = advance(scheduler, timedelta(days=3))

    assert local_run_times(events) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_fall_back_runs_once_at_the_first_occurrence(make_berlin_scheduler):
    scheduler = make_berlin_scheduler(datetime(2026, 10, 24, tzinfo=BERLIN))

    events = advance(scheduler, timedelta(days=3))

    assert local_run_times(events) == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_a_whole_year_has_one_run_a_day(make_berlin_scheduler):
    scheduler = make_berlin_scheduler(datetime(2026, 1, 1, tzinfo=BERLIN))

    events = advance(
        scheduler, datetime(2027, 1, 1, tzinfo=BERLIN) - datetime(2026, 1, 1, tzinfo=BERLIN)
    )

    assert {event.code for event in events} == {EVENT_JOB_EXECUTED}
    days = [event.scheduled_run_time.astimezone(BERLIN).date() for event in events]
    assert days == [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]


def test_an_every_hour_job_runs_in_both_passes_of_the_repeated_hour(make_scheduler):
    clock = FakeClock(datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN))
    scheduler = make_scheduler(clock=clock, timezone=BERLIN)
    scheduler.add_job(nightly_report, "cron", minute=30)

    events = advance(scheduler, timedelta(hours=4))

    assert local_run_times(events) == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
