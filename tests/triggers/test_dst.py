"""
Every trigger across clock changes: spring-forward gaps, fall-back folds, a 30-minute shift
(Lord Howe Island) and a skipped day (Samoa, 2011-12-30).

Wall-clock triggers (cron with a fixed hour, calendar interval) fire a time in a gap at the
first instant after the jump, and a repeated time at its first occurrence only. A cron trigger
whose hour is a wildcard fires whenever the wall clock shows a matching time: in both passes of
a repeated hour, never in a gap. Interval triggers keep elapsed time. (test_dst_transitions.py
checks cron against a minute-by-minute reference over many years of clock changes.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

UTC = timezone.utc


@dataclass(frozen=True)
class Change:
    """A clock change: on ``day``, local times from ``start`` to ``end`` are odd."""

    zone: str
    day: date
    start: time  # first wall-clock reading skipped (gap) or lived twice (fold)
    end: time  # first reading after the odd stretch

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def wall(self, moment: time, days: int = 0) -> datetime:
        return datetime.combine(self.day + timedelta(days=days), moment, tzinfo=self.tz)

    @property
    def inside(self) -> time:
        """A reading a quarter of an hour into the odd stretch."""
        return (datetime.combine(self.day, self.start) + timedelta(minutes=15)).time()


GAPS = [
    Change("Europe/Berlin", date(2024, 3, 31), time(2), time(3)),
    Change("America/New_York", date(2024, 3, 10), time(2), time(3)),
    Change("Australia/Lord_Howe", date(2024, 10, 6), time(2), time(2, 30)),
    Change("Pacific/Apia", date(2011, 9, 24), time(3), time(4)),
]
FOLDS = [
    Change("Europe/Berlin", date(2024, 10, 27), time(2), time(3)),
    Change("America/New_York", date(2024, 11, 3), time(1), time(2)),
    Change("Australia/Lord_Howe", date(2024, 4, 7), time(1, 30), time(2)),
    Change("Pacific/Apia", date(2011, 4, 2), time(3), time(4)),
]
GAP_IDS = [f"{change.zone}-{change.day}" for change in GAPS]
FOLD_IDS = [f"{change.zone}-{change.day}" for change in FOLDS]


def daily_triggers(change: Change, moment: time) -> list:
    """A cron and a calendar interval trigger that both fire daily at ``moment``."""
    return [
        CronTrigger(hour=moment.hour, minute=moment.minute, timezone=change.tz),
        CalendarIntervalTrigger(
            days=1,
            hour=moment.hour,
            minute=moment.minute,
            start_date=change.day - timedelta(days=3),
            timezone=change.tz,
        ),
    ]


def elapsed(earlier: datetime, later: datetime) -> timedelta:
    """Real time between two instants (plain subtraction in one zone compares wall clocks)."""
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def intervals(fire_times: list[datetime]) -> set[timedelta]:
    """The real times between consecutive fire times."""
    return {elapsed(earlier, later) for earlier, later in pairwise(fire_times)}


def readings(fire_times: list[datetime]) -> list[str]:
    return [ft.strftime("%m-%d %H:%M %z") for ft in fire_times]


@pytest.mark.parametrize("change", GAPS, ids=GAP_IDS)
@pytest.mark.parametrize("kind", [0, 1], ids=["cron", "calendarinterval"])
def test_daily_time_in_gap_fires_once_right_after_the_jump(change, kind, walk):
    trigger = daily_triggers(change, change.inside)[kind]

    fire_times = walk(trigger, change.wall(time(0), days=-1), count=3)

    assert fire_times == [
        change.wall(change.inside, days=-1),
        change.wall(change.end),
        change.wall(change.inside, days=1),
    ]
    # the gap-day fire time is the very instant the clocks jumped
    jump = fire_times[1]
    assert (jump - timedelta(microseconds=1)).utcoffset() != jump.utcoffset()


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
@pytest.mark.parametrize("kind", [0, 1], ids=["cron", "calendarinterval"])
def test_daily_time_in_fold_fires_once_at_its_first_occurrence(change, kind, walk):
    trigger = daily_triggers(change, change.inside)[kind]

    fire_times = walk(trigger, change.wall(time(0), days=-1), count=3)

    assert [ft.replace(tzinfo=None) for ft in fire_times] == [
        datetime.combine(change.day + timedelta(days=offset), change.inside)
        for offset in (-1, 0, 1)
    ]
    fold_day_fire = fire_times[1]
    assert fold_day_fire.fold == 0
    # the first occurrence carries the offset from before the change (the larger one)
    assert fold_day_fire.utcoffset() > fold_day_fire.replace(fold=1).utcoffset()


@pytest.mark.parametrize("change", GAPS, ids=GAP_IDS)
def test_cron_asked_exactly_at_the_jump_fires_the_skipped_readings_then(change):
    jump = change.wall(change.end)
    trigger = CronTrigger(hour=change.inside.hour, minute=change.inside.minute, timezone=change.tz)

    assert trigger.get_next_fire_time(None, jump) == jump
    assert trigger.get_next_fire_time(None, jump + timedelta(seconds=1)) == change.wall(
        change.inside, days=1
    )


@pytest.mark.parametrize("change", GAPS, ids=GAP_IDS)
def test_fixed_hour_cron_collapses_the_gap_into_one_fire_time_at_the_jump(change, walk):
    trigger = CronTrigger(hour=change.start.hour, minute="*/15", timezone=change.tz)

    fire_times = walk(trigger, change.wall(time(0)), count=2)

    jump = change.wall(change.end)
    if change.end.hour == change.start.hour:  # Lord Howe: 02:00-02:30 skipped, 02:45 is left
        after = jump + timedelta(minutes=15)
    else:
        after = change.wall(time(change.start.hour), days=1)
    assert fire_times == [jump, after]


@pytest.mark.parametrize("change", GAPS, ids=GAP_IDS)
def test_hourly_cron_never_fires_in_a_gap_nor_at_the_jump(change, walk):
    minute = change.inside.minute
    trigger = CronTrigger(minute=minute, timezone=change.tz)
    hour_before = datetime.combine(change.day, change.start) - timedelta(hours=1)

    fire_times = walk(trigger, hour_before.replace(tzinfo=change.tz), count=2)

    after = datetime.combine(change.day, change.end).replace(minute=minute)
    if after.time() < change.end:
        after += timedelta(hours=1)
    assert [ft.replace(tzinfo=None) for ft in fire_times] == [
        hour_before.replace(minute=minute),
        after,
    ]


@pytest.mark.parametrize("change", GAPS + FOLDS, ids=GAP_IDS + FOLD_IDS)
def test_every_minute_cron_fires_once_every_real_minute_across_a_change(change, walk):
    """With the hour a wildcard, the wall clock rules: both passes of a fold, and no gap."""
    trigger = CronTrigger(minute="*", timezone=change.tz)
    first = change.wall(change.start) - timedelta(minutes=5)

    fire_times = walk(trigger, first, count=200)

    assert len(fire_times) == 200
    assert intervals(fire_times) == {timedelta(minutes=1)}
    assert all(ft.tzinfo is change.tz and ft.second == 0 for ft in fire_times)
    second_pass = [ft for ft in fire_times if ft.fold]
    if change in FOLDS:
        # every reading of the repeated stretch, a second time
        stretch = datetime.combine(change.day, change.end) - datetime.combine(
            change.day, change.start
        )
        assert len(second_pass) == stretch // timedelta(minutes=1)
        assert second_pass[0].replace(tzinfo=None, fold=0) == datetime.combine(
            change.day, change.start
        )
    else:
        assert second_pass == []


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_fixed_hour_every_minute_cron_fires_each_reading_once_across_a_fold(change, walk):
    trigger = CronTrigger(hour=change.start.hour, minute="*", timezone=change.tz)
    first_pass_minutes = 60 - change.start.minute

    fire_times = walk(trigger, change.wall(change.start), count=first_pass_minutes + 1)

    assert [ft.replace(tzinfo=None) for ft in fire_times[:-1]] == [
        datetime.combine(change.day, change.start) + timedelta(minutes=n)
        for n in range(first_pass_minutes)
    ]
    assert all(ft.fold == 0 for ft in fire_times)
    # the second pass is waited out: the next run is the next day's
    assert fire_times[-1] == change.wall(time(change.start.hour), days=1)


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_cron_started_in_the_second_pass_fires_in_it(change):
    trigger = CronTrigger(minute="*/10", timezone=change.tz)
    second_pass = change.wall(change.inside).replace(fold=1)

    fire_time = trigger.get_next_fire_time(None, second_pass)

    assert fire_time.replace(tzinfo=None) == datetime.combine(change.day, change.inside).replace(
        minute=change.inside.minute // 10 * 10 + 10
    )
    assert fire_time.fold == 1
    assert elapsed(second_pass, fire_time) == timedelta(minutes=5)


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_fixed_hour_cron_started_in_the_second_pass_waits_for_the_fold_to_end(change):
    trigger = CronTrigger(hour=change.start.hour, minute="*/10", timezone=change.tz)
    second_pass = change.wall(change.inside).replace(fold=1)

    fire_time = trigger.get_next_fire_time(None, second_pass)

    assert fire_time == change.wall(time(change.start.hour), days=1)


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
@pytest.mark.parametrize("hour", ["*", "fixed"])
def test_cron_start_date_in_the_second_pass_is_honoured(change, hour):
    second_pass = change.wall(change.inside).replace(fold=1)
    hour = change.start.hour if hour == "fixed" else hour
    trigger = CronTrigger(hour=hour, minute="*", start_date=second_pass, timezone=change.tz)

    fire_time = trigger.get_next_fire_time(None, second_pass - timedelta(days=1))

    assert fire_time.astimezone(UTC) >= second_pass.astimezone(UTC)
    if hour == "*":
        assert fire_time.astimezone(UTC) == second_pass.astimezone(UTC)
        assert fire_time.fold == 1
    else:
        assert fire_time == change.wall(time(change.start.hour), days=1)


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_cron_end_date_in_the_second_pass_compares_instants_not_readings(change):
    """
    An end date early in the second pass still lets later first-pass readings fire: they
    happen before it, although their wall-clock reading is larger.
    """
    end_date = change.wall(change.start).replace(fold=1)
    trigger = CronTrigger(minute="*", end_date=end_date, timezone=change.tz)
    previous = change.wall(change.inside)

    fire_time = trigger.get_next_fire_time(previous, previous)

    assert fire_time == previous + timedelta(minutes=1)
    assert fire_time.fold == 0


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_cron_end_date_in_the_second_pass_ends_the_second_pass_there(change, walk):
    end_date = change.wall(change.inside).replace(fold=1)
    trigger = CronTrigger(minute="*/5", end_date=end_date, timezone=change.tz)

    fire_times = walk(trigger, change.wall(change.start), count=100)

    assert fire_times[-1].astimezone(UTC) == end_date.astimezone(UTC)
    assert [ft.fold for ft in fire_times].count(1) == 4  # :00, :05, :10 and :15 again


@pytest.mark.parametrize("change", GAPS + FOLDS, ids=GAP_IDS + FOLD_IDS)
def test_interval_keeps_elapsed_time(change, walk):
    start = change.wall(time(0))
    trigger = IntervalTrigger(minutes=20, start_date=start)

    fire_times = walk(trigger, start, count=18)

    assert {
        elapsed(earlier, later) for earlier, later in zip(fire_times, fire_times[1:], strict=False)
    } == {timedelta(minutes=20)}
    assert len({ft.utcoffset() for ft in fire_times}) == 2  # the change was crossed


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_interval_fires_in_both_passes_of_a_fold(change, walk):
    trigger = IntervalTrigger(minutes=15, start_date=change.wall(time(0)))

    fire_times = walk(trigger, change.wall(time(0)), count=40)

    second_pass = [ft for ft in fire_times if ft.fold == 1]
    assert second_pass  # elapsed time goes on while the wall clock repeats


def test_half_hourly_cron_on_lord_howe_fall_back_fires_every_half_hour(lord_howe, walk):
    trigger = CronTrigger(minute="0,30", timezone=lord_howe)

    fire_times = walk(trigger, datetime(2024, 4, 7, 0, 30, tzinfo=lord_howe), count=6)

    assert readings(fire_times) == [
        "04-07 00:30 +1100",
        "04-07 01:00 +1100",
        "04-07 01:30 +1100",
        "04-07 01:30 +1030",  # 02:00 +11:00 became 01:30 +10:30: the clock shows 01:30 again
        "04-07 02:00 +1030",
        "04-07 02:30 +1030",
    ]
    assert intervals(fire_times) == {timedelta(minutes=30)}


def test_half_hourly_fixed_hour_cron_on_lord_howe_fall_back_skips_the_second_pass(lord_howe, walk):
    trigger = CronTrigger(hour="0-3", minute="0,30", timezone=lord_howe)

    fire_times = walk(trigger, datetime(2024, 4, 7, 0, 30, tzinfo=lord_howe), count=5)

    assert readings(fire_times) == [
        "04-07 00:30 +1100",
        "04-07 01:00 +1100",
        "04-07 01:30 +1100",
        "04-07 02:00 +1030",  # an hour after 01:30 +11:00: the repeated 01:30 does not fire
        "04-07 02:30 +1030",
    ]


def test_half_hourly_cron_in_new_york_fires_in_both_passes_of_the_repeated_hour(new_york, walk):
    """The example of APScheduler 3.11, which fires the same."""
    trigger = CronTrigger(minute="*/30", timezone=new_york)

    fire_times = walk(trigger, datetime(2024, 11, 3, 1, tzinfo=new_york), count=5)

    assert readings(fire_times) == [
        "11-03 01:00 -0400",
        "11-03 01:30 -0400",
        "11-03 01:00 -0500",
        "11-03 01:30 -0500",
        "11-03 02:00 -0500",
    ]
    assert [ft.fold for ft in fire_times] == [0, 0, 1, 1, 0]


def test_hourly_cron_in_new_york_runs_every_hour_through_the_fall_back_night(new_york, walk):
    trigger = CronTrigger(minute=15, timezone=new_york)

    fire_times = walk(trigger, datetime(2024, 11, 2, 22, tzinfo=new_york), count=8)

    assert intervals(fire_times) == {timedelta(hours=1)}
    assert readings(fire_times)[3:5] == ["11-03 01:15 -0400", "11-03 01:15 -0500"]


def test_hourly_cron_in_berlin_skips_the_hour_the_clocks_jump_over(berlin, walk):
    trigger = CronTrigger(minute=30, timezone=berlin)

    fire_times = walk(trigger, datetime(2024, 3, 31, 1, tzinfo=berlin), count=2)

    assert readings(fire_times) == ["03-31 01:30 +0100", "03-31 03:30 +0200"]


@pytest.mark.parametrize(
    "previous",
    [
        pytest.param(datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/New_York")), id="1st"),
        pytest.param(
            datetime(2024, 11, 3, 1, 0, fold=1, tzinfo=ZoneInfo("America/New_York")), id="2nd"
        ),
        pytest.param(datetime(2024, 11, 3, 6, 0, tzinfo=UTC), id="2nd-as-utc"),
    ],
)
def test_next_fire_time_after_a_previous_one_in_the_repeated_hour(new_york, previous):
    """The previous fire time counts as an instant, whichever pass of the fold it is in."""
    trigger = CronTrigger(minute="*/30", timezone=new_york)

    fire_time = trigger.get_next_fire_time(previous, previous)

    assert elapsed(previous, fire_time) == timedelta(minutes=30)
    assert fire_time.tzinfo is new_york


@pytest.mark.parametrize(
    "hour, expected",
    [
        pytest.param("*", ["01:00 -0400", "01:00 -0500", "02:00 -0500"], id="wildcard"),
        pytest.param("*/1", ["01:00 -0400", "01:00 -0500", "02:00 -0500"], id="star-slash-1"),
        pytest.param("0-23", ["01:00 -0400", "02:00 -0500", "03:00 -0500"], id="all-listed"),
        pytest.param("*/2,1,3", ["01:00 -0400", "02:00 -0500", "03:00 -0500"], id="list"),
    ],
)
def test_only_a_star_makes_the_hour_a_wildcard(new_york, walk, hour, expected):
    """``0-23`` matches every hour too, but lists them: the rule of fixed hours applies."""
    trigger = CronTrigger(hour=hour, minute=0, timezone=new_york)

    fire_times = walk(trigger, datetime(2024, 11, 3, 1, tzinfo=new_york), count=3)

    assert [ft.strftime("%H:%M %z") for ft in fire_times] == expected


def test_apia_skipped_day_fires_once_at_the_start_of_the_next_day(apia, walk):
    trigger = CronTrigger(hour=10, timezone=apia)

    fire_times = walk(trigger, datetime(2011, 12, 29, tzinfo=apia), count=3)

    assert readings(fire_times) == [
        "12-29 10:00 -1000",
        "12-31 00:00 +1400",  # the 30th never happened
        "12-31 10:00 +1400",
    ]


def test_apia_weekly_friday_job_runs_when_the_friday_is_skipped(apia, walk):
    trigger = CronTrigger(day_of_week="fri", hour=9, timezone=apia)

    fire_times = walk(trigger, datetime(2011, 12, 20, tzinfo=apia), count=3)

    assert readings(fire_times) == [
        "12-23 09:00 -1000",
        "12-31 00:00 +1400",
        "01-06 09:00 +1400",
    ]


def test_apia_calendar_interval_over_the_skipped_day(apia, walk):
    trigger = CalendarIntervalTrigger(days=1, hour=10, start_date="2011-12-28", timezone=apia)

    fire_times = walk(trigger, datetime(2011, 12, 1, tzinfo=apia), count=4)

    assert readings(fire_times) == [
        "12-28 10:00 -1000",
        "12-29 10:00 -1000",
        "12-31 00:00 +1400",
        "12-31 10:00 +1400",
    ]


def test_apia_every_half_hour_collapses_the_skipped_day(apia, walk):
    trigger = CronTrigger(minute="*/30", timezone=apia)

    fire_times = walk(trigger, datetime(2011, 12, 29, 23, tzinfo=apia), count=4)

    assert readings(fire_times) == [
        "12-29 23:00 -1000",
        "12-29 23:30 -1000",
        "12-31 00:00 +1400",
        "12-31 00:30 +1400",
    ]


def test_apia_interval_counts_real_hours(apia, walk):
    trigger = IntervalTrigger(hours=12, start_date=datetime(2011, 12, 29, 6, tzinfo=apia))

    fire_times = walk(trigger, datetime(2011, 12, 29, tzinfo=apia), count=3)

    assert readings(fire_times) == [
        "12-29 06:00 -1000",
        "12-29 18:00 -1000",
        "12-31 06:00 +1400",
    ]


def test_combined_triggers_across_a_gap(berlin, walk):
    """And/or see the same adjusted fire times as their cron members."""
    change = GAPS[0]
    daily = CronTrigger(hour=2, minute=30, timezone=berlin)
    sundays = CronTrigger(day_of_week="sun", timezone=berlin, hour="*", minute="*/30")
    now = change.wall(time(0), days=-1)

    and_times = walk(AndTrigger([daily, sundays]), now, count=2)
    or_times = walk(OrTrigger([daily, CronTrigger(hour=3, timezone=berlin)]), now, count=4)

    assert readings(and_times) == ["03-31 03:00 +0200", "04-07 02:30 +0200"]
    assert readings(or_times) == [
        "03-30 02:30 +0100",
        "03-30 03:00 +0100",
        "03-31 03:00 +0200",  # 02:30 moved onto 03:00: one fire time for both
        "04-01 02:30 +0200",
    ]


def test_combined_triggers_order_the_two_passes_of_a_fold_by_real_time(new_york, walk):
    """A reading of the second pass is later than a larger reading of the first."""
    half_hourly = CronTrigger(minute="*/30", timezone=new_york)
    now = datetime(2024, 11, 3, 0, 50, tzinfo=new_york)

    or_times = walk(
        OrTrigger([half_hourly, CronTrigger(hour=1, minute=45, timezone=new_york)]), now, count=6
    )
    and_times = walk(
        AndTrigger([half_hourly, CronTrigger(minute="*/15", timezone=new_york)]), now, count=5
    )

    assert readings(or_times) == [
        "11-03 01:00 -0400",
        "11-03 01:30 -0400",
        "11-03 01:45 -0400",
        "11-03 01:00 -0500",
        "11-03 01:30 -0500",
        "11-03 02:00 -0500",
    ]
    assert readings(and_times) == readings(walk(half_hourly, now, count=5))
    assert [ft.fold for ft in and_times] == [0, 0, 1, 1, 0]
