"""CronTrigger: which wall-clock times it picks, its text forms and its arguments."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apscheduler.triggers.cron import CronTrigger

UTC = timezone.utc


@pytest.mark.parametrize(
    "fields, now, expected",
    [
        ({"minute": "*/5"}, datetime(2024, 5, 1, 10, 1), datetime(2024, 5, 1, 10, 5)),
        ({"minute": "*/5"}, datetime(2024, 5, 1, 10, 5), datetime(2024, 5, 1, 10, 5)),
        ({"hour": 3}, datetime(2024, 5, 1, 10, 0), datetime(2024, 5, 2, 3, 0)),
        ({"minute": 5}, datetime(2024, 5, 1, 10, 6), datetime(2024, 5, 1, 11, 5)),
        (
            {"day_of_week": "mon-fri", "hour": "9-17"},
            datetime(2024, 5, 3, 18, 0),  # a Friday evening
            datetime(2024, 5, 6, 9, 0),
        ),
        ({"day": "last"}, datetime(2024, 2, 3), datetime(2024, 2, 29)),
        ({"day": "last"}, datetime(2023, 2, 3), datetime(2023, 2, 28)),
        ({"day": "last fri"}, datetime(2024, 5, 1), datetime(2024, 5, 31)),
        ({"day": "2nd wed"}, datetime(2024, 5, 1), datetime(2024, 5, 8)),
        ({"day": "5th mon"}, datetime(2024, 5, 1), datetime(2024, 7, 29)),
        ({"day": "31"}, datetime(2024, 4, 1), datetime(2024, 5, 31)),
        ({"month": "feb", "day": 29}, datetime(2025, 1, 1), datetime(2028, 2, 29)),
        (
            {"year": "2009/2", "month": "1/3", "day": "5-13"},
            datetime(2008, 12, 1),
            datetime(2009, 1, 5),
        ),
        ({"week": 1, "day_of_week": "mon"}, datetime(2024, 5, 1), datetime(2024, 12, 30)),
        ({"day": 13, "day_of_week": "fri"}, datetime(2024, 1, 1), datetime(2024, 9, 13)),
        ({"month": "jan-mar,oct", "day": 1}, datetime(2024, 4, 2), datetime(2024, 10, 1)),
        ({"second": "*/20"}, datetime(2024, 5, 1, 10, 0, 41), datetime(2024, 5, 1, 10, 1)),
        ({"hour": "*/6", "minute": 30}, datetime(2024, 5, 1, 19, 0), datetime(2024, 5, 2, 0, 30)),
    ],
    ids=[
        "every-5-minutes",
        "now-matches-exactly",
        "daily-at-3",
        "minute-only-means-hourly",
        "weekday-office-hours-skip-weekend",
        "last-day-of-leap-february",
        "last-day-of-february",
        "last-friday",
        "second-wednesday",
        "fifth-monday-skips-months-without-one",
        "day-31-skips-april",
        "february-29-waits-for-leap-year",
        "stepped-year-month-and-day-range",
        "iso-week-1-may-start-in-december",
        "friday-13th-both-must-match",
        "month-list-with-names",
        "every-20-seconds",
        "every-6-hours-at-half-past",
    ],
)
def test_first_fire_time(berlin, fields, now, expected):
    trigger = CronTrigger(timezone=berlin, **fields)

    fire_time = trigger.get_next_fire_time(None, now.replace(tzinfo=berlin))

    assert fire_time == expected.replace(tzinfo=berlin)
    assert fire_time.tzinfo is berlin


def test_consecutive_fire_times_follow_the_fields(berlin, walk):
    trigger = CronTrigger(day_of_week="mon,wed", hour="8,20", timezone=berlin)

    fire_times = walk(trigger, datetime(2024, 5, 6, 9, tzinfo=berlin), count=5)

    assert [ft.strftime("%a %d %H:%M") for ft in fire_times] == [
        "Mon 06 20:00",
        "Wed 08 08:00",
        "Wed 08 20:00",
        "Mon 13 08:00",
        "Mon 13 20:00",
    ]


def test_previous_fire_time_in_the_past_gives_the_next_one_after_it(berlin):
    """The scheduler asks with old fire times to count the runs it missed."""
    trigger = CronTrigger(minute=0, timezone=berlin)
    previous = datetime(2024, 5, 1, 10, tzinfo=berlin)

    fire_time = trigger.get_next_fire_time(previous, previous + timedelta(days=2))

    assert fire_time == datetime(2024, 5, 1, 11, tzinfo=berlin)


def test_fire_time_is_always_after_the_previous_one_even_if_now_is_earlier(berlin):
    """A clock set back must not make the trigger repeat a fire time."""
    trigger = CronTrigger(minute="*/10", timezone=berlin)
    previous = datetime(2024, 5, 1, 10, 20, tzinfo=berlin)

    fire_time = trigger.get_next_fire_time(previous, previous - timedelta(hours=1))

    assert fire_time == datetime(2024, 5, 1, 10, 30, tzinfo=berlin)


def test_now_with_microseconds_rounds_up_to_the_next_second(berlin):
    trigger = CronTrigger(second="*", timezone=berlin)

    fire_time = trigger.get_next_fire_time(None, datetime(2024, 5, 1, 10, 0, 0, 1, berlin))

    assert fire_time == datetime(2024, 5, 1, 10, 0, 1, tzinfo=berlin)


def test_jittered_previous_fire_time_does_not_shift_the_schedule(berlin):
    trigger = CronTrigger(minute="*/5", timezone=berlin)
    jittered = datetime(2024, 5, 1, 10, 5, 3, 250_000, tzinfo=berlin)

    assert trigger.get_next_fire_time(jittered, jittered) == datetime(
        2024, 5, 1, 10, 10, tzinfo=berlin
    )


def test_now_in_another_zone_is_converted(berlin):
    trigger = CronTrigger(hour=9, timezone=berlin)

    fire_time = trigger.get_next_fire_time(None, datetime(2024, 5, 1, 6, 59, tzinfo=UTC))

    assert fire_time == datetime(2024, 5, 1, 9, tzinfo=berlin)


def test_start_date_delays_the_first_fire_time(berlin):
    trigger = CronTrigger(hour="*", start_date="2024-05-01 10:30:00", timezone=berlin)

    fire_time = trigger.get_next_fire_time(None, datetime(2024, 4, 1, tzinfo=berlin))

    assert fire_time == datetime(2024, 5, 1, 11, tzinfo=berlin)


def test_end_date_finishes_the_trigger(berlin, walk):
    trigger = CronTrigger(hour=12, end_date=date(2024, 5, 3), timezone=berlin)

    fire_times = walk(trigger, datetime(2024, 5, 1, tzinfo=berlin))

    assert [ft.day for ft in fire_times] == [1, 2]


def test_end_date_is_inclusive(berlin):
    trigger = CronTrigger(hour=12, end_date="2024-05-01 12:00:00", timezone=berlin)

    assert trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=berlin)) == datetime(
        2024, 5, 1, 12, tzinfo=berlin
    )


@pytest.mark.parametrize(
    "fraction, first, second",
    [(0, "10:00:00", "10:10:00"), (0.5, "10:02:30", "10:12:00"), (1, "10:05:00", "10:12:00")],
    ids=["no-delay", "half-delay-clamped", "full-delay-clamped"],
)
def test_jitter_delays_but_never_past_end_date(berlin, jitter_draw, fraction, first, second):
    jitter_draw(fraction)
    trigger = CronTrigger(
        minute="*/10", jitter=300, end_date="2024-05-01 10:12:00", timezone=berlin
    )
    now = datetime(2024, 5, 1, 9, 55, tzinfo=berlin)

    first_time = trigger.get_next_fire_time(None, now)
    second_time = trigger.get_next_fire_time(datetime(2024, 5, 1, 10, 5, tzinfo=berlin), now)

    assert first_time.strftime("%H:%M:%S") == first
    assert second_time.strftime("%H:%M:%S") == second
    assert first_time.tzinfo is berlin


def test_no_fire_time_after_the_last_matching_year(berlin):
    trigger = CronTrigger(year=2020, timezone=berlin)

    assert trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=berlin)) is None


def test_impossible_date_gives_none_quickly(berlin):
    """February 30th never comes; the search must still end (at year 9999)."""
    trigger = CronTrigger(month=2, day=30, timezone=berlin)

    assert trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=berlin)) is None


def test_search_ends_at_the_end_of_year_9999():
    trigger = CronTrigger(month=12, day=31, hour=23, minute=59, second=59, timezone="UTC")
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

    assert trigger.get_next_fire_time(None, last - timedelta(days=1)) == last
    assert trigger.get_next_fire_time(last, last) is None


def test_zone_west_of_utc_at_the_end_of_year_9999(new_york):
    """The last instants of year 9999 in New York lie past what datetime can hold in UTC."""
    trigger = CronTrigger(month=12, day=31, hour=23, timezone=new_york)

    now = datetime(9999, 12, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) is None


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"minute": "*/5"}, "cron[minute='*/5']"),
        ({"hour": 3}, "cron[hour='3']"),
        ({"day_of_week": "MON-Fri", "hour": "9-17"}, "cron[day_of_week='mon-fri', hour='9-17']"),
        ({"month": "jan,Mar", "day": "last fri"}, "cron[month='jan,mar', day='last fri']"),
        ({"day": "1-31/2, last"}, "cron[day='1-31/2,last']"),
        ({"year": "2009/2", "second": "5/10"}, "cron[year='2009/2', second='5/10']"),
        ({"minute": "7-7"}, "cron[minute='7']"),
    ],
    ids=["step", "single", "names-lowercased", "month-names", "list", "open-step", "1-range"],
)
def test_str_lists_the_given_fields(kwargs, text):
    assert str(CronTrigger(timezone="UTC", **kwargs)) == text


def test_repr_shows_dates_jitter_and_zone(berlin):
    trigger = CronTrigger(
        hour="9-17",
        minute=30,
        start_date="2024-05-01",
        end_date="2024-06-01 12:00:00",
        jitter=5,
        timezone=berlin,
    )

    assert repr(trigger) == (
        "<CronTrigger (hour='9-17', minute='30', start_date='2024-05-01 00:00:00 CEST', "
        "end_date='2024-06-01 12:00:00 CEST', jitter=5, timezone='Europe/Berlin')>"
    )


def test_repr_of_utc_trigger():
    assert repr(CronTrigger(minute=1, timezone="UTC")) == (
        "<CronTrigger (minute='1', timezone='UTC')>"
    )


def test_omitted_fields_take_defaults_after_the_last_given_one():
    trigger = CronTrigger(day=5, minute=30, timezone="UTC")

    fields = {field.name: (str(field), field.is_default) for field in trigger.fields}
    assert fields == {
        "year": ("*", True),
        "month": ("*", True),
        "day": ("5", False),
        "week": ("*", True),
        "day_of_week": ("*", True),
        "hour": ("*", True),
        "minute": ("30", False),
        "second": ("0", True),
    }


def test_no_fields_means_every_second():
    trigger = CronTrigger(timezone="UTC")
    now = datetime(2024, 5, 1, 10, 0, 0, 500, tzinfo=UTC)

    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)
    assert str(trigger) == "cron[]"


def test_from_crontab_reads_five_fields_with_monday_as_zero(berlin):
    trigger = CronTrigger.from_crontab("0 9 * * 0", timezone=berlin)

    assert str(trigger) == "cron[month='*', day='*', day_of_week='0', hour='9', minute='0']"
    fire_time = trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=berlin))
    assert fire_time == datetime(2024, 5, 6, 9, tzinfo=berlin)  # a Monday
    assert trigger.timezone is berlin


def test_from_crontab_accepts_names_and_extra_whitespace():
    trigger = CronTrigger.from_crontab(" */15  9-17 * jan-jun mon-fri ", timezone="UTC")

    assert str(trigger) == (
        "cron[month='jan-jun', day='*', day_of_week='mon-fri', hour='9-17', minute='*/15']"
    )


def test_timezone_comes_from_start_date_when_not_given():
    zone = ZoneInfo("Asia/Tokyo")
    trigger = CronTrigger(hour=1, start_date=datetime(2024, 1, 1, tzinfo=zone))

    assert trigger.timezone is zone


def test_timezone_comes_from_end_date_when_start_date_is_naive_or_missing():
    zone = ZoneInfo("Asia/Tokyo")
    trigger = CronTrigger(hour=1, end_date=datetime(2030, 1, 1, tzinfo=zone))

    assert trigger.timezone is zone


def test_local_zone_is_the_default():
    from tzlocal import get_localzone

    assert CronTrigger(hour=1).timezone == get_localzone()


def test_string_dates_with_offsets_keep_their_offset(berlin):
    trigger = CronTrigger(hour=1, start_date="2024-05-01T10:00:00Z", timezone=berlin)

    assert trigger.start_date == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_slots_are_the_five_of_apscheduler_3():
    """Derived state (lookup tables, UTC bounds) lives in a private base class's slots."""
    trigger = CronTrigger(minute="*/5", timezone="UTC")

    assert CronTrigger.__slots__ == ("end_date", "fields", "jitter", "start_date", "timezone")
    assert not hasattr(trigger, "__dict__")


def slot_values(trigger: CronTrigger) -> dict:
    return {name: getattr(trigger, name) for name in type(trigger).__slots__}


def all_slot_values(trigger: CronTrigger) -> dict:
    """Every slot of every class, as code that walks the class hierarchy sees them."""
    names = [name for cls in type(trigger).__mro__ for name in getattr(cls, "__slots__", ())]
    return {name: getattr(trigger, name) for name in names}


def test_triggers_built_alike_compare_equal_slot_by_slot(berlin):
    def build() -> CronTrigger:
        return CronTrigger(
            day="last fri", hour=18, start_date="2024-05-01", jitter=5, timezone=berlin
        )

    used, fresh = build(), build()
    used.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=berlin))  # fills its caches

    assert slot_values(used) == slot_values(fresh)
    assert all_slot_values(used) == all_slot_values(fresh)
    assert slot_values(used) != slot_values(CronTrigger(hour=17, timezone=berlin))


def test_trigger_copied_slot_by_slot_fires_like_the_original(berlin):
    original = CronTrigger(
        day_of_week="mon-fri", hour="9-17", minute="*/15", end_date="2024-06-01", timezone=berlin
    )
    copy = CronTrigger.__new__(CronTrigger)
    for name in CronTrigger.__slots__:
        setattr(copy, name, getattr(original, name))

    now = datetime(2024, 5, 31, 17, 40, tzinfo=berlin)
    assert copy.get_next_fire_time(None, now) == original.get_next_fire_time(None, now)
    assert copy.get_next_fire_time(None, now + timedelta(minutes=10)) is None  # the end date
    assert slot_values(copy) == slot_values(original)


def test_rebinding_an_attribute_takes_effect(berlin):
    trigger = CronTrigger(hour=3, timezone=berlin)
    now = datetime(2024, 5, 1, tzinfo=berlin)
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 1, 3, tzinfo=berlin)

    trigger.start_date = datetime(2024, 5, 10, tzinfo=berlin)
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 10, 3, tzinfo=berlin)

    trigger.fields = CronTrigger(hour=4, timezone=berlin).fields
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 10, 4, tzinfo=berlin)
