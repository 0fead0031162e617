"""The scheduler across DST changes: a daily job runs once a day, elapsed time stays elapsed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone as dt_timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from tests.schedulers import targets

BERLIN = ZoneInfo("Europe/Berlin")
UTC = dt_timezone.utc


def run_for(scheduler, fake_clock, events, hours, step_minutes=5):
    """Drive the scheduler on the fake clock, one pass every few minutes."""
    for _ in range(hours * 60 // step_minutes):
        fake_clock.advance(minutes=step_minutes)
        scheduler._process_jobs()

    return [e.scheduled_run_time for e in events if e.code == EVENT_JOB_EXECUTED]


@pytest.mark.parametrize(
    "start",
    [datetime(2026, 3, 27, 12, tzinfo=UTC), datetime(2026, 10, 23, 12, tzinfo=UTC)],
    ids=["spring-forward", "fall-back"],
)
def test_daily_job_in_the_changing_hour_runs_once_each_day(
    make_scheduler, fake_clock, events, start
):
    fake_clock.set(start)
    scheduler = make_scheduler(timezone=BERLIN)
    scheduler.start()
    scheduler.add_job(targets.record, "cron", hour=2, minute=30, misfire_grace_time=None)

    ran = run_for(scheduler, fake_clock, events, hours=4 * 24)

    per_day = Counter(run_time.astimezone(BERLIN).date() for run_time in ran)
    assert len(per_day) == 4
    assert set(per_day.values()) == {1}


def test_daily_job_skipped_by_spring_forward_runs_right_after_the_jump(
    make_scheduler, fake_clock, events
):
    fake_clock.set(datetime(2026, 3, 28, 12, tzinfo=UTC))
    scheduler = make_scheduler(timezone=BERLIN)
    scheduler.start()
    scheduler.add_job(targets.record, "cron", hour=2, minute=30, misfire_grace_time=None)

    ran = run_for(scheduler, fake_clock, events, hours=24)

    assert ran == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]  # 03:00 CEST


def test_interval_job_keeps_elapsed_time_through_the_fold(make_scheduler, fake_clock, events):
    fake_clock.set(datetime(2026, 10, 24, 22, tzinfo=UTC))
    scheduler = make_scheduler(timezone=BERLIN)
    scheduler.start()
    scheduler.add_job(targets.record, "interval", minutes=30, misfire_grace_time=None)

    ran = run_for(scheduler, fake_clock, events, hours=6)

    instants = [run_time.timestamp() for run_time in ran]
    assert len(instants) == 12
    assert {later - earlier for earlier, later in pairwise(instants)} == {1800.0}


def test_a_run_time_from_the_first_pass_is_due_during_the_second_pass(
    make_scheduler, fake_clock, events
):
    """02:50 CEST is earlier than 02:05 CET, although the wall clock reads later."""
    first_pass = datetime(2026, 10, 25, 2, 50, tzinfo=BERLIN)  # 00:50 UTC
    fake_clock.set(datetime(2026, 10, 25, 0, 0, tzinfo=UTC))
    scheduler = make_scheduler(timezone=BERLIN)
    scheduler.start()
    scheduler.add_job(
        targets.record,
        "cron",
        hour=2,
        minute=50,
        next_run_time=first_pass,
        misfire_grace_time=None,
    )

    fake_clock.set(datetime(2026, 10, 25, 1, 5, tzinfo=UTC))  # 02:05 CET, second pass
    scheduler._process_jobs()

    executed = [e.scheduled_run_time for e in events if e.code == EVENT_JOB_EXECUTED]
    assert executed == [first_pass]
    assert scheduler.get_jobs()[0].next_run_time.astimezone(UTC) == datetime(
        2026, 10, 26, 1, 50, tzinfo=UTC
    )


def test_wait_is_computed_in_elapsed_time_across_the_fold(make_scheduler, fake_clock):
    fake_clock.set(datetime(2026, 10, 25, 0, 55, tzinfo=UTC))  # 02:55 CEST
    scheduler = make_scheduler(timezone=BERLIN)
    scheduler.start()
    scheduler.add_job(targets.record, "date", run_date=datetime(2026, 10, 25, 1, 10, tzinfo=UTC))

    assert scheduler._process_jobs() == timedelta(minutes=15).total_seconds()
