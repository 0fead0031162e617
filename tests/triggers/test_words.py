"""describe_trigger(): the exact words shown to people for each kind of trigger."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.triggers.words import describe_trigger
from tests.triggers.conftest import walk_fire_times

BERLIN = "Europe/Berlin"


def cron(**fields: Any) -> CronTrigger:
    fields.setdefault("timezone", "UTC")
    return CronTrigger(**fields)


CRON_CASES = [
    # times of day
    ({"hour": 3, "timezone": BERLIN}, "every day at 03:00 (Europe/Berlin)"),
    ({"hour": "9,17"}, "every day at 09:00 and 17:00 (UTC)"),
    ({"hour": 3, "minute": "0,20,45"}, "every day at 03:00, 03:20 and 03:45 (UTC)"),
    ({"hour": 23, "minute": 59, "second": 59}, "every day at 23:59:59 (UTC)"),
    ({"hour": 3, "minute": 30, "day_of_week": "mon-fri"}, "at 03:30 on Monday to Friday (UTC)"),
    ({"hour": 9, "day_of_week": "sat,sun"}, "at 09:00 on Saturday and Sunday (UTC)"),
    ({"hour": 9, "day_of_week": "mon,wed,fri"}, "at 09:00 on Monday, Wednesday and Friday (UTC)"),
    ({"hour": 6, "month": "mar-sep"}, "every day at 06:00 in March to September (UTC)"),
    # rhythms
    ({}, "every second (UTC)"),
    ({"second": "*/10"}, "every 10 seconds (UTC)"),
    ({"minute": "*"}, "every minute (UTC)"),
    ({"second": 30}, "every minute at second 30 (UTC)"),
    ({"minute": "*/15"}, "every 15 minutes (UTC)"),
    ({"minute": "0,15,30,45"}, "every 15 minutes (UTC)"),
    ({"minute": "*/15", "second": 5}, "every 15 minutes at second 5 (UTC)"),
    ({"minute": "*/15", "hour": "9-17"}, "every 15 minutes during hours 9-17 (UTC)"),
    ({"minute": 5}, "every hour at minute 5 (UTC)"),
    ({"minute": 5, "second": 30}, "every hour at second 30 of minute 5 (UTC)"),
    ({"minute": "5,35"}, "every hour at minutes 5 and 35 (UTC)"),
    ({"hour": "*/2"}, "every 2 hours (UTC)"),
    ({"hour": "*/2", "minute": 30}, "every 2 hours at minute 30 (UTC)"),
    ({"hour": "*/12"}, "every 12 hours (UTC)"),
    # a step that does not divide the hour restarts at minute 0: listed, not "every 7 minutes"
    (
        {"minute": "*/7"},
        "every hour at minutes 0, 7, 14, 21, 28, 35, 42, 49 and 56 (UTC)",
    ),
    ({"minute": "5/15"}, "every hour at minutes 5, 20, 35 and 50 (UTC)"),
    ({"hour": "*/5"}, "every day at 00:00, 05:00, 10:00, 15:00 and 20:00 (UTC)"),
    ({"hour": "1-5,20-23"}, "at minute 0 past hours 1-5 and 20-23 (UTC)"),
    ({"minute": "5,35", "hour": "1-5,22"}, "at minutes 5 and 35 past hours 1-5 and 22 (UTC)"),
    ({"second": "5,35", "hour": 3}, "every minute at seconds 5 and 35 during hour 3 (UTC)"),
    (
        {"second": "*/10", "minute": "0-4", "hour": "9-17"},
        "every 10 seconds during minutes 0-4 of hours 9-17 (UTC)",
    ),
    ({"minute": "*/30", "day_of_week": "mon"}, "every 30 minutes on Monday (UTC)"),
    # days of the month
    ({"day": 1, "hour": 0}, "at 00:00 on day 1 of every month (UTC)"),
    ({"day": "1,15", "hour": 12}, "at 12:00 on days 1 and 15 of every month (UTC)"),
    ({"month": "1,7", "day": "last"}, "at 00:00 on the last day of January and July (UTC)"),
    ({"day": "2nd fri", "hour": 18}, "at 18:00 on the 2nd Friday of every month (UTC)"),
    ({"day": "last sun", "month": "mar"}, "at 00:00 on the last Sunday of March (UTC)"),
    (
        {"day": "1-5,15,last,1st mon"},
        "at 00:00 on days 1-5, day 15, the last day and the 1st Monday of every month (UTC)",
    ),
    (
        {"day": 13, "day_of_week": "fri"},
        "at 00:00 on day 13 of every month, if it falls on Friday (UTC)",
    ),
    # weeks and years
    ({"week": "1-10"}, "every day at 00:00 in ISO weeks 1-10 (UTC)"),
    ({"week": 1, "day_of_week": "mon"}, "at 00:00 on Monday in ISO week 1 (UTC)"),
    ({"year": 2026}, "at 00:00 on day 1 of January in 2026 (UTC)"),
    ({"year": "2026-2028", "hour": 3}, "every day at 03:00 in 2026-2028 (UTC)"),
    ({"year": "2026,2028", "minute": "*/5"}, "every 5 minutes in 2026 and 2028 (UTC)"),
    # too many pieces for a sentence: the fields as they are
    ({"day": "*/2"}, "cron fields: day='*/2', hour='0', minute='0', second='0' (UTC)"),
    (
        {"minute": "1,3,7,11,13,17,19,23,29,31,37,41,43"},
        "cron fields: minute='1,3,7,11,13,17,19,23,29,31,37,41,43', second='0' (UTC)",
    ),
]


@pytest.mark.parametrize("fields, expected", CRON_CASES, ids=[text for _, text in CRON_CASES])
def test_cron(fields: dict[str, Any], expected: str) -> None:
    assert describe_trigger(cron(**fields)) == expected


def test_cron_from_crontab() -> None:
    trigger = CronTrigger.from_crontab("30 8 * * mon-fri", timezone=BERLIN)

    assert describe_trigger(trigger) == "at 08:30 on Monday to Friday (Europe/Berlin)"


def test_cron_with_dates_and_jitter() -> None:
    trigger = CronTrigger(
        hour=3, start_date="2026-01-01", end_date="2026-06-30", timezone=BERLIN, jitter=30
    )

    assert describe_trigger(trigger) == (
        "every day at 03:00 (Europe/Berlin), from 2026-01-01 00:00:00 CET until "
        "2026-06-30 00:00:00 CEST, with up to 30 s of jitter"
    )


def test_cron_with_an_end_date_only() -> None:
    trigger = cron(minute="*/15", end_date="2026-12-31 23:00:00")

    assert describe_trigger(trigger) == "every 15 minutes (UTC), until 2026-12-31 23:00:00 UTC"


def test_cron_with_a_fixed_offset_zone() -> None:
    trigger = cron(hour=3, timezone=timezone(timedelta(hours=2)))

    assert describe_trigger(trigger) == "every day at 03:00 (UTC+02:00)"


INTERVAL_CASES = [
    ({"hours": 2}, "every 2 hours"),
    ({"hours": 1}, "every hour"),
    ({"minutes": 90}, "every 1 hour 30 minutes"),
    ({"seconds": 0.5}, "every 0.5 seconds"),
    ({"seconds": 1}, "every second"),
    ({"seconds": 45}, "every 45 seconds"),
    ({"minutes": 1, "seconds": 2.25}, "every 1 minute 2.25 seconds"),
    ({"days": 1}, "every day"),
    ({"days": 10}, "every 10 days"),
    ({"weeks": 2}, "every 2 weeks"),
    ({"days": 14, "hours": 1}, "every 2 weeks 1 hour"),
    (
        {"days": 2, "hours": 3, "minutes": 4, "seconds": 5},
        "every 2 days 3 hours 4 minutes 5 seconds",
    ),
    ({}, "every second"),  # a zero interval means one second
]


@pytest.mark.parametrize(
    "period, expected", INTERVAL_CASES, ids=[text for _, text in INTERVAL_CASES]
)
def test_interval(period: dict[str, Any], expected: str) -> None:
    trigger = IntervalTrigger(**period, start_date="2026-12-03 03:00:00", timezone="UTC")

    assert describe_trigger(trigger) == f"{expected} (UTC), from 2026-12-03 03:00:00 UTC"


def test_interval_with_end_date_and_jitter() -> None:
    trigger = IntervalTrigger(
        days=14,
        start_date="2026-12-03",
        end_date="2027-07-01",
        timezone=BERLIN,
        jitter=2.5,
    )

    assert describe_trigger(trigger) == (
        "every 2 weeks (Europe/Berlin), from 2026-12-03 00:00:00 CET until "
        "2027-07-01 00:00:00 CEST, with up to 2.5 s of jitter"
    )


def test_date() -> None:
    trigger = DateTrigger("2026-12-03 03:00:00", timezone=BERLIN)

    assert describe_trigger(trigger) == "once, at 2026-12-03 03:00:00 CET (Europe/Berlin)"


def test_date_in_utc_names_the_zone_once() -> None:
    trigger = DateTrigger("2026-07-03 03:00:00", timezone="UTC")

    assert describe_trigger(trigger) == "once, at 2026-07-03 03:00:00 UTC"


CALENDAR_CASES = [
    ({"months": 1, "hour": 9}, "every month on day 15 at 09:00"),
    ({"months": 3, "hour": 9, "minute": 30}, "every 3 months on day 15 at 09:30"),
    ({"years": 1}, "every year on December 15 at 00:00"),
    ({"years": 1, "months": 6}, "every 1 year 6 months on day 15 at 00:00"),
    ({"weeks": 1, "hour": 8}, "every week on Tuesday at 08:00"),
    ({"weeks": 2, "hour": 8, "minute": 30}, "every 2 weeks on Tuesday at 08:30"),
    ({"days": 1, "hour": 6}, "every day at 06:00"),
    ({"days": 3, "second": 5}, "every 3 days at 00:00:05"),
    ({"months": 1, "days": 3}, "every 1 month 3 days at 00:00"),
    ({"weeks": 1, "days": 1}, "every 1 week 1 day at 00:00"),
]


@pytest.mark.parametrize(
    "options, expected", CALENDAR_CASES, ids=[text for _, text in CALENDAR_CASES]
)
def test_calendar_interval(options: dict[str, Any], expected: str) -> None:
    trigger = CalendarIntervalTrigger(**options, start_date="2026-12-15", timezone=BERLIN)

    assert describe_trigger(trigger) == f"{expected} (Europe/Berlin), from 2026-12-15"


def test_calendar_interval_with_end_date_and_jitter() -> None:
    trigger = CalendarIntervalTrigger(
        months=1, hour=9, start_date="2026-01-31", end_date="2026-12-31", timezone="UTC", jitter=60
    )

    assert describe_trigger(trigger) == (
        "every month on day 31 at 09:00 (UTC), from 2026-01-31 until 2026-12-31, "
        "with up to 60 s of jitter"
    )


def test_and() -> None:
    trigger = AndTrigger([cron(hour=3), cron(day_of_week="mon", hour="*")])

    assert describe_trigger(trigger) == (
        "when all of: every day at 03:00 (UTC); every hour at minute 0 on Monday (UTC)"
    )


def test_or_with_jitter_and_a_nested_and() -> None:
    inner = AndTrigger([cron(day=13), cron(day_of_week="fri")])
    trigger = OrTrigger([inner, DateTrigger("2026-12-03 03:00:00", timezone=BERLIN)], jitter=5)

    assert describe_trigger(trigger) == (
        "when any of (with up to 5 s of jitter): (when all of: at 00:00 on day 13 of every "
        "month (UTC); at 00:00 on Friday (UTC)); once, at 2026-12-03 03:00:00 CET "
        "(Europe/Berlin)"
    )


class CustomTrigger(BaseTrigger):
    """A third-party trigger: the words module cannot know what it does."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return None

    def __str__(self) -> str:
        return "custom[on full moons]"


class UnprintableTrigger(CustomTrigger):
    def __str__(self) -> str:
        raise RuntimeError("no text")


class LateCronTrigger(CronTrigger):
    """A subclass that fires differently from its base class, so its fields would mislead."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire_time = super().get_next_fire_time(previous_fire_time, now)
        return None if fire_time is None else fire_time + timedelta(hours=1)


def test_third_party_trigger_is_shown_by_its_str() -> None:
    assert describe_trigger(CustomTrigger()) == "custom[on full moons]"


def test_third_party_trigger_without_text_is_shown_by_its_class_name() -> None:
    assert describe_trigger(UnprintableTrigger()) == "UnprintableTrigger trigger"


def test_subclass_of_a_built_in_trigger_is_shown_by_its_str() -> None:
    assert describe_trigger(LateCronTrigger(hour=3, timezone="UTC")) == "cron[hour='3']"


def test_third_party_trigger_inside_a_combination() -> None:
    trigger = OrTrigger([cron(hour=3), CustomTrigger()])

    assert (
        describe_trigger(trigger) == "when any of: every day at 03:00 (UTC); custom[on full moons]"
    )


def test_a_trigger_whose_description_fails_is_shown_by_its_str() -> None:
    trigger = IntervalTrigger(hours=2, start_date="2026-12-03 03:00:00", timezone="UTC")
    trigger.interval = "two hours"  # type: ignore[assignment]

    assert describe_trigger(trigger) == "interval[two hours]"


def test_a_cron_trigger_missing_fields_is_shown_by_its_str() -> None:
    trigger = cron(hour=3)
    trigger.fields = trigger.fields[:5]

    assert describe_trigger(trigger) == "cron[]"


# --- any valid cron trigger gets words, without an error inside ----------------------------


def _numbers(low: int, high: int) -> st.SearchStrategy[str]:
    """One valid expression over the values low..high, in any of the numeric forms."""
    value = st.integers(low, high)
    ranges = st.tuples(value, value).filter(lambda pair: pair[0] < pair[1])
    return st.one_of(
        st.just("*"),
        st.integers(1, high - low).map(lambda step: f"*/{step}"),
        value.map(str),
        ranges.map(lambda pair: f"{pair[0]}-{pair[1]}"),
        ranges.flatmap(
            lambda pair: st.integers(1, pair[1] - pair[0]).map(
                lambda step: f"{pair[0]}-{pair[1]}/{step}"
            )
        ),
    )


def _field(expression: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | st.lists(expression, min_size=1, max_size=4).map(",".join)


WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAY_SPECIALS = st.sampled_from(["last"]) | st.builds(
    "{} {}".format,
    st.sampled_from(["1st", "2nd", "3rd", "4th", "5th", "last"]),
    st.sampled_from(WEEKDAY_NAMES),
)
CRON_FIELDS = st.fixed_dictionaries(
    {
        "year": _field(_numbers(2024, 2030)),
        "month": _field(_numbers(1, 12) | st.sampled_from(MONTH_NAMES)),
        "day": _field(_numbers(1, 31) | DAY_SPECIALS),
        "week": _field(_numbers(1, 53)),
        "day_of_week": _field(_numbers(0, 6) | st.sampled_from(WEEKDAY_NAMES)),
        "hour": _field(_numbers(0, 23)),
        "minute": _field(_numbers(0, 59)),
        "second": _field(_numbers(0, 59)),
    }
)


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(fields=CRON_FIELDS, zone=st.sampled_from(["UTC", BERLIN, "America/New_York"]))
def test_every_cron_trigger_gets_words(fields: dict[str, Any], zone: str) -> None:
    trigger = CronTrigger(**fields, timezone=zone)

    text = describe_trigger(trigger)

    assert text
    assert not text.startswith("cron[")  # the fallback, taken only when describing failed
    assert text.endswith(f"({zone})")


TIME_FIELDS = st.fixed_dictionaries(
    {
        "hour": _field(_numbers(0, 23)),
        "minute": _field(_numbers(0, 59)),
        "second": _field(_numbers(0, 59)),
    }
)
UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
RHYTHM = re.compile(r"every (?:(\d+) )?(second|minute|hour)s? \(UTC\)")
TIMES_OF_DAY = re.compile(r"every day at ([\d:, and]+) \(UTC\)")


@settings(max_examples=500, derandomize=True, deadline=None)
@given(fields=TIME_FIELDS)
def test_times_and_rhythms_in_words_are_the_fire_times(fields: dict[str, Any]) -> None:
    trigger = cron(**fields)
    midnight = datetime(2026, 1, 1, tzinfo=timezone.utc)

    text = describe_trigger(trigger)

    if match := TIMES_OF_DAY.fullmatch(text):
        listed = match.group(1).replace(" and ", ", ").split(", ")
        fire_times = walk_fire_times(
            trigger, midnight, until=midnight + timedelta(days=1, seconds=-1)
        )
        shown = [ft.strftime("%H:%M:%S" if len(listed[0]) > 5 else "%H:%M") for ft in fire_times]
        assert shown == listed
    elif match := RHYTHM.fullmatch(text):
        period = int(match.group(1) or 1) * UNIT_SECONDS[match.group(2)]
        fire_times = walk_fire_times(trigger, midnight, count=30)
        assert fire_times[0] == midnight
        gaps = {(later - earlier).total_seconds() for earlier, later in pairwise(fire_times)}
        assert gaps == {period}
