"""
Bad arguments to every trigger raise TypeError/ValueError naming the argument and value.

Where APScheduler 3 raised with a message, the message is its sentence, word for word, and the
argument and value are in a note (PEP 678) below it.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

END_BEFORE_START = (
    "end_date (2024-05-01 00:00:00 UTC) cannot be earlier than start_date "
    "(2024-05-02 00:00:00 UTC)"
)


@pytest.mark.parametrize(
    "make, exception, message",
    [
        (
            lambda: CronTrigger(hour=1, jitter=-1),
            ValueError,
            "jitter must not be negative, got -1",
        ),
        (
            lambda: CronTrigger(hour=1, jitter="5"),
            TypeError,
            "jitter must be a number of seconds or None, got '5' (str) instead",
        ),
        (lambda: CronTrigger(hour=1, timezone=5), TypeError, "Expected tzinfo, got int instead"),
        (
            lambda: CronTrigger(hour=1, start_date="tomorrow", timezone="UTC"),
            ValueError,
            "Invalid date string",
        ),
        (
            lambda: CronTrigger(hour=1, end_date=12, timezone="UTC"),
            TypeError,
            "Unsupported type for end_date: int",
        ),
        (
            lambda: CronTrigger(
                hour=1, start_date="2024-05-02", end_date="2024-05-01", timezone="UTC"
            ),
            ValueError,
            END_BEFORE_START,
        ),
        (
            lambda: CronTrigger.from_crontab("* * * *"),
            ValueError,
            "Wrong number of fields; got 4, expected 5",
        ),
        (
            lambda: CronTrigger.from_crontab("0 0 * * * 2024"),
            ValueError,
            "Wrong number of fields; got 6, expected 5",
        ),
        (
            lambda: IntervalTrigger(minutes="5"),
            TypeError,
            "unsupported type for timedelta minutes component: str",
        ),
        (
            lambda: IntervalTrigger(hours=True),
            TypeError,
            "hours must be a number, got True (bool) instead",
        ),
        (
            lambda: IntervalTrigger(seconds=-1),
            ValueError,
            "The interval must not be negative, got -1 day, 23:59:59",
        ),
        (
            lambda: IntervalTrigger(
                hours=1, start_date="2024-05-02", end_date="2024-05-01", timezone="UTC"
            ),
            ValueError,
            END_BEFORE_START,
        ),
        (
            lambda: IntervalTrigger(days=10**10),
            OverflowError,
            "Python int too large to convert to C int",
        ),
        (
            lambda: IntervalTrigger(hours=1, jitter=-0.5),
            ValueError,
            "jitter must not be negative, got -0.5",
        ),
        (
            lambda: IntervalTrigger(hours=1, start_date=[2024], timezone="UTC"),
            TypeError,
            "Unsupported type for start_date: list",
        ),
        (
            lambda: DateTrigger("2024-13-01", timezone="UTC"),
            ValueError,
            "month must be in 1..12",
        ),
        (
            lambda: DateTrigger("soon", timezone="UTC"),
            ValueError,
            "Invalid date string",
        ),
        (
            lambda: DateTrigger(3.5, timezone="UTC"),
            TypeError,
            "Unsupported type for run_date: float",
        ),
        (lambda: CalendarIntervalTrigger(), ValueError, "interval must be at least 1 day long"),
        (lambda: CalendarIntervalTrigger(days=-1), ValueError, "days must be 0 or more, got -1"),
        (
            lambda: CalendarIntervalTrigger(weeks=1.5),
            TypeError,
            "weeks must be a whole number, got 1.5 (float) instead",
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, hour=24),
            ValueError,
            "hour must be in 0..23",
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, minute="5"),
            TypeError,
            "'str' object cannot be interpreted as an integer",
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, second=60),
            ValueError,
            "second must be in 0..59",
        ),
        (
            lambda: CalendarIntervalTrigger(
                days=1, start_date="2024-05-02", end_date="2024-05-01"
            ),
            ValueError,
            "end_date cannot be earlier than start_date",
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, start_date="May 1st"),
            ValueError,
            "Invalid isoformat string: 'May 1st'",
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, end_date=20240501),
            TypeError,
            "end_date must be a date or an ISO 8601 date string, got 20240501 instead",
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, jitter=-3),
            ValueError,
            "jitter must not be negative, got -3",
        ),
        (lambda: AndTrigger([]), ValueError, "triggers must contain at least one trigger"),
        (
            lambda: OrTrigger("cron"),
            TypeError,
            "triggers must be a list of triggers, got 'cron' instead",
        ),
        (
            lambda: AndTrigger([CronTrigger(hour=1, timezone="UTC"), "interval"]),
            TypeError,
            "triggers must contain only BaseTrigger instances, got 'interval'",
        ),
        (
            lambda: OrTrigger([CronTrigger(hour=1, timezone="UTC")], jitter=-1),
            ValueError,
            "jitter must not be negative, got -1",
        ),
    ],
    ids=[
        "cron-negative-jitter",
        "cron-text-jitter",
        "cron-bad-timezone-type",
        "cron-unparseable-start-date",
        "cron-bad-end-date-type",
        "cron-end-before-start",
        "crontab-four-fields",
        "crontab-six-fields",
        "interval-text-minutes",
        "interval-bool-hours",
        "interval-negative",
        "interval-end-before-start",
        "interval-too-long",
        "interval-negative-jitter",
        "interval-bad-start-date-type",
        "date-impossible-month",
        "date-unparseable",
        "date-bad-type",
        "calendar-all-zero",
        "calendar-negative-days",
        "calendar-fractional-weeks",
        "calendar-hour-out-of-range",
        "calendar-text-minute",
        "calendar-second-out-of-range",
        "calendar-end-before-start",
        "calendar-unparseable-start",
        "calendar-bad-end-type",
        "calendar-negative-jitter",
        "and-empty",
        "or-text-instead-of-list",
        "and-non-trigger-member",
        "or-negative-jitter",
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_message(make, exception, message):
    with pytest.raises(exception, match=f"^{re.escape(message)}") as caught:
        make()

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "make, notes",
    [
        (
            lambda: CronTrigger(hour=1, start_date="tomorrow", timezone="UTC"),
            ["start_date: 'tomorrow'"],
        ),
        (
            lambda: CronTrigger.from_crontab("0 0 * * * 2024"),
            ["in the crontab expression '0 0 * * * 2024'"],
        ),
        (lambda: IntervalTrigger(minutes="5"), ["minutes must be a number, got '5'"]),
        (
            lambda: IntervalTrigger(days=10**10),
            ["The interval is too long to represent: days=10000000000"],
        ),
        (lambda: DateTrigger("2024-13-01", timezone="UTC"), ["run_date: '2024-13-01'"]),
        (lambda: CalendarIntervalTrigger(days=1, hour=24), ["hour is 24"]),
        (
            lambda: CalendarIntervalTrigger(days=1, minute="5"),
            ["minute must be a whole number, got '5'"],
        ),
        (
            lambda: CalendarIntervalTrigger(
                days=1, start_date="2024-05-02", end_date="2024-05-01"
            ),
            ["start_date is 2024-05-02, end_date 2024-05-01"],
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, start_date="May 1st"),
            ["start_date is not an ISO 8601 date (YYYY-MM-DD): 'May 1st'"],
        ),
    ],
    ids=[
        "cron-unparseable-start-date",
        "crontab-six-fields",
        "interval-text-minutes",
        "interval-too-long",
        "date-impossible-month",
        "calendar-hour-out-of-range",
        "calendar-text-minute",
        "calendar-end-before-start",
        "calendar-unparseable-start",
    ],
)
def test_the_argument_and_value_behind_a_3x_message_are_in_a_note(make, notes):
    with pytest.raises((TypeError, ValueError, OverflowError)) as caught:
        make()

    assert caught.value.__notes__ == notes


def test_unknown_zone_name_is_a_lookup_error():
    with pytest.raises(LookupError, match="Nowhere/Special"):
        CronTrigger(hour=1, timezone="Nowhere/Special")


def test_naive_default_end_date_before_default_start_is_allowed():
    """An interval trigger whose end has passed is finished, not an error (as in 3.x)."""
    trigger = IntervalTrigger(minutes=1, end_date="2000-01-01", timezone="UTC")

    assert trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=trigger.timezone)) is None
