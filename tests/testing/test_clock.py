"""FakeClock: a clock that moves only when the test moves it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apscheduler.testing import FakeClock

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_stands_still_until_moved():
    clock = FakeClock(START)

    assert clock.now(UTC) == START
    assert clock.now(UTC) == START
    assert clock.monotonic() == clock.monotonic()


def test_now_is_in_the_zone_asked_for():
    clock = FakeClock(START)

    now = clock.now(BERLIN)

    assert now.tzinfo is BERLIN
    assert now.isoformat() == "2026-03-01T13:00:00+01:00"
    assert clock.now().tzinfo is UTC


@pytest.mark.parametrize("step", [90, 90.0, timedelta(minutes=1, seconds=30)])
def test_advance_moves_wall_and_monotonic_clock_together(step):
    clock = FakeClock(START, monotonic_start=5.0)

    clock.advance(step)

    assert clock.now(UTC) == START + timedelta(seconds=90)
    assert clock.monotonic() == 95.0


def test_advance_does_not_go_backwards():
    clock = FakeClock(START)

    with pytest.raises(ValueError, match="set"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    assert clock.now(UTC) == START


def test_set_moves_the_wall_clock_either_way_but_not_the_monotonic_clock():
    clock = FakeClock(START)
    monotonic = clock.monotonic()

    clock.set(datetime(2026, 2, 1, 9, 0, tzinfo=BERLIN))

    assert clock.now(UTC) == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert clock.monotonic() == monotonic


def test_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 3, 1, 12, 0))

    clock = FakeClock(START)
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2026, 3, 1, 12, 0))


def test_repr_shows_the_time():
    assert repr(FakeClock(START)) == "FakeClock(2026-03-01T12:00:00+00:00)"


def test_a_scheduler_reads_its_time(make_scheduler, scheduler_clock):
    scheduler_clock.set(START)
    scheduler = make_scheduler()

    job = scheduler.add_job(print, "interval", minutes=10)

    assert job.next_run_time == START + timedelta(minutes=10)
