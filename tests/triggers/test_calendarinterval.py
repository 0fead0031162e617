"""CalendarIntervalTrigger: calendar steps at a fixed wall-clock time."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import time_machine

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger

UTC = timezone.utc


def dates(fire_times: list[datetime]) -> list[str]:
    return [ft.strftime("%Y-%m-%d %H:%M:%S") for ft in fire_times]


def test_daily_at_a_fixed_time(berlin, walk):
    trigger = CalendarIntervalTrigger(
        days=1, hour=7, minute=45, second=5, start_date="2024-05-01", timezone=berlin
    )

    fire_times = walk(trigger, datetime(2024, 4, 1, tzinfo=berlin), count=3)

    assert dates(fire_times) == [
        "2024-05-01 07:45:05",
        "2024-05-02 07:45:05",
        "2024-05-03 07:45:05",
    ]
    assert all(ft.tzinfo is berlin for ft in fire_times)


def test_monthly_on_the_31st_skips_shorter_months(walk):
    trigger = CalendarIntervalTrigger(months=1, start_date=date(2024, 1, 31), timezone="UTC")

    fire_times = walk(trigger, datetime(2024, 1, 1, tzinfo=UTC), count=4)

    assert [ft.strftime("%b %d") for ft in fire_times] == ["Jan 31", "Mar 31", "May 31", "Jul 31"]


def test_yearly_on_february_29th_waits_for_leap_years(walk):
    trigger = CalendarIntervalTrigger(years=1, start_date="2024-02-29", timezone="UTC")

    fire_times = walk(trigger, datetime(2024, 1, 1, tzinfo=UTC), count=3)

    assert [ft.year for ft in fire_times] == [2024, 2028, 2032]


def test_months_and_days_together_add_months_then_days(walk):
    trigger = CalendarIntervalTrigger(
        months=1, weeks=1, days=1, start_date="2024-01-31", timezone="UTC"
    )

    fire_times = walk(trigger, datetime(2024, 1, 1, tzinfo=UTC), count=3)

    # Jan 31 -> (no Feb 31) Mar 31 + 8 days -> Apr 8 -> May 8 + 8 days -> May 16
    assert [ft.strftime("%b %d") for ft in fire_times] == ["Jan 31", "Apr 08", "May 16"]


@pytest.mark.parametrize(
    "kwargs, now, expected",
    [
        ({"weeks": 2}, datetime(2024, 5, 20, 12), "2024-05-29 00:00:00"),
        ({"days": 3, "hour": 12}, datetime(2024, 5, 7, 12), "2024-05-07 12:00:00"),
        ({"days": 3, "hour": 12}, datetime(2024, 5, 7, 12, 0, 1), "2024-05-10 12:00:00"),
        ({"months": 2}, datetime(2025, 6, 2), "2025-07-01 00:00:00"),
        ({"years": 1, "months": 6}, datetime(2030, 1, 1), "2030-05-01 00:00:00"),
        ({"months": 1, "days": 1}, datetime(2024, 8, 1), "2024-08-04 00:00:00"),
    ],
    ids=[
        "fortnightly",
        "now-matches",
        "just-missed",
        "bimonthly",
        "every-18-months",
        "mixed-far-from-start",
    ],
)
def test_first_fire_time_is_the_first_on_the_grid_at_or_after_now(kwargs, now, expected):
    """Fire dates are counted from the start date, however long ago it was."""
    trigger = CalendarIntervalTrigger(start_date="2024-05-01", timezone="UTC", **kwargs)

    fire_time = trigger.get_next_fire_time(None, now.replace(tzinfo=UTC))

    assert fire_time.strftime("%Y-%m-%d %H:%M:%S") == expected


def test_late_previous_fire_time_does_not_shift_the_dates(berlin):
    """A jittered or late fire time still leads to the next date on the grid."""
    trigger = CalendarIntervalTrigger(days=2, hour=6, start_date="2024-05-01", timezone=berlin)
    late = datetime(2024, 5, 3, 6, 40, tzinfo=berlin)

    assert trigger.get_next_fire_time(late, late) == datetime(2024, 5, 5, 6, tzinfo=berlin)


def test_end_date_is_the_last_date(walk):
    trigger = CalendarIntervalTrigger(
        days=1, hour=23, start_date="2024-05-01", end_date="2024-05-03", timezone="UTC"
    )

    fire_times = walk(trigger, datetime(2024, 4, 1, tzinfo=UTC))

    assert [ft.day for ft in fire_times] == [1, 2, 3]


def test_jitter_delays_the_fire_time(jitter_draw, berlin):
    jitter_draw(1)
    trigger = CalendarIntervalTrigger(days=1, start_date="2024-05-01", timezone=berlin, jitter=30)

    fire_time = trigger.get_next_fire_time(None, datetime(2024, 4, 1, tzinfo=berlin))

    assert fire_time == datetime(2024, 5, 1, 0, 0, 30, tzinfo=berlin)


def test_default_start_date_is_today_in_the_trigger_zone(new_york):
    # 02:00 UTC on May 2nd is still May 1st in New York
    with time_machine.travel(datetime(2024, 5, 2, 2, tzinfo=UTC), tick=False):
        trigger = CalendarIntervalTrigger(days=1, timezone=new_york)

    assert trigger.start_date == date(2024, 5, 1)


def test_start_date_accepts_a_datetime_as_its_date():
    trigger = CalendarIntervalTrigger(
        days=1, start_date=datetime(2024, 5, 1, 15, 30), timezone="UTC"
    )

    assert trigger.start_date == date(2024, 5, 1)


def test_repr(berlin):
    trigger = CalendarIntervalTrigger(
        months=1,
        days=3,
        hour=8,
        minute=5,
        start_date="2024-05-01",
        end_date="2025-01-01",
        timezone=berlin,
    )

    assert repr(trigger) == (
        "CalendarIntervalTrigger(months=1, days=3, time='08:05:00', start_date='2024-05-01', "
        "end_date='2025-01-01', timezone='Europe/Berlin')"
    )
    assert str(trigger) == repr(trigger)


def test_repr_with_a_fixed_offset_zone_shows_the_offset():
    trigger = CalendarIntervalTrigger(weeks=1, start_date="2024-05-01", timezone="UTC")

    assert repr(trigger) == (
        "CalendarIntervalTrigger(weeks=1, time='00:00:00+00:00', start_date='2024-05-01', "
        "timezone='UTC')"
    )
