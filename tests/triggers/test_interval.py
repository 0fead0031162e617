"""IntervalTrigger: a fixed period of elapsed time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from apscheduler.triggers.interval import IntervalTrigger

UTC = timezone.utc


@pytest.mark.parametrize(
    "minutes_after_start, expected_minutes_after_start",
    [(-30, 0), (0, 0), (1, 10), (10, 10), (10.5, 20), (95, 100)],
    ids=[
        "before-start",
        "at-start",
        "just-after-start",
        "on-a-boundary",
        "between-boundaries",
        "many-periods-later",
    ],
)
def test_first_fire_time_is_the_next_period_boundary(
    berlin, minutes_after_start, expected_minutes_after_start
):
    start = datetime(2024, 5, 1, 10, tzinfo=berlin)
    trigger = IntervalTrigger(minutes=10, start_date=start)

    fire_time = trigger.get_next_fire_time(None, start + timedelta(minutes=minutes_after_start))

    assert fire_time == start + timedelta(minutes=expected_minutes_after_start)
    assert fire_time.tzinfo is berlin


def test_next_fire_time_is_previous_plus_interval(berlin):
    trigger = IntervalTrigger(hours=1, seconds=30, start_date="2024-05-01", timezone=berlin)
    previous = datetime(2024, 5, 1, 3, 3, 1, 500, tzinfo=berlin)

    assert trigger.get_next_fire_time(previous, previous) == datetime(
        2024, 5, 1, 4, 3, 31, 500, tzinfo=berlin
    )


def test_the_period_is_exact_over_long_spans():
    """Whole-number maths: no floating point drift after a million periods."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(seconds=7, start_date=start)
    now = start + timedelta(seconds=7 * 1_000_000 + 1)

    assert trigger.get_next_fire_time(None, now) == start + timedelta(seconds=7 * 1_000_001)


def test_sub_second_interval_keeps_microseconds():
    start = datetime(2024, 5, 1, tzinfo=UTC)
    trigger = IntervalTrigger(seconds=0.25, start_date=start)

    assert trigger.get_next_fire_time(start, start) == start + timedelta(microseconds=250_000)


def test_zero_interval_means_one_second():
    trigger = IntervalTrigger(start_date="2024-05-01", timezone="UTC")

    assert trigger.interval == timedelta(seconds=1)
    assert trigger.interval_length == 1


@pytest.mark.parametrize(
    "fraction, fires", [(0, True), (1, False)], ids=["no-delay", "delayed-past-end"]
)
def test_end_date_is_checked_after_jitter(berlin, jitter_draw, fraction, fires):
    jitter_draw(fraction)
    start = datetime(2024, 5, 1, 10, tzinfo=berlin)
    trigger = IntervalTrigger(minutes=10, start_date=start, end_date=start, jitter=60)

    fire_time = trigger.get_next_fire_time(None, start)

    assert fire_time == (start if fires else None)


def test_jitter_delays_up_to_its_maximum(berlin, jitter_draw):
    jitter_draw(1)
    start = datetime(2024, 5, 1, 10, tzinfo=berlin)
    trigger = IntervalTrigger(minutes=10, start_date=start, jitter=5)

    fire_time = trigger.get_next_fire_time(start, start)

    assert fire_time == start + timedelta(minutes=10, seconds=5)
    assert fire_time.tzinfo is berlin


def test_default_start_date_is_now_plus_interval(berlin):
    with time_machine.travel(datetime(2024, 5, 1, 10, tzinfo=UTC), tick=False):
        trigger = IntervalTrigger(minutes=5, timezone=berlin)

    assert trigger.start_date == datetime(2024, 5, 1, 12, 5, tzinfo=berlin)
    assert trigger.start_date.tzinfo is berlin


def test_timezone_comes_from_start_date(new_york):
    trigger = IntervalTrigger(hours=1, start_date=datetime(2024, 5, 1, tzinfo=new_york))

    assert trigger.timezone is new_york


def test_fire_times_are_returned_in_the_trigger_zone(berlin, new_york):
    trigger = IntervalTrigger(
        hours=1, start_date=datetime(2024, 5, 1, tzinfo=new_york), timezone=berlin
    )

    fire_time = trigger.get_next_fire_time(None, datetime(2024, 4, 1, tzinfo=UTC))

    assert fire_time.tzinfo is berlin
    assert fire_time == datetime(2024, 5, 1, tzinfo=new_york)


def test_str_and_repr(berlin):
    trigger = IntervalTrigger(
        hours=1,
        minutes=30,
        start_date="2024-05-01 10:00:00",
        end_date="2024-06-01",
        jitter=2.5,
        timezone=berlin,
    )

    assert str(trigger) == "interval[1:30:00]"
    assert repr(trigger) == (
        "<IntervalTrigger (interval=datetime.timedelta(seconds=5400), "
        "start_date='2024-05-01 10:00:00 CEST', end_date='2024-06-01 00:00:00 CEST', "
        "jitter=2.5, timezone='Europe/Berlin')>"
    )


def test_repr_without_optional_parts():
    trigger = IntervalTrigger(days=2, start_date="2024-05-01", timezone="UTC")

    assert str(trigger) == "interval[2 days, 0:00:00]"
    assert repr(trigger) == (
        "<IntervalTrigger (interval=datetime.timedelta(days=2), "
        "start_date='2024-05-01 00:00:00 UTC', timezone='UTC')>"
    )


def test_no_fire_time_past_the_end_of_year_9999():
    trigger = IntervalTrigger(weeks=1000, start_date="9990-01-01", timezone="UTC")

    previous = datetime(9990, 1, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(previous, previous) is None
