"""
Every trigger across clock changes: spring-forward gaps, fall-back folds, a 30-minute shift
(Lord Howe Island) and a skipped day (Samoa, 2011-12-30).

Wall-clock triggers (cron, calendar interval) fire a time in a gap at the first instant after
the jump, and a repeated time at its first occurrence only; interval triggers keep elapsed
time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
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
def test_quarter_hourly_cron_collapses_the_gap_into_one_fire_time(change, walk):
    trigger = CronTrigger(minute="*/15", timezone=change.tz)
    before = datetime.combine(change.day, change.start) - timedelta(minutes=30)

    fire_times = walk(trigger, before.replace(tzinfo=change.tz), count=4)

    expected_walls = [
        before,
        before + timedelta(minutes=15),
        datetime.combine(change.day, change.end),
        datetime.combine(change.day, change.end) + timedelta(minutes=15),
    ]
    assert [ft.replace(tzinfo=None) for ft in fire_times] == expected_walls
    assert elapsed(fire_times[1], fire_times[2]) == timedelta(minutes=15)


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_every_minute_cron_fires_each_reading_once_across_a_fold(change, walk):
    trigger = CronTrigger(minute="*", timezone=change.tz)
    first_wall = datetime.combine(change.day, change.start) - timedelta(minutes=5)
    last_wall = datetime.combine(change.day, change.end) + timedelta(minutes=5)

    fire_times = walk(
        trigger,
        first_wall.replace(tzinfo=change.tz),
        count=1000,
        until=last_wall.replace(tzinfo=change.tz, fold=1),
    )

    walls = [ft.replace(tzinfo=None) for ft in fire_times]
    minutes = int((last_wall - first_wall) / timedelta(minutes=1)) + 1
    assert walls == [first_wall + timedelta(minutes=n) for n in range(minutes)]
    assert all(ft.fold == 0 for ft in fire_times)
    # after the last first-pass reading, the job waits out the whole second pass
    end_index = walls.index(datetime.combine(change.day, change.end))
    fold_length = fire_times[end_index - 1].utcoffset() - fire_times[end_index].utcoffset()
    assert elapsed(fire_times[end_index - 1], fire_times[end_index]) == (
        timedelta(minutes=1) + fold_length
    )


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_cron_started_in_the_second_pass_waits_for_the_fold_to_end(change):
    trigger = CronTrigger(minute="*/10", timezone=change.tz)
    second_pass = change.wall(change.inside).replace(fold=1)

    fire_time = trigger.get_next_fire_time(None, second_pass)

    assert fire_time == change.wall(change.end).replace(fold=0)
    assert fire_time > second_pass


@pytest.mark.parametrize("change", FOLDS, ids=FOLD_IDS)
def test_cron_start_date_in_the_second_pass_is_honoured(change):
    second_pass = change.wall(change.inside).replace(fold=1)
    trigger = CronTrigger(minute="*", start_date=second_pass, timezone=change.tz)

    fire_time = trigger.get_next_fire_time(None, second_pass - timedelta(days=1))

    assert fire_time.astimezone(UTC) >= second_pass.astimezone(UTC)
    assert fire_time.replace(tzinfo=None) == datetime.combine(change.day, change.end)


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


def test_hourly_cron_on_lord_howe_fall_back_keeps_every_half_hour_reading_once(lord_howe, walk):
    trigger = CronTrigger(minute="0,30", timezone=lord_howe)

    fire_times = walk(trigger, datetime(2024, 4, 7, 0, 30, tzinfo=lord_howe), count=6)

    assert readings(fire_times) == [
        "04-07 00:30 +1100",
        "04-07 01:00 +1100",
        "04-07 01:30 +1100",
        # 02:00 +11:00 became 01:30 +10:30; the repeated 01:30 is not fired again
        "04-07 02:00 +1030",
        "04-07 02:30 +1030",
        "04-07 03:00 +1030",
    ]


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
