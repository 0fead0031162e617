"""Fixtures for the trigger tests: the zones with interesting clock changes, and a walker."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from apscheduler.triggers.base import BaseTrigger

Walk = Callable[..., list[datetime]]


# Zones the property tests walk through: fixed offsets (UTC, a half-hour one), one-hour changes
# both ways of the year, a half-hour change, a skipped day and "negative" daylight saving time.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Europe/Dublin",  # "negative" daylight saving time in the zone database
    "America/Sao_Paulo",
    "Asia/Kolkata",
]

# Days with clock changes, with the zone they happen in: forward and back, by an hour, half an
# hour (Lord Howe) and a whole day (Samoa skipped 2011-12-30), and Dublin's negative DST.
CHANGE_DAYS = [
    ("Europe/Berlin", datetime(2024, 3, 31)),
    ("Europe/Berlin", datetime(2024, 10, 27)),
    ("America/New_York", datetime(2024, 3, 10)),
    ("America/New_York", datetime(2024, 11, 3)),
    ("Australia/Lord_Howe", datetime(2024, 4, 7)),
    ("Australia/Lord_Howe", datetime(2024, 10, 6)),
    ("Pacific/Apia", datetime(2011, 4, 2)),
    ("Pacific/Apia", datetime(2011, 9, 24)),
    ("Pacific/Apia", datetime(2011, 12, 29)),
    ("Pacific/Apia", datetime(2011, 12, 30)),
    ("Europe/Dublin", datetime(2024, 10, 27)),
    ("America/Sao_Paulo", datetime(2018, 11, 4)),
]


@pytest.fixture
def berlin() -> ZoneInfo:
    """Central Europe: one-hour changes at 02:00/03:00 local time."""
    return ZoneInfo("Europe/Berlin")


@pytest.fixture
def new_york() -> ZoneInfo:
    """US Eastern: one-hour changes at 02:00 local time."""
    return ZoneInfo("America/New_York")


@pytest.fixture
def lord_howe() -> ZoneInfo:
    """Lord Howe Island: the clocks move by only 30 minutes."""
    return ZoneInfo("Australia/Lord_Howe")


@pytest.fixture
def apia() -> ZoneInfo:
    """Samoa: skipped the whole of 2011-12-30 when it moved across the date line."""
    return ZoneInfo("Pacific/Apia")


def walk_fire_times(
    trigger: BaseTrigger, now: datetime, count: int = 10, until: datetime | None = None
) -> list[datetime]:
    """
    Return consecutive fire times, as a scheduler would ask for them.

    The first is the trigger's first fire time at ``now``; each later one is asked with the
    previous one. Stops after ``count`` fire times, at the first fire time after ``until``
    (not included), or when the trigger is finished.
    """
    fire_times: list[datetime] = []
    fire_time = trigger.get_next_fire_time(None, now)
    while fire_time is not None and len(fire_times) < count:
        if until is not None and fire_time > until:
            break

        fire_times.append(fire_time)
        fire_time = trigger.get_next_fire_time(fire_time, now)

    return fire_times


@pytest.fixture
def walk() -> Walk:
    """The :func:`walk_fire_times` function, for tests that prefer a fixture."""
    return walk_fire_times


@pytest.fixture
def jitter_draw(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """
    Make jitter deterministic: ``jitter_draw(0.5)`` makes every random delay half of the
    maximum, ``jitter_draw(1)`` the full maximum.
    """

    def set_fraction(fraction: float) -> None:
        monkeypatch.setattr(random, "uniform", lambda low, high: low + (high - low) * fraction)

    return set_fraction
