"""
Property tests: fire times always move forward and agree with a brute-force reference.

The examples are derandomized, so every run checks the same (large) set of cases.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tests.triggers.conftest import CHANGE_DAYS, ZONES, walk_fire_times

UTC = timezone.utc

minutes = st.sampled_from(["*", "*/5", "*/15", "0", "30", "0,30", "10-20", "45-59/7", "7"])
hours = st.sampled_from(["*", "*/2", "0-4", "1", "2", "3", "1-3", "22-23,0-1", "2,14"])
weekdays = st.sampled_from([None, "*", "sun", "mon-fri", "sat,sun", "fri"])
days = st.sampled_from([None, "*", "last", "1-7", "last sun", "2nd sat", "*/3", "30,31"])
seconds = st.sampled_from([None, "0", "*/20", "59"])
months = st.sampled_from([None, "*", "feb", "mar-apr,oct-nov", "*/5"])

instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


def matches_fields(trigger: CronTrigger, moment: datetime) -> bool:
    """Check a fire time against the fields, using their public per-field methods."""
    local = moment.astimezone(trigger.timezone)
    return all(field.get_next_value(local) == field.get_value(local) for field in trigger.fields)


def is_clock_change(moment: datetime) -> bool:
    return (moment - timedelta(microseconds=1)).utcoffset() != moment.utcoffset()


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    zone=st.sampled_from(ZONES),
    now=instants,
    minute=minutes,
    hour=hours,
    day_of_week=weekdays,
    day=days,
    second=seconds,
    month=months,
)
def test_cron_fire_times_strictly_increase_and_match(
    zone, now, minute, hour, day_of_week, day, second, month
):
    trigger = CronTrigger(
        month=month,
        day=day,
        day_of_week=day_of_week,
        hour=hour,
        minute=minute,
        second=second,
        timezone=zone,
    )

    fire_times = walk_fire_times(trigger, now, count=25)

    utc_times = [ft.astimezone(UTC) for ft in fire_times]
    assert utc_times == sorted(set(utc_times))
    assert not utc_times or utc_times[0] >= now
    for fire_time in fire_times:
        assert fire_time.tzinfo is trigger.timezone
        if hour == "*":  # a wildcard hour follows the wall clock: no fire time at a jump
            assert matches_fields(trigger, fire_time)
        else:  # a repeated reading fires at its first occurrence only
            assert fire_time.fold == 0
            assert matches_fields(trigger, fire_time) or is_clock_change(fire_time)


def reference_fire_times(zone: ZoneInfo, fields: dict, start: datetime, end: datetime) -> list:
    """
    Brute force: walk the instants minute by minute. With a wildcard hour, fire whenever the
    local clock shows a matching reading; otherwise, whenever it first reaches, or jumps past,
    a matching reading.
    """
    every_hour = fields.get("hour") == "*"
    reference = CronTrigger(timezone=zone, **fields)
    known: dict[tuple[int, int, int], bool] = {}

    def matches(wall: datetime) -> bool:
        # the fields in play depend on the weekday, hour and minute only
        key = (wall.weekday(), wall.hour, wall.minute)
        if key not in known:
            known[key] = matches_fields(reference, wall.replace(tzinfo=zone))

        return known[key]

    expected = []
    seen: set[datetime] = set()
    previous_wall: datetime | None = None
    moment = start
    while moment <= end:
        wall = moment.astimezone(zone).replace(tzinfo=None, fold=0)
        fire = (every_hour or wall not in seen) and matches(wall)
        if (
            not every_hour
            and previous_wall is not None
            and wall - previous_wall > timedelta(minutes=1)
        ):
            skipped = previous_wall + timedelta(minutes=1)
            while skipped < wall and not fire:
                fire = matches(skipped)
                skipped += timedelta(minutes=1)

        if fire:
            expected.append(moment)

        seen.add(wall)
        previous_wall = wall if previous_wall is None else max(previous_wall, wall)
        moment += timedelta(minutes=1)

    return expected


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    change=st.sampled_from(CHANGE_DAYS),
    minute=minutes,
    hour=hours,
    day_of_week=weekdays,
    probes=st.lists(st.integers(0, 30 * 60), max_size=5),
)
def test_cron_agrees_with_brute_force_around_clock_changes(
    change, minute, hour, day_of_week, probes
):
    zone_name, day = change
    zone = ZoneInfo(zone_name)
    start = (day - timedelta(hours=3)).replace(tzinfo=zone).astimezone(UTC)
    end = start + timedelta(hours=30)
    fields = {"minute": minute, "hour": hour, "day_of_week": day_of_week}
    trigger = CronTrigger(timezone=zone, **fields)

    fire_times = walk_fire_times(trigger, start, count=10_000, until=end)

    expected = reference_fire_times(zone, fields, start, end)
    assert [ft.astimezone(UTC) for ft in fire_times] == expected

    # asked at any minute (including the very instant of a jump), the trigger answers with
    # the first reference fire time from then on
    for probe in (start + timedelta(minutes=offset) for offset in probes):
        upcoming = [moment for moment in expected if moment >= probe]
        if upcoming:
            # (compared in UTC: == across zones is always false for a reading in a fold)
            assert trigger.get_next_fire_time(None, probe).astimezone(UTC) == upcoming[0]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    zone=st.sampled_from(ZONES),
    now=instants,
    years=st.integers(0, 2),
    months=st.integers(0, 13),
    weeks=st.integers(0, 3),
    days=st.integers(0, 9),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 59]),
    start_offset=st.integers(-4000, 400),
)
def test_calendar_interval_fire_times_strictly_increase(
    zone, now, years, months, weeks, days, hour, minute, start_offset
):
    if not (years or months or weeks or days):
        days = 1

    start_date = (now + timedelta(days=start_offset)).date()
    trigger = CalendarIntervalTrigger(
        years=years,
        months=months,
        weeks=weeks,
        days=days,
        hour=hour,
        minute=minute,
        start_date=start_date,
        timezone=zone,
    )

    fire_times = walk_fire_times(trigger, now, count=12)

    utc_times = [ft.astimezone(UTC) for ft in fire_times]
    assert utc_times == sorted(set(utc_times))
    assert not utc_times or utc_times[0] >= now
    day_step, month_step = weeks * 7 + days, years * 12 + months
    for fire_time in fire_times:
        assert fire_time.date() >= start_date
        if is_clock_change(fire_time):
            continue  # moved past a jump: its reading (even its date) is not the planned one

        assert (fire_time.hour, fire_time.minute) == (hour, minute)
        fire_date = fire_time.date()
        if not month_step:
            assert (fire_date - start_date).days % day_step == 0
        elif not day_step:
            month_gap = (fire_date.year - start_date.year) * 12 + fire_date.month
            assert (month_gap - start_date.month) % month_step == 0
            assert fire_date.day == start_date.day


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    zone=st.sampled_from(ZONES),
    start=instants,
    now=instants,
    seconds=st.integers(1, 10 * 86400),
)
def test_interval_fire_times_are_exactly_one_interval_apart(zone, start, now, seconds):
    trigger = IntervalTrigger(seconds=seconds, start_date=start, timezone=zone)

    fire_times = walk_fire_times(trigger, now, count=6)

    utc_times = [ft.astimezone(UTC) for ft in fire_times]
    assert utc_times[0] >= min(now, start)
    assert (utc_times[0] - start) % timedelta(seconds=seconds) == timedelta(0)
    assert all(
        later - earlier == timedelta(seconds=seconds)
        for earlier, later in zip(utc_times, utc_times[1:], strict=False)
    )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(zone=st.sampled_from(ZONES), now=instants, first=hours, second=weekdays)
def test_combined_fire_times_strictly_increase_and_satisfy_members(zone, now, first, second):
    members = [
        CronTrigger(hour=first, minute="*/30", timezone=zone),
        CronTrigger(day_of_week=second, hour="*/3", timezone=zone),
    ]

    for trigger in (AndTrigger(members), OrTrigger(members)):
        fire_times = walk_fire_times(trigger, now, count=5)

        utc_times = [ft.astimezone(UTC) for ft in fire_times]
        assert utc_times == sorted(set(utc_times))
        for fire_time in fire_times:
            agree = [member.get_next_fire_time(None, fire_time) == fire_time for member in members]
            assert all(agree) if isinstance(trigger, AndTrigger) else any(agree)
