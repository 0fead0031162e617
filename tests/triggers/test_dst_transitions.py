"""
Cron triggers over every clock change of a few zones for several years, checked against a
reference that walks real time minute by minute.

With a wildcard hour a cron trigger follows the wall clock: the reference keeps every instant
whose wall-clock reading matches, so a repeated reading fires twice and a skipped one never.
With a fixed hour a matching reading fires once: the reference keeps it the first time the
clock shows it, and keeps the instant of a jump when the clocks skip matching readings.
The zones change their clocks by one hour, by 30 minutes (Lord Howe Island), by two hours
(Troll station), at midnight (Santiago, Tehran), or skip a whole day (Samoa, 2011-12-30).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from apscheduler.triggers.cron import CronTrigger
from tests.triggers.conftest import walk_fire_times

UTC = timezone.utc
ONE_MINUTE = timedelta(minutes=1)
ZONE_YEARS = {
    "America/New_York": range(2019, 2025),
    "Europe/Berlin": range(2019, 2025),
    "Australia/Lord_Howe": range(2019, 2025),
    "America/Santiago": range(2019, 2025),
    "Asia/Tehran": range(2017, 2023),  # daylight saving time ended in 2022
    "Antarctica/Troll": range(2019, 2025),
    "Pacific/Apia": range(2010, 2013),
}


@dataclass(frozen=True)
class Change:
    """A clock change: from ``instant`` (UTC) on, the offset is ``after`` instead of ``before``."""

    zone: ZoneInfo
    instant: datetime
    before: timedelta
    after: timedelta

    @property
    def odd_readings(self) -> tuple[datetime, datetime]:
        """The naive readings from and up to which the clocks skip (gap) or repeat (fold)."""
        utc = self.instant.replace(tzinfo=None)
        low, high = sorted([utc + self.before, utc + self.after])
        return low, high

    def __str__(self) -> str:
        low, high = self.odd_readings
        kind = "gap" if self.after > self.before else "fold"
        return f"{kind} {low:%Y-%m-%d %H:%M}-{high:%H:%M}"


@cache
def clock_changes(zone_name: str) -> list[Change]:
    """Find the changes of a zone in its years: an hourly scan, then a search to the minute."""
    zone = ZoneInfo(zone_name)
    years = ZONE_YEARS[zone_name]
    moment = datetime(years[0], 1, 1, tzinfo=UTC)
    end = datetime(years[-1] + 1, 1, 1, tzinfo=UTC)
    changes = []
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        later = moment + timedelta(hours=1)
        later_offset = later.astimezone(zone).utcoffset()
        if later_offset != offset:
            low, high = moment, later  # the change happens in (low, high]
            while high - low > ONE_MINUTE:
                middle = low + (high - low) // 2 // ONE_MINUTE * ONE_MINUTE
                if middle.astimezone(zone).utcoffset() == later_offset:
                    high = middle
                else:
                    low = middle

            changes.append(Change(zone, high, offset, later_offset))

        moment, offset = later, later_offset

    return changes


@dataclass(frozen=True)
class Case:
    """Cron fields for a change, and a plain-Python test of a naive reading against them."""

    name: str
    fields: Callable[[Change], dict[str, Any]]
    matches: Callable[[datetime, Change], bool]
    every_hour: bool  # whether the hour field is a wildcard


def odd_start(change: Change) -> datetime:
    return change.odd_readings[0]


def near_odd_start(change: Change) -> datetime:
    """A reading ten minutes into the odd stretch (into the following hour for Samoa's day)."""
    return odd_start(change) + timedelta(minutes=10)


CASES = [
    Case("every-30-minutes", lambda c: {"minute": "*/30"}, lambda r, c: r.minute % 30 == 0, True),
    Case("hourly-at-15", lambda c: {"minute": 15}, lambda r, c: r.minute == 15, True),
    Case("every-minute", lambda c: {"minute": "*"}, lambda r, c: True, True),
    Case(
        "hourly-spelled-star-slash-1",
        lambda c: {"hour": "*/1", "minute": 0},
        lambda r, c: r.minute == 0,
        True,
    ),
    Case(
        "every-20-minutes-on-the-weekday-of-the-change",
        lambda c: {"day_of_week": odd_start(c).weekday(), "minute": "*/20"},
        lambda r, c: r.weekday() == odd_start(c).weekday() and r.minute % 20 == 0,
        True,
    ),
    Case(
        "fixed-hour-every-15-minutes",
        lambda c: {"hour": odd_start(c).hour, "minute": "*/15"},
        lambda r, c: r.hour == odd_start(c).hour and r.minute % 15 == 0,
        False,
    ),
    Case(
        "daily-in-the-odd-stretch",
        lambda c: {"hour": near_odd_start(c).hour, "minute": near_odd_start(c).minute},
        lambda r, c: (r.hour, r.minute) == (near_odd_start(c).hour, near_odd_start(c).minute),
        False,
    ),
    Case(
        "every-hour-listed-one-by-one",
        lambda c: {"hour": "0-23", "minute": "*/30"},
        lambda r, c: r.minute % 30 == 0,
        False,
    ),
    Case(
        "every-other-hour",
        lambda c: {"hour": "*/2", "minute": 0},
        lambda r, c: r.hour % 2 == 0 and r.minute == 0,
        False,
    ),
]


def reference_fire_times(
    change: Change, case: Case, start: datetime, end: datetime
) -> list[datetime]:
    """
    Walk every minute of real time from ``start`` to ``end`` (UTC) and keep the instants at
    which the trigger should fire, by the rule of the case's hour field.
    """
    expected = []
    seen: set[datetime] = set()
    previous: datetime | None = None
    moment = start
    while moment <= end:
        reading = moment.astimezone(change.zone).replace(tzinfo=None, fold=0)
        if case.every_hour:
            fire = case.matches(reading, change)
        else:
            fire = reading not in seen and case.matches(reading, change)
            if previous is not None:
                skipped = previous + ONE_MINUTE
                while skipped < reading and not fire:
                    fire = case.matches(skipped, change)
                    skipped += ONE_MINUTE

            seen.add(reading)
            previous = reading if previous is None else max(previous, reading)

        if fire:
            expected.append(moment)

        moment += ONE_MINUTE

    return expected


def describe(moments: list[datetime], zone: ZoneInfo) -> list[str]:
    """Readings with their offsets, marking the second occurrence of a repeated one."""
    described = []
    for moment in moments:
        local = moment.astimezone(zone)
        described.append(f"{local:%m-%d %H:%M %z}" + (" (2nd)" if local.fold else ""))

    return described


def mismatches(change: Change, case: Case) -> list[str]:
    """Compare the trigger with the reference around one change; describe every difference."""
    start = change.instant - timedelta(hours=3)
    end = change.instant + timedelta(hours=3)
    trigger = CronTrigger(timezone=change.zone, **case.fields(change))
    assert trigger._schedule.every_hour is case.every_hour
    expected = reference_fire_times(change, case, start, end)
    problems = []

    fire_times = walk_fire_times(trigger, start, count=10_000, until=end)
    walked = [fire_time.astimezone(UTC) for fire_time in fire_times]
    if walked != expected:
        problems.append(
            f"{change}: walked {describe(walked, change.zone)}, "
            f"expected {describe(expected, change.zone)}"
        )
    if any(fire_time.tzinfo is not change.zone for fire_time in fire_times):
        problems.append(f"{change}: a fire time is not in the trigger's zone")

    # the first fire time asked at any minute, and right around the change itself
    probes = [start + ONE_MINUTE * index for index in range(int((end - start) / ONE_MINUTE))]
    probes += [change.instant - timedelta(microseconds=1), change.instant + timedelta(seconds=1)]
    for probe in probes:
        upcoming = [moment for moment in expected if moment >= probe]
        if upcoming:
            answer = trigger.get_next_fire_time(None, probe).astimezone(UTC)
            if answer != upcoming[0]:
                problems.append(
                    f"{change}: asked at {describe([probe], change.zone)[0]}, answered "
                    f"{describe([answer], change.zone)[0]}, expected "
                    f"{describe([upcoming[0]], change.zone)[0]}"
                )

    # a previous fire time given in UTC has lost its fold, but not its instant
    for earlier, later in zip(expected, expected[1:], strict=False):
        answer = trigger.get_next_fire_time(earlier, earlier).astimezone(UTC)
        if answer != later:
            problems.append(
                f"{change}: after {describe([earlier], change.zone)[0]} answered "
                f"{describe([answer], change.zone)[0]}, expected "
                f"{describe([later], change.zone)[0]}"
            )

    return problems


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("zone_name", list(ZONE_YEARS))
def test_cron_agrees_with_the_reference_at_every_clock_change(zone_name, case):
    changes = clock_changes(zone_name)
    assert len(changes) >= 2 * (len(ZONE_YEARS[zone_name]) - 1)  # the scan found them

    problems = [problem for change in changes for problem in mismatches(change, case)]

    assert problems == []


def test_the_zones_cover_the_kinds_of_change():
    """Half-hour, two-hour and whole-day changes, at night and at midnight, both ways."""
    lengths = {
        abs(change.after - change.before)
        for zone_name in ZONE_YEARS
        for change in clock_changes(zone_name)
    }
    midnight_folds = [
        change
        for change in clock_changes("America/Santiago") + clock_changes("Asia/Tehran")
        if change.after < change.before and change.odd_readings[1].time() == datetime.min.time()
    ]

    assert {timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2)} <= lengths
    assert timedelta(hours=24) in lengths  # Samoa
    assert len(midnight_folds) >= 10
