"""The shared helpers: conversions, time maths, callable names and text references."""

from __future__ import annotations

import copy
import inspect
import math
import pickle
from datetime import date, datetime, timedelta, timezone, tzinfo
from fractions import Fraction
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from apscheduler.util import (
    asbool,
    asdate,
    asint,
    astimezone,
    check_callable_args,
    convert_to_datetime,
    datetime_ceil,
    datetime_repr,
    datetime_to_utc_timestamp,
    datetime_utc_add,
    get_callable_name,
    iscoroutinefunction_partial,
    maybe_ref,
    obj_to_ref,
    ref_to_obj,
    timedelta_seconds,
    undefined,
    utc_timestamp_to_datetime,
)

BERLIN = ZoneInfo("Europe/Berlin")


# Targets for the name and reference helpers; they must live at module level to be referable.


def plain_function() -> None:
    pass


async def coroutine_function() -> None:
    pass


class Outer:
    class Inner:
        def method(self) -> str:
            return "inner"

        @classmethod
        def class_method(cls) -> str:
            return cls.__qualname__

    def method(self) -> str:
        return "outer"

    async def async_method(self) -> None:
        pass

    @staticmethod
    def static_method() -> str:
        return "static"


class CallableInstance:
    def __call__(self) -> str:
        return "called"


class SubclassedFraction(Fraction):
    """Inherits the class method ``from_float`` from a class in another module."""


# --- asint, asbool ------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("5", 5), (" 7 ", 7), (3, 3), (None, None)], ids=repr)
def test_asint_converts_configuration_text(value, expected):
    assert asint(value) == expected


def test_asint_rejects_text_that_is_no_number():
    with pytest.raises(ValueError, match="'ten'"):
        asint("ten")


@pytest.mark.parametrize("word", ["true", "yes", "on", "y", "t", "1", "TRUE", " Yes "], ids=repr)
def test_asbool_reads_yes_words_as_true(word):
    assert asbool(word) is True


@pytest.mark.parametrize("word", ["false", "no", "off", "n", "f", "0", "False", " OFF "], ids=repr)
def test_asbool_reads_no_words_as_false(word):
    assert asbool(word) is False


@pytest.mark.parametrize("word", ["maybe", "", "2"], ids=repr)
def test_asbool_rejects_other_words_naming_them(word):
    with pytest.raises(ValueError, match=f'Unable to interpret value "{word}" as boolean'):
        asbool(word)


@pytest.mark.parametrize("value, expected", [(0, False), (1, True), (None, False)], ids=repr)
def test_asbool_takes_the_truth_of_other_values(value, expected):
    assert asbool(value) is expected


# --- astimezone ---------------------------------------------------------------------------------


def test_astimezone_maps_the_name_utc_to_the_standard_utc():
    assert astimezone("UTC") is timezone.utc


def test_astimezone_turns_zone_names_into_zoneinfo():
    assert astimezone("Europe/Berlin") == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    "zone",
    [BERLIN, timezone.utc, timezone(timedelta(hours=5, minutes=30))],
    ids=["zoneinfo", "utc", "fixed-offset"],
)
def test_astimezone_passes_tzinfo_objects_through(zone):
    assert astimezone(zone) is zone


def test_astimezone_keeps_none():
    assert astimezone(None) is None


@pytest.mark.parametrize("value", [5, 1.5, b"UTC"], ids=["int", "float", "bytes"])
def test_astimezone_rejects_other_types_naming_them(value):
    with pytest.raises(TypeError, match=f"Expected tzinfo, got {type(value).__name__} instead"):
        astimezone(value)


def test_astimezone_rejects_a_zone_called_local():
    class LocalZone(tzinfo):
        def tzname(self, dt):
            return "local"

        def utcoffset(self, dt):
            return timedelta(0)

    with pytest.raises(ValueError, match="Unable to determine the name of the local timezone"):
        astimezone(LocalZone())


def test_astimezone_converts_pytz_zones_to_zoneinfo():
    pytz = pytest.importorskip("pytz")

    assert astimezone(pytz.timezone("Europe/Berlin")) == ZoneInfo("Europe/Berlin")
    assert astimezone(pytz.utc) is timezone.utc


# --- convert_to_datetime ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-05-06", datetime(2024, 5, 6, tzinfo=BERLIN)),
        ("2024-5-6", datetime(2024, 5, 6, tzinfo=BERLIN)),
        ("2024-05-06 07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=BERLIN)),
        ("2024-05-06T07:08:09", datetime(2024, 5, 6, 7, 8, 9, tzinfo=BERLIN)),
        ("2024-05-06 07:08:09.5", datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=BERLIN)),
        ("2024-05-06 07:08:09.123456", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=BERLIN)),
        ("2024-05-06 07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)),
        (
            "2024-05-06T07:08:09.25+05:30",
            datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        (
            "2024-05-06 07:08:09-03:00",
            datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-3))),
        ),
    ],
    ids=[
        "date-only",
        "one-digit-month-and-day",
        "space-separated",
        "t-separated",
        "fraction",
        "microseconds",
        "z-suffix",
        "positive-offset",
        "negative-offset",
    ],
)
def test_convert_to_datetime_parses_every_text_format(text, expected):
    result = convert_to_datetime(text, BERLIN, "start_date")

    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text", ["2024/05/06", "06.05.2024", "2024-05-06 07:08", "tomorrow"], ids=repr
)
def test_convert_to_datetime_names_the_argument_for_bad_text(text):
    """APScheduler 3's message; the argument and the text are in a note."""
    with pytest.raises(ValueError, match="^Invalid date string") as caught:
        convert_to_datetime(text, BERLIN, "start_date")

    assert str(caught.value) == "Invalid date string"
    assert caught.value.__notes__ == [f"start_date: {text!r}"]


def test_convert_to_datetime_of_an_impossible_date_gives_the_datetime_error():
    """As in APScheduler 3, the message is datetime's own; the argument is in a note."""
    with pytest.raises(ValueError, match="^day is out of range") as caught:
        convert_to_datetime("2024-02-30", BERLIN, "start_date")

    assert str(caught.value) == "day is out of range for month"
    assert caught.value.__notes__ == ["start_date: '2024-02-30'"]


def test_convert_to_datetime_gives_naive_values_the_zone():
    result = convert_to_datetime(datetime(2024, 7, 1, 9, 30), BERLIN, "run_date")

    assert result == datetime(2024, 7, 1, 9, 30, tzinfo=BERLIN)
    assert result.utcoffset() == timedelta(hours=2)


def test_convert_to_datetime_accepts_a_zone_name():
    result = convert_to_datetime(datetime(2024, 1, 1, 9, 30), "Europe/Berlin", "run_date")

    assert result.utcoffset() == timedelta(hours=1)


def test_convert_to_datetime_turns_a_date_into_local_midnight():
    assert convert_to_datetime(date(2024, 7, 1), BERLIN, "run_date") == datetime(
        2024, 7, 1, tzinfo=BERLIN
    )


def test_convert_to_datetime_keeps_aware_values_as_they_are():
    aware = datetime(2024, 7, 1, 9, 30, tzinfo=timezone.utc)

    assert convert_to_datetime(aware, BERLIN, "run_date") is aware


def test_convert_to_datetime_keeps_none():
    assert convert_to_datetime(None, BERLIN, "end_date") is None


def test_convert_to_datetime_needs_a_zone_for_naive_values():
    with pytest.raises(
        ValueError, match='The "tz" argument must be specified if end_date has no timezone'
    ):
        convert_to_datetime(datetime(2024, 7, 1), None, "end_date")


@pytest.mark.parametrize("value", [1700000000, 1.5, [2024, 1, 1]], ids=["int", "float", "list"])
def test_convert_to_datetime_rejects_other_types_naming_the_argument(value):
    with pytest.raises(
        TypeError, match=f"Unsupported type for next_run_time: {type(value).__name__}"
    ):
        convert_to_datetime(value, BERLIN, "next_run_time")


def test_convert_to_datetime_moves_a_time_in_the_spring_gap_forward():
    """02:30 does not exist in Berlin on 2024-03-31; the clocks read 03:30 an hour after 01:30."""
    result = convert_to_datetime(datetime(2024, 3, 31, 2, 30), BERLIN, "run_date")

    assert result.replace(tzinfo=None) == datetime(2024, 3, 31, 3, 30)
    assert result.utcoffset() == timedelta(hours=2)


def test_convert_to_datetime_takes_the_first_of_a_repeated_time():
    result = convert_to_datetime(datetime(2024, 10, 27, 2, 30), BERLIN, "run_date")

    assert result.utcoffset() == timedelta(hours=2)


# --- timestamps and datetime helpers ------------------------------------------------------------


def test_datetime_to_utc_timestamp_counts_seconds_since_the_epoch():
    assert datetime_to_utc_timestamp(datetime(2024, 1, 1, tzinfo=timezone.utc)) == 1704067200.0
    assert datetime_to_utc_timestamp(datetime(2024, 1, 1, 1, tzinfo=BERLIN)) == 1704067200.0
    assert datetime_to_utc_timestamp(None) is None


def test_utc_timestamp_to_datetime_gives_aware_utc():
    result = utc_timestamp_to_datetime(1704067200.5)

    assert result == datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)
    assert result.tzinfo is timezone.utc
    assert utc_timestamp_to_datetime(None) is None


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2024, 3, 31, 3, 30, 15, 123456, tzinfo=BERLIN),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=BERLIN),
    ],
    ids=["after-spring-gap", "microseconds", "second-pass-of-repeated-hour"],
)
def test_timestamps_round_trip_to_the_same_instant(moment):
    result = utc_timestamp_to_datetime(datetime_to_utc_timestamp(moment))

    # compared as timestamps: Python never calls a fold=1 time equal to one in another zone
    assert result.timestamp() == moment.timestamp()
    assert result.astimezone(moment.tzinfo).fold == moment.fold


@pytest.mark.parametrize(
    "moment, expected",
    [
        (datetime(2024, 1, 1, 12, 0, 0, 1), datetime(2024, 1, 1, 12, 0, 1)),
        (datetime(2024, 1, 1, 12, 0, 0, 999999), datetime(2024, 1, 1, 12, 0, 1)),
        (datetime(2024, 1, 1, 12, 0, 0), datetime(2024, 1, 1, 12, 0, 0)),
        (datetime(2024, 12, 31, 23, 59, 59, 5), datetime(2025, 1, 1, 0, 0, 0)),
    ],
    ids=["one-microsecond-past", "almost-next", "whole-second", "year-end"],
)
def test_datetime_ceil_rounds_up_to_the_next_whole_second(moment, expected):
    assert datetime_ceil(moment) == expected


def test_datetime_ceil_keeps_the_zone():
    assert datetime_ceil(datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=BERLIN)).tzinfo is BERLIN


@pytest.mark.parametrize(
    "moment, expected",
    [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=BERLIN), "2024-01-02 03:04:05 CET"),
        (datetime(2024, 7, 2, 3, 4, 5, 999, tzinfo=BERLIN), "2024-07-02 03:04:05 CEST"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2024-01-02 03:04:05 UTC"),
        (None, "None"),
    ],
    ids=["winter", "summer", "utc", "none"],
)
def test_datetime_repr_formats_with_the_zone_abbreviation(moment, expected):
    assert datetime_repr(moment) == expected


def test_timedelta_seconds_counts_fractions():
    assert timedelta_seconds(timedelta(days=1, milliseconds=500)) == 86400.5


def test_datetime_utc_add_adds_elapsed_time_across_dst():
    before_change = datetime(2024, 3, 31, 1, 30, tzinfo=BERLIN)

    later = datetime_utc_add(before_change, timedelta(hours=1))

    assert later.replace(tzinfo=None) == datetime(2024, 3, 31, 3, 30)
    # plain subtraction within one zone would compare wall clocks; timestamps measure time
    assert later.timestamp() - before_change.timestamp() == 3600


@pytest.mark.parametrize(
    "value", [date(2024, 2, 29), datetime(2024, 2, 29, 12, 0), "2024-02-29"], ids=repr
)
def test_asdate_accepts_dates_datetimes_and_iso_text(value):
    assert asdate(value) == date(2024, 2, 29)


def test_asdate_rejects_other_types():
    with pytest.raises(
        TypeError, match="Expected a date or an ISO 8601 date string, got 20240229"
    ):
        asdate(20240229)


# --- get_callable_name --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "func, expected",
    [
        (plain_function, "plain_function"),
        (Outer().method, "Outer.method"),
        (Outer.Inner().method, "Outer.Inner.method"),
        (Outer.Inner.class_method, "Outer.Inner.class_method"),
        (Outer.static_method, "Outer.static_method"),
        (Outer, "Outer"),
        (len, "len"),
        ([].append, "list.append"),
        (CallableInstance(), "CallableInstance"),
        (partial(plain_function), "plain_function"),
    ],
    ids=[
        "function",
        "bound-method",
        "nested-class-method",
        "class-method",
        "static-method",
        "class",
        "builtin",
        "builtin-method",
        "callable-instance",
        "partial",
    ],
)
def test_get_callable_name(func, expected):
    assert get_callable_name(func) == expected


# --- obj_to_ref, ref_to_obj, maybe_ref ----------------------------------------------------------


@pytest.mark.parametrize(
    "obj, ref",
    [
        (plain_function, "tests.test_util:plain_function"),
        (Outer, "tests.test_util:Outer"),
        (Outer.Inner.method, "tests.test_util:Outer.Inner.method"),
        (Outer.Inner.class_method, "tests.test_util:Outer.Inner.class_method"),
        (Outer.static_method, "tests.test_util:Outer.static_method"),
        (math.sqrt, "math:sqrt"),
        (len, "builtins:len"),
    ],
    ids=[
        "function",
        "class",
        "nested-class-method",
        "nested-class-method-bound-to-class",
        "static-method",
        "module-function",
        "builtin",
    ],
)
def test_references_resolve_back_to_the_same_object(obj, ref):
    assert obj_to_ref(obj) == ref
    assert ref_to_obj(ref) == obj


def test_reference_of_a_bound_method_names_the_method_of_its_class():
    assert obj_to_ref(Outer().method) == "tests.test_util:Outer.method"
    assert ref_to_obj("tests.test_util:Outer.method") is Outer.method


def test_inherited_class_method_is_referenced_through_the_subclass():
    ref = obj_to_ref(SubclassedFraction.from_float)

    assert ref == "tests.test_util:SubclassedFraction.from_float"
    assert ref_to_obj(ref)(0.5) == SubclassedFraction(1, 2)
    assert type(ref_to_obj(ref)(0.5)) is SubclassedFraction


def _nested_function():
    def nested() -> None:
        pass

    return nested


@pytest.mark.parametrize(
    "obj, message",
    [
        (partial(plain_function), "Cannot create a reference to a partial()"),
        (lambda: None, "Cannot create a reference to a lambda"),
        (_nested_function(), "Cannot create a reference to a nested function"),
    ],
    ids=["partial", "lambda", "nested-function"],
)
def test_obj_to_ref_refuses_callables_that_cannot_be_found_again(obj, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        obj_to_ref(obj)


def test_obj_to_ref_rejects_non_callables():
    with pytest.raises(TypeError, match="maybe it is not a callable"):
        obj_to_ref(5)


def test_ref_to_obj_requires_a_string():
    with pytest.raises(TypeError, match="References must be strings"):
        ref_to_obj(plain_function)


def test_ref_to_obj_requires_a_colon():
    with pytest.raises(ValueError, match="Invalid reference"):
        ref_to_obj("tests.test_util.plain_function")


def test_ref_to_obj_reports_a_missing_module_as_lookup_error():
    with pytest.raises(LookupError, match="no_such_module:func.*could not import module"):
        ref_to_obj("no_such_module:func")


def test_ref_to_obj_reports_a_missing_attribute_as_lookup_error():
    with pytest.raises(LookupError, match="tests.test_util:Outer.missing.*error looking up"):
        ref_to_obj("tests.test_util:Outer.missing")


def test_maybe_ref_resolves_text_and_passes_anything_else():
    assert maybe_ref("math:sqrt") is math.sqrt
    assert maybe_ref(math.sqrt) is math.sqrt
    assert maybe_ref(None) is None


# --- check_callable_args ------------------------------------------------------------------------


def two_args(a, b):
    pass


def positional_only(a, /):
    pass


def keyword_only(*, a):
    pass


def flexible(a, *args, b=1, **kwargs):
    pass


@pytest.mark.parametrize(
    "func, args, kwargs",
    [
        (two_args, (1, 2), {}),
        (two_args, (1,), {"b": 2}),
        (two_args, (), {"a": 1, "b": 2}),
        (positional_only, (1,), {}),
        (keyword_only, (), {"a": 1}),
        (flexible, (1, 2, 3), {"b": 4, "extra": 5}),
        (Outer().method, (), {}),
        (Outer.Inner, (), {}),
    ],
    ids=[
        "positional",
        "mixed",
        "keywords",
        "positional-only",
        "keyword-only",
        "var-args-and-var-kwargs",
        "bound-method-skips-self",
        "class-constructor",
    ],
)
def test_check_callable_args_accepts_matching_arguments(func, args, kwargs):
    check_callable_args(func, args, kwargs)


@pytest.mark.parametrize(
    "func, args, kwargs, message",
    [
        (two_args, (1,), {"a": 1}, "supplied in both args and kwargs: a"),
        (positional_only, (), {"a": 1}, "cannot be given as keyword arguments: a"),
        (two_args, (1,), {}, "The following arguments have not been supplied: b"),
        (keyword_only, (), {}, "keyword-only arguments have not been supplied in kwargs: a"),
        (
            two_args,
            (1, 2, 3),
            {},
            r"longer than the target callable can handle \(allowed: 2, given in args: 3\)",
        ),
        (two_args, (1, 2), {"c": 3}, "does not accept the following keyword arguments: c"),
    ],
    ids=[
        "argument-given-twice",
        "positional-only-as-keyword",
        "missing-argument",
        "missing-keyword-only-argument",
        "too-many-positional",
        "unknown-keyword",
    ],
)
def test_check_callable_args_names_each_problem(func, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_callable_args(func, args, kwargs)


def test_check_callable_args_accepts_callables_without_a_readable_signature():
    try:
        inspect.signature(max)
    except ValueError:
        pass
    else:  # pragma: no cover - depends on the Python version
        pytest.skip("max() has a readable signature on this Python")

    check_callable_args(max, (), {"anything": 1})


# --- iscoroutinefunction_partial ----------------------------------------------------------------


@pytest.mark.parametrize(
    "func, expected",
    [
        (coroutine_function, True),
        (partial(coroutine_function), True),
        (partial(partial(coroutine_function)), True),
        (Outer().async_method, True),
        (plain_function, False),
        (partial(plain_function), False),
        (CallableInstance(), False),
    ],
    ids=[
        "coroutine-function",
        "partial",
        "partial-of-partial",
        "async-bound-method",
        "plain-function",
        "partial-of-plain-function",
        "callable-instance",
    ],
)
def test_iscoroutinefunction_partial(func, expected):
    assert iscoroutinefunction_partial(func) is expected


# --- undefined ----------------------------------------------------------------------------------


def test_undefined_is_falsy_and_says_what_it_is():
    assert not undefined
    assert repr(undefined) == "<undefined>"


def test_undefined_survives_pickling_and_copying_as_itself():
    assert pickle.loads(pickle.dumps(undefined)) is undefined
    assert copy.deepcopy(undefined) is undefined
    assert copy.copy(undefined) is undefined


def test_naive_values_are_localized_with_pytz_zones_correctly():
    """pytz zones need their own localize(); attaching them with replace() gives LMT offsets."""
    pytz = pytest.importorskip("pytz")

    result = convert_to_datetime(datetime(2024, 7, 1, 9, 30), pytz.timezone("Europe/Berlin"), "x")

    assert result.utcoffset() == timedelta(hours=2)
