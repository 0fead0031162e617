"""AndTrigger and OrTrigger."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger


def test_and_fires_when_all_triggers_agree(berlin, walk):
    trigger = AndTrigger(
        [CronTrigger(day=13, timezone=berlin), CronTrigger(day_of_week="fri", timezone=berlin)]
    )

    fire_times = walk(trigger, datetime(2024, 1, 1, tzinfo=berlin), count=3)

    assert [ft.date().isoformat() for ft in fire_times] == [
        "2024-09-13",
        "2024-12-13",
        "2025-06-13",
    ]


def test_and_of_interval_and_cron_uses_the_interval_grid(berlin, walk):
    start = datetime(2024, 5, 1, tzinfo=berlin)
    trigger = AndTrigger(
        [
            IntervalTrigger(minutes=10, start_date=start),
            CronTrigger(minute="*/15", timezone=berlin),
        ]
    )

    fire_times = walk(trigger, start, count=3)

    assert [ft.strftime("%H:%M") for ft in fire_times] == ["00:00", "00:30", "01:00"]


def test_and_is_finished_when_a_trigger_is_finished(berlin):
    trigger = AndTrigger(
        [
            CronTrigger(hour=12, end_date="2024-05-02", timezone=berlin),
            CronTrigger(day_of_week="sun", timezone=berlin),
        ]
    )

    assert trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=berlin)) is None


def test_and_with_a_date_trigger_fires_once(berlin, walk):
    moment = datetime(2024, 5, 6, 9, tzinfo=berlin)  # a Monday
    trigger = AndTrigger(
        [DateTrigger(moment), CronTrigger(day_of_week="mon", hour="9-17", timezone=berlin)]
    )

    assert walk(trigger, datetime(2024, 5, 1, tzinfo=berlin)) == [moment]


def test_and_of_triggers_that_never_agree_gives_up(berlin):
    """Disjoint sub-triggers must not make the search run forever."""
    trigger = AndTrigger(
        [
            CronTrigger(day_of_week="mon", timezone=berlin),
            CronTrigger(day_of_week="tue", timezone=berlin),
        ]
    )

    assert trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=berlin)) is None


def test_and_applies_its_jitter(berlin, jitter_draw):
    jitter_draw(1)
    trigger = AndTrigger([CronTrigger(hour=5, timezone=berlin)], jitter=10)

    fire_time = trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=berlin))

    assert fire_time == datetime(2024, 5, 1, 5, 0, 10, tzinfo=berlin)


def test_or_fires_whenever_any_trigger_fires(berlin, walk):
    trigger = OrTrigger(
        [
            CronTrigger(day_of_week="mon", hour=8, timezone=berlin),
            CronTrigger(day_of_week="wed", hour=20, timezone=berlin),
        ]
    )

    fire_times = walk(trigger, datetime(2024, 5, 1, tzinfo=berlin), count=4)

    assert [ft.strftime("%a %H") for ft in fire_times] == ["Wed 20", "Mon 08", "Wed 20", "Mon 08"]


def test_or_of_date_triggers_fires_each_of_them(berlin, walk):
    moments = [datetime(2024, 5, day, 12, tzinfo=berlin) for day in (3, 1, 2)]
    trigger = OrTrigger([DateTrigger(moment) for moment in moments])

    assert walk(trigger, datetime(2024, 4, 1, tzinfo=berlin)) == sorted(moments)


def test_or_of_intervals_keeps_each_rhythm(berlin, walk):
    start = datetime(2024, 5, 1, tzinfo=berlin)
    trigger = OrTrigger(
        [
            IntervalTrigger(minutes=10, start_date=start),
            IntervalTrigger(minutes=15, start_date=start),
        ]
    )

    fire_times = walk(trigger, start, count=7)

    assert [int((ft - start) / timedelta(minutes=1)) for ft in fire_times] == [
        0,
        10,
        15,
        20,
        30,
        40,
        45,
    ]


def test_or_is_finished_when_all_triggers_are(berlin, walk):
    trigger = OrTrigger(
        [
            CronTrigger(hour=12, end_date="2024-05-02", timezone=berlin),
            CalendarIntervalTrigger(
                days=1, start_date="2024-05-01", end_date="2024-05-01", timezone=berlin
            ),
        ]
    )

    assert len(walk(trigger, datetime(2024, 5, 1, tzinfo=berlin))) == 2


def test_str_and_repr(berlin):
    first = CronTrigger(hour=3, timezone=berlin)
    second = IntervalTrigger(hours=5, start_date="2024-05-01", timezone=berlin)

    assert str(AndTrigger([first, second])) == "and[cron[hour='3'], interval[5:00:00]]"
    assert str(OrTrigger([first, second])) == "or[cron[hour='3'], interval[5:00:00]]"
    assert repr(OrTrigger([first], jitter=3)) == (
        "<OrTrigger([<CronTrigger (hour='3', timezone='Europe/Berlin')>], jitter=3)>"
    )
    assert repr(AndTrigger([first])) == (
        "<AndTrigger([<CronTrigger (hour='3', timezone='Europe/Berlin')>])>"
    )


@pytest.mark.parametrize("trigger_class", [AndTrigger, OrTrigger], ids=["and", "or"])
def test_triggers_are_kept_as_a_list(trigger_class, berlin):
    sub_triggers = (CronTrigger(hour=3, timezone=berlin),)

    assert trigger_class(sub_triggers).triggers == list(sub_triggers)
