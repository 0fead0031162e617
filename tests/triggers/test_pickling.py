"""
Serialised triggers: round trips, state layouts, and data written by APScheduler 3.

The "written by APScheduler 3" pickles are assembled opcode by opcode below, laid out the way
APScheduler 3.11 lays out its objects (class paths, ``__getstate__`` dicts, attribute names
of fields and expressions), so no copy of that library is needed to test loading them.
"""

from __future__ import annotations

import pickle
import pickletools
import struct
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.cron.expressions import AllExpression, RangeExpression
from apscheduler.triggers.cron.fields import BaseField
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc

# --- a minimal pickle writer (protocol 4, as HIGHEST_PROTOCOL-era APScheduler 3 wrote) -----


def p_str(text: str) -> bytes:
    data = text.encode()
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE

    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def p_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


P_NONE = b"N"
P_TRUE = b"\x88"
P_FALSE = b"\x89"


def p_tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def p_list(*items: bytes) -> bytes:
    return b"]" + (b"(" + b"".join(items) + b"e" if items else b"")  # EMPTY_LIST, APPENDS


def p_dict(**items: bytes) -> bytes:
    body = b"".join(p_str(key) + value for key, value in items.items())
    return b"}" + (b"(" + body + b"u" if items else b"")  # EMPTY_DICT, SETITEMS


def p_global(module: str, qualname: str) -> bytes:
    return p_str(module) + p_str(qualname) + b"\x93"  # STACK_GLOBAL


def p_object(module: str, qualname: str, state: bytes) -> bytes:
    """``cls.__new__(cls)`` then BUILD with ``state``: how pickle stores plain objects."""
    return p_global(module, qualname) + b")" + b"\x81" + state + b"b"  # NEWOBJ, BUILD


def p_call(module: str, qualname: str, *args: bytes) -> bytes:
    return p_global(module, qualname) + p_tuple(*args) + b"R"  # REDUCE


def p_zone(key: str) -> bytes:
    return p_call("zoneinfo", "ZoneInfo._unpickle", p_str(key), p_int(1))


def p_datetime(*parts: int, tz: bytes = P_NONE) -> bytes:
    year, month, day, hour, minute, second, micro = (*parts, 0, 0, 0, 0, 0, 0, 0)[:7]
    state = bytes([year >> 8, year & 255, month, day, hour, minute, second])
    state += micro.to_bytes(3, "big")
    return p_call("datetime", "datetime", b"C" + bytes([len(state)]) + state, tz)


def p_date(year: int, month: int, day: int) -> bytes:
    state = bytes([year >> 8, year & 255, month, day])
    return p_call("datetime", "date", b"C" + bytes([len(state)]) + state)


def p_timedelta(days: int, seconds: int, microseconds: int = 0) -> bytes:
    return p_call("datetime", "timedelta", p_int(days), p_int(seconds), p_int(microseconds))


def p_pickle(body: bytes) -> bytes:
    data = b"\x80\x04" + body + b"."
    pickletools.dis(data, out=_Discard())  # the hand-written opcodes must be well formed
    return data


class _Discard:
    def write(self, text: str) -> None:
        pass


CRON_FIELDS = "apscheduler.triggers.cron.fields"
CRON_EXPRESSIONS = "apscheduler.triggers.cron.expressions"


def p_field(class_name: str, name: str, is_default: bool, *expressions: bytes) -> bytes:
    state = p_dict(
        name=p_str(name),
        is_default=P_TRUE if is_default else P_FALSE,
        expressions=p_list(*expressions),
    )
    return p_object(CRON_FIELDS, class_name, state)


def p_all(step: int | None = None) -> bytes:
    return p_object(
        CRON_EXPRESSIONS, "AllExpression", p_dict(step=P_NONE if step is None else p_int(step))
    )


def p_range(class_name: str, first: int, last: int | None, step: int | None = None) -> bytes:
    state = p_dict(
        step=P_NONE if step is None else p_int(step),
        first=p_int(first),
        last=P_NONE if last is None else p_int(last),
    )
    return p_object(CRON_EXPRESSIONS, class_name, state)


def p_cron_state_v2() -> bytes:
    """CronTrigger(day_of_week='mon-fri', hour='9-17', minute='*/15', Europe/Berlin)."""
    fields = p_list(
        p_field("BaseField", "year", True, p_all()),
        p_field("MonthField", "month", True, p_all()),
        p_field("DayOfMonthField", "day", True, p_all()),
        p_field("WeekField", "week", True, p_all()),
        p_field("DayOfWeekField", "day_of_week", False, p_range("WeekdayRangeExpression", 0, 4)),
        p_field("BaseField", "hour", False, p_range("RangeExpression", 9, 17)),
        p_field("BaseField", "minute", False, p_all(15)),
        p_field("BaseField", "second", True, p_range("RangeExpression", 0, 0)),
    )
    return p_dict(
        version=p_int(2),
        timezone=p_zone("Europe/Berlin"),
        start_date=p_datetime(2024, 1, 1, tz=p_zone("Europe/Berlin")),
        end_date=P_NONE,
        fields=fields,
        jitter=P_NONE,
    )


# --- data written by APScheduler 3 ---------------------------------------------------------


def test_cron_trigger_pickled_by_apscheduler_3_fires_as_before(walk):
    data = p_pickle(p_object("apscheduler.triggers.cron", "CronTrigger", p_cron_state_v2()))

    trigger = pickle.loads(data)

    assert isinstance(trigger, CronTrigger)
    assert str(trigger) == "cron[day_of_week='mon-fri', hour='9-17', minute='*/15']"
    fire_times = walk(trigger, datetime(2024, 5, 3, 17, 20, tzinfo=BERLIN), count=3)
    assert fire_times == [
        datetime(2024, 5, 3, 17, 30, tzinfo=BERLIN),
        datetime(2024, 5, 3, 17, 45, tzinfo=BERLIN),
        datetime(2024, 5, 6, 9, 0, tzinfo=BERLIN),  # Friday evening -> Monday morning
    ]


def test_job_state_with_a_cron_trigger_from_apscheduler_3_loads():
    """What a job store row holds: the job's state dict, the trigger inside it."""
    job_state = p_dict(
        version=p_int(1),
        id=p_str("nightly"),
        func=p_str("reports:build"),
        trigger=p_object("apscheduler.triggers.cron", "CronTrigger", p_cron_state_v2()),
        executor=p_str("default"),
        args=b")",
        kwargs=b"}",
        name=p_str("build"),
        misfire_grace_time=p_int(1),
        coalesce=P_TRUE,
        max_instances=p_int(1),
        next_run_time=p_datetime(2024, 5, 6, 9, tz=p_zone("Europe/Berlin")),
    )

    state = pickle.loads(p_pickle(job_state))
    trigger = state["trigger"]

    next_run_time = trigger.get_next_fire_time(state["next_run_time"], state["next_run_time"])
    assert next_run_time == datetime(2024, 5, 6, 9, 15, tzinfo=BERLIN)
    assert trigger.timezone == BERLIN
    assert trigger.start_date == datetime(2024, 1, 1, tzinfo=BERLIN)


def test_cron_fields_from_apscheduler_3_equal_freshly_parsed_ones():
    data = p_pickle(p_object("apscheduler.triggers.cron", "CronTrigger", p_cron_state_v2()))

    loaded = pickle.loads(data)
    fresh = CronTrigger(day_of_week="mon-fri", hour="9-17", minute="*/15", timezone=BERLIN)

    assert loaded.fields == fresh.fields
    assert [field.is_default for field in loaded.fields] == [
        field.is_default for field in fresh.fields
    ]


def test_cron_trigger_with_month_dependent_days_from_apscheduler_3():
    day = p_field(
        "DayOfMonthField",
        "day",
        False,
        p_object(
            CRON_EXPRESSIONS,
            "WeekdayPositionExpression",
            p_dict(step=P_NONE, option_num=p_int(5), weekday=p_int(4)),
        ),
        p_object(CRON_EXPRESSIONS, "LastDayOfMonthExpression", p_dict(step=P_NONE)),
    )
    fields = p_list(
        p_field("BaseField", "year", True, p_all()),
        p_field("MonthField", "month", False, p_range("MonthRangeExpression", 2, 3)),
        day,
        p_field("WeekField", "week", True, p_all()),
        p_field("DayOfWeekField", "day_of_week", True, p_all()),
        p_field("BaseField", "hour", True, p_range("RangeExpression", 0, 0)),
        p_field("BaseField", "minute", True, p_range("RangeExpression", 0, 0)),
        p_field("BaseField", "second", True, p_range("RangeExpression", 0, 0)),
    )
    state = p_dict(
        version=p_int(2),
        timezone=p_zone("UTC"),
        start_date=P_NONE,
        end_date=P_NONE,
        fields=fields,
        jitter=p_int(30),
    )

    trigger = pickle.loads(p_pickle(p_object("apscheduler.triggers.cron", "CronTrigger", state)))

    assert str(trigger) == "cron[month='feb-mar', day='last fri,last']"
    assert trigger.jitter == 30
    trigger.jitter = None
    now = datetime(2024, 2, 1, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, now)
    assert (first.day, second.day) == (23, 29)  # last Friday, then the last day


def test_cron_trigger_pickled_by_apscheduler_3_0_loads():
    """3.0 had slots and no __getstate__: the state is a (None, slots) tuple, no jitter."""
    fields = p_list(
        p_field("BaseField", "year", True, p_all()),
        p_field("MonthField", "month", True, p_all()),
        p_field("DayOfMonthField", "day", True, p_all()),
        p_field("WeekField", "week", True, p_all()),
        p_field("DayOfWeekField", "day_of_week", True, p_all()),
        p_field("BaseField", "hour", False, p_range("RangeExpression", 6, 6)),
        p_field("BaseField", "minute", True, p_range("RangeExpression", 0, 0)),
        p_field("BaseField", "second", True, p_range("RangeExpression", 0, 0)),
    )
    slots = p_dict(
        timezone=p_zone("Europe/Berlin"), start_date=P_NONE, end_date=P_NONE, fields=fields
    )
    state = b"N" + slots + b"\x86"  # TUPLE2 of (None, slots)

    trigger = pickle.loads(p_pickle(p_object("apscheduler.triggers.cron", "CronTrigger", state)))

    assert trigger.jitter is None
    now = datetime(2024, 5, 1, 7, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 2, 6, tzinfo=BERLIN)


def test_interval_trigger_pickled_by_apscheduler_3_loads():
    state = p_dict(
        version=p_int(2),
        timezone=p_zone("Europe/Berlin"),
        start_date=p_datetime(2024, 5, 1, 10, tz=p_zone("Europe/Berlin")),
        end_date=p_datetime(2024, 5, 2, tz=p_zone("Europe/Berlin")),
        interval=p_timedelta(0, 5400),
        jitter=P_NONE,
    )

    trigger = pickle.loads(
        p_pickle(p_object("apscheduler.triggers.interval", "IntervalTrigger", state))
    )

    assert trigger.interval_length == 5400
    assert repr(trigger) == (
        "<IntervalTrigger (interval=datetime.timedelta(seconds=5400), "
        "start_date='2024-05-01 10:00:00 CEST', end_date='2024-05-02 00:00:00 CEST', "
        "timezone='Europe/Berlin')>"
    )
    now = datetime(2024, 5, 1, 12, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 1, 13, tzinfo=BERLIN)
    last = datetime(2024, 5, 1, 23, 30, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(last, now) is None


def test_interval_trigger_pickled_by_apscheduler_3_0_loads():
    slots = p_dict(
        timezone=p_zone("UTC"),
        start_date=p_datetime(2024, 5, 1, tz=p_zone("UTC")),
        end_date=P_NONE,
        interval=p_timedelta(1, 0),
        interval_length=p_int(86400),
    )
    state = b"N" + slots + b"\x86"

    trigger = pickle.loads(
        p_pickle(p_object("apscheduler.triggers.interval", "IntervalTrigger", state))
    )

    assert trigger.jitter is None
    now = datetime(2024, 5, 3, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 5, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    "state",
    [
        p_dict(version=p_int(1), run_date=p_datetime(2024, 5, 1, 12, tz=p_zone("UTC"))),
        b"N" + p_dict(run_date=p_datetime(2024, 5, 1, 12, tz=p_zone("UTC"))) + b"\x86",
    ],
    ids=["version-1-dict", "3.0-slots-tuple"],
)
def test_date_trigger_pickled_by_apscheduler_3_loads(state):
    trigger = pickle.loads(p_pickle(p_object("apscheduler.triggers.date", "DateTrigger", state)))

    assert trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=UTC)) == datetime(
        2024, 5, 1, 12, tzinfo=UTC
    )


def test_calendar_interval_trigger_pickled_by_apscheduler_3_11_loads(walk):
    state = p_dict(
        version=p_int(1),
        interval=p_list(p_int(0), p_int(1), p_int(0), p_int(0)),
        time=p_list(p_int(8), p_int(30), p_int(0)),
        timezone=p_zone("Europe/Berlin"),
        start_date=p_date(2024, 1, 31),
        end_date=P_NONE,
        jitter=P_NONE,
    )

    trigger = pickle.loads(
        p_pickle(
            p_object("apscheduler.triggers.calendarinterval", "CalendarIntervalTrigger", state)
        )
    )

    fire_times = walk(trigger, datetime(2024, 1, 1, tzinfo=BERLIN), count=2)
    assert fire_times == [
        datetime(2024, 1, 31, 8, 30, tzinfo=BERLIN),
        datetime(2024, 3, 31, 8, 30, tzinfo=BERLIN),
    ]


def test_combining_trigger_pickled_by_apscheduler_3_loads():
    members = p_list(
        p_tuple(p_str("apscheduler.triggers.cron:CronTrigger"), p_cron_state_v2()),
        p_tuple(
            p_str("apscheduler.triggers.date:DateTrigger"),
            p_dict(version=p_int(1), run_date=p_datetime(2024, 5, 6, 9, tz=p_zone("UTC"))),
        ),
    )
    state = p_dict(version=p_int(1), jitter=P_NONE, triggers=members)

    trigger = pickle.loads(
        p_pickle(p_object("apscheduler.triggers.combining", "OrTrigger", state))
    )

    assert isinstance(trigger, OrTrigger)
    assert [type(member) for member in trigger.triggers] == [CronTrigger, DateTrigger]
    now = datetime(2024, 5, 6, 9, 0, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, now) == now  # the cron member's own 09:00


# --- round trips and our own layouts -------------------------------------------------------

TRIGGERS = [
    pytest.param(
        lambda: CronTrigger(
            day="last fri,1st mon",
            hour="9-17/2",
            start_date="2024-01-01",
            end_date="2030-01-01",
            jitter=5,
            timezone=BERLIN,
        ),
        id="cron",
    ),
    pytest.param(
        lambda: IntervalTrigger(
            minutes=7, start_date="2024-05-01 10:00:00", timezone="America/New_York"
        ),
        id="interval",
    ),
    pytest.param(lambda: DateTrigger("2024-05-01 10:00:00", "UTC"), id="date"),
    pytest.param(
        lambda: CalendarIntervalTrigger(
            months=2,
            days=1,
            hour=3,
            start_date="2024-01-31",
            end_date="2026-01-01",
            timezone=BERLIN,
        ),
        id="calendarinterval",
    ),
    pytest.param(
        lambda: AndTrigger(
            [
                CronTrigger(day_of_week="fri", timezone=BERLIN),
                CronTrigger(day=13, timezone=BERLIN),
            ],
            jitter=2,
        ),
        id="and",
    ),
    pytest.param(
        lambda: OrTrigger(
            [CronTrigger(hour=5, timezone=BERLIN), DateTrigger("2024-05-01 10:00:00", "UTC")]
        ),
        id="or",
    ),
]


@pytest.mark.parametrize("make", TRIGGERS)
def test_pickle_round_trip_keeps_text_and_fire_times(make, walk):
    trigger = make()

    restored = pickle.loads(pickle.dumps(trigger))

    assert repr(restored) == repr(trigger)
    assert str(restored) == str(trigger)
    now = datetime(2024, 4, 1, tzinfo=UTC)
    if getattr(trigger, "jitter", None):
        trigger.jitter = restored.jitter = None
    assert walk(restored, now, count=5) == walk(trigger, now, count=5)


@pytest.mark.parametrize(
    "make, keys",
    [
        (lambda: DateTrigger("2024-05-01", "UTC"), {"version", "run_date"}),
        (
            lambda: IntervalTrigger(hours=1, timezone="UTC"),
            {"version", "timezone", "start_date", "end_date", "interval", "jitter"},
        ),
        (
            lambda: CronTrigger(hour=1, timezone="UTC"),
            {"version", "timezone", "start_date", "end_date", "fields", "jitter"},
        ),
        (
            lambda: CalendarIntervalTrigger(days=1, timezone="UTC"),
            {"version", "interval", "time", "timezone", "start_date", "end_date", "jitter"},
        ),
        (
            lambda: AndTrigger([DateTrigger("2024-05-01", "UTC")]),
            {"version", "jitter", "triggers"},
        ),
    ],
    ids=["date", "interval", "cron", "calendarinterval", "and"],
)
def test_state_layouts_match_apscheduler_3(make, keys):
    assert set(make().__getstate__()) == keys


def test_state_versions():
    assert DateTrigger("2024-05-01", "UTC").__getstate__()["version"] == 1
    assert IntervalTrigger(hours=1, timezone="UTC").__getstate__()["version"] == 2
    assert CronTrigger(hour=1, timezone="UTC").__getstate__()["version"] == 2
    assert CalendarIntervalTrigger(days=1, timezone="UTC").__getstate__()["version"] == 1
    assert OrTrigger([DateTrigger("2024-05-01", "UTC")]).__getstate__()["version"] == 1


def test_combining_state_refers_to_members_by_text_reference():
    state = AndTrigger([CronTrigger(hour=1, timezone="UTC")]).__getstate__()

    assert state["triggers"][0][0] == "apscheduler.triggers.cron:CronTrigger"
    assert state["triggers"][0][1]["version"] == 2


def test_cron_fields_pickle_only_the_three_attributes_of_apscheduler_3():
    """Pickles written here stay readable by APScheduler 3 (a downgrade keeps its jobs)."""
    trigger = CronTrigger(minute="*/5", timezone="UTC")
    minute = pickle.loads(pickle.dumps(trigger.fields[6]))

    assert vars(minute) == {
        "name": "minute",
        "is_default": False,
        "expressions": [AllExpression(5)],
    }
    assert type(minute) is BaseField
    assert vars(trigger.fields[7].expressions[0]) == {"step": None, "first": 0, "last": 0}
    assert trigger.fields[7].expressions[0] == RangeExpression(0)


def test_restored_cron_trigger_drops_its_month_cache():
    """Cached lookups are derived data: they are rebuilt, never stored."""
    trigger = CronTrigger(day="last", timezone="UTC")
    trigger.get_next_fire_time(None, datetime(2024, 5, 1, tzinfo=UTC))

    data = pickle.dumps(trigger)

    assert b"_month_cache" not in data and b"_schedule" not in data


@pytest.mark.parametrize(
    "trigger_class, version, allowed",
    [
        (DateTrigger, 2, "version 1"),
        (IntervalTrigger, 3, "versions up to 2"),
        (CronTrigger, 3, "versions up to 2"),
        (CalendarIntervalTrigger, 2, "versions up to 1"),
        (AndTrigger, 2, "versions up to 1"),
        (OrTrigger, 2, "versions up to 1"),
    ],
    ids=["date", "interval", "cron", "calendarinterval", "and", "or"],
)
def test_state_from_a_newer_version_is_refused(trigger_class, version, allowed):
    """With APScheduler 3's message, which words the date trigger's limit differently."""
    trigger = trigger_class.__new__(trigger_class)

    with pytest.raises(
        ValueError,
        match=rf"^Got serialized data for version {version} of {trigger_class.__name__}, "
        rf"but only {allowed} can be handled$",
    ):
        trigger.__setstate__({"version": version})


PLUS_TWO = timezone(timedelta(hours=2))


def interval_state_starting(start_date: datetime) -> dict:
    return {
        "version": 2,
        "timezone": BERLIN,
        "start_date": start_date,
        "end_date": None,
        "interval": timedelta(hours=1),
        "jitter": None,
    }


@pytest.mark.parametrize(
    "trigger_class, state",
    [
        (
            IntervalTrigger,
            interval_state_starting(datetime(2024, 5, 1, 14, 4, tzinfo=PLUS_TWO)),
        ),
        (
            CronTrigger,
            {
                **CronTrigger(hour=3, timezone=BERLIN).__getstate__(),
                "start_date": datetime(2024, 5, 1, 14, 4, tzinfo=PLUS_TWO),
                "end_date": datetime(2024, 6, 1, 14, 4, tzinfo=timezone(timedelta(hours=5))),
            },
        ),
    ],
    ids=["interval", "cron"],
)
def test_stored_dates_keep_the_offset_they_were_written_with(trigger_class, state):
    """As in APScheduler 3: the same instant and the same wall time, not the trigger's zone."""
    trigger = trigger_class.__new__(trigger_class)

    trigger.__setstate__(state)

    assert (trigger.start_date, trigger.end_date) == (state["start_date"], state["end_date"])
    assert trigger.start_date.tzinfo is state["start_date"].tzinfo
    assert trigger.get_next_fire_time(None, trigger.start_date).tzinfo is BERLIN


def test_stored_dates_with_a_pytz_zone_get_the_zoneinfo_zone_of_that_name():
    pytz = pytest.importorskip("pytz")
    start_date = pytz.timezone("Europe/Helsinki").localize(datetime(2024, 5, 1, 14, 4))
    trigger = IntervalTrigger.__new__(IntervalTrigger)

    trigger.__setstate__(interval_state_starting(start_date))

    assert trigger.start_date.tzinfo is ZoneInfo("Europe/Helsinki")
    assert trigger.start_date.replace(tzinfo=None) == datetime(2024, 5, 1, 14, 4)
    assert trigger.start_date == start_date


def test_date_for_calendar_state_stays_a_date():
    trigger = CalendarIntervalTrigger(days=1, start_date="2024-05-01", timezone="UTC")

    assert pickle.loads(pickle.dumps(trigger)).start_date == date(2024, 5, 1)
