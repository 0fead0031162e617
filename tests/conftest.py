"""Fixtures shared by the whole test suite: time, time zones and the real servers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

# Session-scoped fixtures for Redis, PostgreSQL, MongoDB, ZooKeeper and etcd.
pytest_plugins = ["tests.services"]


class FakeClock:
    """
    A clock that only moves when the test moves it.

    It has the same ``now(tz)`` and ``monotonic()`` methods as
    :class:`apscheduler.clock.SystemClock`, so a scheduler built with ``clock=FakeClock(...)``
    sees exactly the time the test chose.
    """

    def __init__(self, start: datetime, monotonic_start: float = 1000.0) -> None:
        self._now = self._check_aware(start)
        self._monotonic = monotonic_start

    @staticmethod
    def _check_aware(value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"FakeClock needs an aware datetime, got {value!r}")

        return value.astimezone(dt_timezone.utc)

    def now(self, tz: tzinfo) -> datetime:
        return self._now.astimezone(tz)

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, **delta: float) -> None:
        """Let time pass: ``advance(seconds=30)`` moves both the wall and the monotonic clock."""
        step = timedelta(**delta)
        if step < timedelta(0):
            raise ValueError(f"time only moves forward; use set() to turn the clock back: {step}")

        self._now += step
        self._monotonic += step.total_seconds()

    def set(self, moment: datetime) -> None:
        """
        Change the wall clock to ``moment``, as an administrator or NTP would.

        The monotonic clock stays where it is, just as on a real machine.
        """
        self._now = self._check_aware(moment)

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock standing at 2026-03-01 12:00 UTC until the test moves it."""
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=dt_timezone.utc))


@pytest.fixture
def timezone() -> ZoneInfo:
    """A zone with daylight saving time, so tests meet DST transitions."""
    return ZoneInfo("Europe/Berlin")
