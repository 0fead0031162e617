"""datetime_to_utc_timestamp() gives the very float the calendar.timegm() way gave."""

from __future__ import annotations

from calendar import timegm
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from apscheduler.util import datetime_to_utc_timestamp

ZONES = [
    timezone.utc,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # half-hour DST shifts
    ZoneInfo("Pacific/Chatham"),
    ZoneInfo("Asia/Kolkata"),
    timezone(timedelta(hours=-11, minutes=-30)),
    # offsets in seconds and microseconds, which datetime allows
    timezone(timedelta(hours=5, seconds=17, microseconds=999_999)),
    timezone(timedelta(hours=-3, microseconds=1)),
]


def by_time_tuple(value: datetime) -> float:
    return timegm(value.utctimetuple()) + value.microsecond / 1_000_000


@settings(max_examples=3000, deadline=None)
@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    st.sampled_from(ZONES),
    st.sampled_from([0, 1]),
)
def test_aware_datetimes_give_the_time_tuple_float(naive, zone, fold):
    value = naive.replace(tzinfo=zone, fold=fold)

    assert datetime_to_utc_timestamp(value) == by_time_tuple(value)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23)))
def test_naive_datetimes_and_the_extreme_years_give_the_time_tuple_float(naive):
    assert datetime_to_utc_timestamp(naive) == by_time_tuple(naive)
    utc = naive.replace(tzinfo=timezone.utc)
    assert datetime_to_utc_timestamp(utc) == by_time_tuple(utc)


def test_the_repeated_hour_of_a_dst_change_gives_both_instants():
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=berlin)
    second = first.replace(fold=1)

    assert datetime_to_utc_timestamp(second) - datetime_to_utc_timestamp(first) == 3600
    assert datetime_to_utc_timestamp(second) == second.timestamp()
