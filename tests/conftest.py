"""Fixtures shared by the whole test suite: time, time zones and the real servers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest

from apscheduler import testing

# Session-scoped fixtures for Redis, PostgreSQL, MongoDB, ZooKeeper and etcd.
pytest_plugins = ["tests.services"]


class FakeClock(testing.FakeClock):
    """
    The public :class:`apscheduler.testing.FakeClock`, whose ``advance()`` also takes the
    keywords of :class:`~datetime.timedelta` (``advance(minutes=1, seconds=6)``), as the tests
    here write it.
    """

    def advance(self, delta: float | timedelta | None = None, /, **parts: float) -> None:
        if delta is None:
            delta = timedelta(**parts)
        elif parts:
            raise TypeError("give the step either as one argument or as timedelta keywords")

        super().advance(delta)


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock standing at 2026-03-01 12:00 UTC until the test moves it."""
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=dt_timezone.utc))


@pytest.fixture
def timezone() -> ZoneInfo:
    """A zone with daylight saving time, so tests meet DST transitions."""
    return ZoneInfo("Europe/Berlin")
