"""Restoring an interval trigger from its pickled state: the plain path and the general one."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apscheduler.triggers.interval import IntervalTrigger

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 28, 12, 30, tzinfo=BERLIN)


def restored(trigger: IntervalTrigger) -> IntervalTrigger:
    copy = IntervalTrigger.__new__(IntervalTrigger)
    copy.__setstate__(pickle.loads(pickle.dumps(trigger.__getstate__())))
    return copy


@pytest.mark.parametrize(
    "options",
    [
        {"hours": 1},  # the plain path: no end date, no jitter, a zoneinfo zone
        {"hours": 1, "end_date": datetime(2026, 4, 2, tzinfo=BERLIN)},
        {"hours": 1, "jitter": 5},
        {"minutes": 90, "start_date": START.astimezone(timezone.utc)},
        {"seconds": 2.5, "timezone": timezone.utc},
    ],
    ids=["plain", "end date", "jitter", "start in UTC", "fixed zone"],
)
def test_a_restored_trigger_has_the_state_and_fire_times_of_the_original(options):
    kwargs = {"start_date": START, "timezone": BERLIN, **options}
    trigger = IntervalTrigger(**kwargs)
    copy = restored(trigger)

    assert copy.__getstate__() == trigger.__getstate__()
    assert repr(copy) == repr(trigger)
    if trigger.jitter:
        return  # its fire times are random
    previous = None
    now = START - timedelta(minutes=1)
    for _ in range(40):  # across the DST change of 29 March
        expected = trigger.get_next_fire_time(previous, now)
        assert copy.get_next_fire_time(previous, now) == expected
        if expected is None:
            break
        previous = now = expected


def test_restored_triggers_of_one_period_and_zone_keep_their_own_start_dates():
    first = restored(IntervalTrigger(hours=1, start_date=START, timezone=BERLIN))
    later = START + timedelta(minutes=7)
    second = restored(IntervalTrigger(hours=1, start_date=later, timezone=BERLIN))

    assert first.start_date == START
    assert second.start_date == later
    assert second.get_next_fire_time(None, later) == later


def test_state_of_a_newer_version_is_refused_with_the_3x_message():
    state = IntervalTrigger(hours=1, start_date=START, timezone=BERLIN).__getstate__()
    state["version"] = 3
    with pytest.raises(
        ValueError, match="version 3 of IntervalTrigger, but only versions up to 2"
    ):
        IntervalTrigger.__new__(IntervalTrigger).__setstate__(state)
