"""
Differential tests: the cron trigger's fast paths give what the plain algorithm gives.

The wall-clock search carries an overflowing field straight to the next one, and the trigger
reuses what it learnt in its previous call when asked for the fire time after that one. Both
are checked here against straightforward versions (the search as it was before it was made
faster, and a fresh trigger that has no previous call to reuse), over many fields, zones and
clock changes. The examples are derandomized, so every run checks the same cases.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from apscheduler.triggers._dst import resolve_wall_time
from apscheduler.triggers.cron import CronTrigger, _existing_reading
from apscheduler.triggers.cron._schedule import CronSchedule, WallTime
from tests.triggers.conftest import CHANGE_DAYS, ZONES

UTC = timezone.utc

years = st.sampled_from([None, "*", "2024", "2025-2027", "2030/3", "2024,2031"])
months = st.sampled_from([None, "*", "feb", "mar-apr,oct-nov", "*/5", "12"])
days = st.sampled_from(
    [None, "*", "last", "1-7", "last sun", "2nd sat", "*/3", "30,31", "29", "5th mon", "31,last"]
)
weeks = st.sampled_from([None, "*", "1", "10-20", "53", "*/2"])
weekdays = st.sampled_from([None, "*", "sun", "mon-fri", "sat,sun", "fri"])
hours = st.sampled_from([None, "*", "*/2", "0-4", "1", "2", "3", "1-3", "22-23,0-1", "23", "0-23"])
minutes = st.sampled_from([None, "*", "*/5", "0", "30", "0,30", "10-20", "45-59/7", "59"])
seconds = st.sampled_from([None, "*", "0", "*/20", "59", "30-31"])


def reference_next_wall_time(
    schedule: CronSchedule, year: int, month: int, day: int, hour: int, minute: int, second: int
) -> WallTime | None:
    """The search before the carry was made direct: restart from the year after each step."""
    from bisect import bisect_left

    years, months = schedule._years, schedule._months
    hours, minutes, seconds = schedule._hours, schedule._minutes, schedule._seconds
    while True:
        next_year = years[year] if year < len(years) else None
        if next_year is None:
            return None
        if next_year != year:
            year, month, day, hour, minute, second = next_year, 1, 1, 0, 0, 0

        next_month = months[month]
        if next_month is None:
            year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
            continue
        if next_month != month:
            month, day, hour, minute, second = next_month, 1, 0, 0, 0

        days = schedule._days_of_month(year, month)
        index = bisect_left(days, day)
        if index == len(days):
            month, day, hour, minute, second = month + 1, 1, 0, 0, 0
            continue
        if days[index] != day:
            day, hour, minute, second = days[index], 0, 0, 0

        next_hour = hours[hour]
        if next_hour is None:
            day, hour, minute, second = day + 1, 0, 0, 0
            continue
        if next_hour != hour:
            hour, minute, second = next_hour, 0, 0

        next_minute = minutes[minute]
        if next_minute is None:
            hour, minute, second = hour + 1, 0, 0
            continue
        if next_minute != minute:
            minute, second = next_minute, 0

        next_second = seconds[second]
        if next_second is None:
            minute, second = minute + 1, 0
            continue

        return year, month, day, hour, minute, next_second


def build(zone: str, **fields: str | None) -> CronTrigger:
    return CronTrigger(timezone=ZoneInfo(zone), **fields)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    year=years,
    month=months,
    day=days,
    week=weeks,
    day_of_week=weekdays,
    hour=hours,
    minute=minutes,
    second=seconds,
    moment=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2033, 12, 31)),
    steps=st.integers(min_value=1, max_value=30),
)
def test_wall_time_search_agrees_with_the_plain_loop(
    year, month, day, week, day_of_week, hour, minute, second, moment, steps
):
    trigger = build(
        "UTC",
        year=year,
        month=month,
        day=day,
        week=week,
        day_of_week=day_of_week,
        hour=hour,
        minute=minute,
        second=second,
    )
    schedule = trigger._schedule
    assert schedule is not None
    wall: tuple[int, ...] | None = (
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )
    # from a moment, then from just after each match, as consecutive fire times search
    for _ in range(steps):
        assert wall is not None
        expected = reference_next_wall_time(schedule, *wall)
        assert schedule.next_wall_time(*wall) == expected
        if expected is None:
            break

        wall = (datetime(*expected) + timedelta(seconds=1)).timetuple()[:6]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(day=days, week=weeks, day_of_week=weekdays, first_year=st.integers(1970, 9960))
def test_matching_days_of_each_month_agree_with_the_fields(day, week, day_of_week, first_year):
    trigger = build("UTC", day=day, week=week, day_of_week=day_of_week)
    schedule = trigger._schedule
    assert schedule is not None
    day_fields = [
        field for field in trigger.fields if field.name in ("day", "week", "day_of_week")
    ]
    # 40 years: more months than the per-month cache keeps, and every month shape
    for year in range(first_year, first_year + 40):
        for month in range(1, 13):
            expected = tuple(
                moment.day
                for moment in (
                    datetime(year, month, 1) + timedelta(days=offset) for offset in range(31)
                )
                if moment.month == month
                and all(
                    field.get_next_value(moment) == field.get_value(moment) for field in day_fields
                )
            )
            assert schedule._days_of_month(year, month) == expected, (year, month)


def same_object_state(moment: datetime | None) -> tuple[object, ...] | None:
    """What tells two results apart: the reading, its fold, its zone and its offset."""
    if moment is None:
        return None

    return moment.replace(tzinfo=None), moment.fold, moment.tzinfo, moment.utcoffset()


def detached(moment: datetime) -> datetime:
    """An equal datetime that is not the trigger's own result object."""
    return datetime(*moment.timetuple()[:6], moment.microsecond, moment.tzinfo, fold=moment.fold)




@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    change=st.sampled_from(CHANGE_DAYS),
    hours_before=st.integers(min_value=-30, max_value=6),
    month=months,
    day=days,
    day_of_week=weekdays,
    hour=hours,
    minute=minutes,
    second=seconds,
    steps=st.integers(min_value=1, max_value=40),
)
def test_fire_times_after_own_results_agree_with_a_fresh_trigger(
    change, hours_before, month, day, day_of_week, hour, minute, second, steps
):
    zone, day_of_change = change
    fields = {
        "month": month,
        "day": day,
        "day_of_week": day_of_week,
        "hour": hour,
        "minute": minute,
        "second": second,
    }
    trigger = build(zone, **fields)
    now = (day_of_change + timedelta(hours=hours_before)).replace(tzinfo=ZoneInfo(zone))
    fast: datetime | None = None
    for _ in range(steps):
        # a fresh trigger, given an equal datetime that is not its own result, takes the
        # general path: converting the previous fire time and rounding it up
        fresh = build(zone, **fields)
        expected = fresh.get_next_fire_time(None if fast is None else detached(fast), now)
        fast = trigger.get_next_fire_time(fast, now)
        assert same_object_state(fast) == same_object_state(expected)
        if fast is None:
            break


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Apia"])
def test_walk_to_the_end_of_year_9999_agrees_with_the_plain_loop(zone):
    trigger = build(zone, month="12", day="last", hour="23", minute="59", second="59")
    schedule = trigger._schedule
    assert schedule is not None
    for wall in [(9999, 12, 31, 23, 59, 59), (9999, 12, 31, 23, 59, 58), (9998, 12, 31, 0, 0, 0)]:
        assert schedule.next_wall_time(*wall) == reference_next_wall_time(schedule, *wall)

    fire_time = trigger.get_next_fire_time(None, datetime(9998, 12, 1, tzinfo=UTC))
    fire_times = []
    while fire_time is not None and len(fire_times) < 5:
        fire_times.append(fire_time)
        fire_time = trigger.get_next_fire_time(fire_time, fire_time)

    assert fire_times[-1].year <= 9999 and len(fire_times) <= 2


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    change=st.sampled_from(CHANGE_DAYS),
    seconds_from_midnight=st.integers(min_value=-3 * 3600, max_value=27 * 3600),
)
def test_existing_reading_agrees_with_resolve_wall_time(change, seconds_from_midnight):
    zone_name, day_of_change = change
    zone = ZoneInfo(zone_name)
    naive = day_of_change + timedelta(seconds=seconds_from_midnight)
    wall = naive.replace(tzinfo=zone)
    candidate, candidate_utc = resolve_wall_time(wall)
    known = _existing_reading(wall, zone)
    if candidate is wall:
        assert known is not None
        assert known[0] == candidate_utc and known[0].tzinfo is UTC
        # the UTC reading in the zone is what fromutc turns into the local reading
        assert known[1].tzinfo is zone
        assert same_object_state(zone.fromutc(known[1])) == same_object_state(
            candidate_utc.astimezone(zone)
        )
        assert known[1].replace(tzinfo=None) == candidate_utc.replace(tzinfo=None)
    else:
        assert known is None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    change=st.sampled_from(CHANGE_DAYS),
    seconds_from_midnight=st.integers(min_value=-3 * 3600, max_value=27 * 3600),
    microsecond=st.sampled_from([0, 1, 500_000, 999_999]),
    fold=st.sampled_from([0, 1]),
    hour=hours,
    minute=minutes,
    second=seconds,
    with_start_date=st.booleans(),
)
def test_moments_in_the_zone_of_the_trigger_agree_with_the_same_in_utc(
    change, seconds_from_midnight, microsecond, fold, hour, minute, second, with_start_date
):
    # a moment in the trigger's zone takes a shortcut to its local reading; in UTC it doesn't
    zone_name, day_of_change = change
    zone = ZoneInfo(zone_name)
    moment = (day_of_change + timedelta(seconds=seconds_from_midnight)).replace(
        microsecond=microsecond, tzinfo=zone, fold=fold
    )
    start_date = day_of_change.replace(tzinfo=zone) if with_start_date else None
    trigger = CronTrigger(
        hour=hour, minute=minute, second=second, start_date=start_date, timezone=zone
    )
    for previous in (None, moment):
        in_zone = trigger.get_next_fire_time(previous, moment)
        previous_utc = None if previous is None else previous.astimezone(UTC)
        in_utc = trigger.get_next_fire_time(previous_utc, moment.astimezone(UTC))
        assert same_object_state(in_zone) == same_object_state(in_utc)
