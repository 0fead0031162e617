"""DateTrigger: one fire time, given or "now"."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import time_machine

from apscheduler.triggers.date import DateTrigger

UTC = timezone.utc


def test_fires_once_at_run_date(berlin):
    run_date = datetime(2024, 5, 1, 12, tzinfo=berlin)
    trigger = DateTrigger(run_date)

    assert trigger.get_next_fire_time(None, run_date - timedelta(days=1)) == run_date
    assert trigger.get_next_fire_time(run_date, run_date) is None


def test_past_run_date_is_still_returned_once(berlin):
    """The scheduler decides what to do with a late run (misfire grace time)."""
    run_date = datetime(2024, 5, 1, 12, tzinfo=berlin)

    assert DateTrigger(run_date).get_next_fire_time(None, run_date + timedelta(days=1)) == (
        run_date
    )


def test_naive_text_and_dates_take_the_given_zone(berlin):
    assert DateTrigger("2024-05-01 12:30:00", berlin).run_date == datetime(
        2024, 5, 1, 12, 30, tzinfo=berlin
    )
    assert DateTrigger(date(2024, 5, 1), "Europe/Berlin").run_date == datetime(
        2024, 5, 1, tzinfo=berlin
    )
    assert DateTrigger("2024-05-01T12:30:00.25+02:00").run_date == datetime(
        2024, 5, 1, 10, 30, 0, 250_000, tzinfo=UTC
    )


def test_aware_run_date_keeps_its_zone(new_york):
    run_date = datetime(2024, 5, 1, 12, tzinfo=new_york)

    assert DateTrigger(run_date, timezone="Europe/Berlin").run_date is run_date


def test_default_run_date_is_now(berlin):
    with time_machine.travel(datetime(2024, 5, 1, 10, 0, 0, 123_000, tzinfo=UTC), tick=False):
        trigger = DateTrigger(timezone=berlin)

    assert trigger.run_date == datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=berlin)
    assert trigger.run_date.tzinfo is berlin


def test_str_and_repr(berlin):
    trigger = DateTrigger(datetime(2024, 5, 1, 12, 30, tzinfo=berlin))

    assert str(trigger) == "date[2024-05-01 12:30:00 CEST]"
    assert repr(trigger) == "<DateTrigger (run_date='2024-05-01 12:30:00 CEST')>"
