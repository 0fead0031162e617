"""Cron fields and expressions: parsing, the public value methods, equality, text forms."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.cron.expressions import (
    MONTHS,
    WEEKDAYS,
    AllExpression,
    LastDayOfMonthExpression,
    MonthRangeExpression,
    RangeExpression,
    WeekdayPositionExpression,
    WeekdayRangeExpression,
)
from apscheduler.triggers.cron.fields import (
    DEFAULT_VALUES,
    MAX_VALUES,
    MIN_VALUES,
    BaseField,
    DayOfMonthField,
    DayOfWeekField,
    MonthField,
    WeekField,
)


def test_names_and_limits():
    assert WEEKDAYS[0] == "mon" and WEEKDAYS[6] == "sun"
    assert MONTHS[0] == "jan" and MONTHS[11] == "dec"
    assert (MIN_VALUES["year"], MAX_VALUES["year"]) == (1970, 9999)
    assert (MIN_VALUES["day_of_week"], MAX_VALUES["day_of_week"]) == (0, 6)
    assert (MIN_VALUES["week"], MAX_VALUES["week"]) == (1, 53)
    assert DEFAULT_VALUES["week"] == DEFAULT_VALUES["day_of_week"] == "*"
    assert DEFAULT_VALUES["second"] == 0


@pytest.mark.parametrize(
    "field_class, name, text, expected",
    [
        (BaseField, "hour", "*", [AllExpression()]),
        (BaseField, "minute", "*/15", [AllExpression(15)]),
        (BaseField, "hour", "9-17/2", [RangeExpression(9, 17, 2)]),
        (BaseField, "second", "5/10", [RangeExpression(5, None, 10)]),
        (BaseField, "hour", " 1 , 5 ", [RangeExpression(1), RangeExpression(5)]),
        (MonthField, "month", "JAN-mar", [MonthRangeExpression("jan", "mar")]),
        (DayOfWeekField, "day_of_week", "sun", [WeekdayRangeExpression("sun")]),
        (DayOfMonthField, "day", "Last", [LastDayOfMonthExpression()]),
        (DayOfMonthField, "day", "3rd  Fri", [WeekdayPositionExpression("3rd", "fri")]),
        (WeekField, "week", "1-53/4", [RangeExpression(1, 53, 4)]),
    ],
    ids=[
        "all",
        "all-step",
        "range-step",
        "open-range-step",
        "list-with-spaces",
        "month-names-any-case",
        "weekday-name",
        "last-day",
        "weekday-position",
        "week-range",
    ],
)
def test_expressions_are_parsed(field_class, name, text, expected):
    assert field_class(name, text).expressions == expected


def test_field_attributes_are_the_three_of_apscheduler_3():
    field = DayOfWeekField("day_of_week", "mon-fri", is_default=False)

    assert vars(field) == {
        "name": "day_of_week",
        "is_default": False,
        "expressions": [WeekdayRangeExpression("mon", "fri")],
    }


@pytest.mark.parametrize(
    "expression, attributes",
    [
        (AllExpression(3), {"step": 3}),
        (RangeExpression(2, 6), {"step": None, "first": 2, "last": 6}),
        (RangeExpression(2), {"step": None, "first": 2, "last": 2}),
        (MonthRangeExpression("feb"), {"step": None, "first": 2, "last": 2}),
        (WeekdayRangeExpression("tue", "thu"), {"step": None, "first": 1, "last": 3}),
        (WeekdayPositionExpression("last", "sun"), {"step": None, "option_num": 5, "weekday": 6}),
        (LastDayOfMonthExpression(), {"step": None}),
    ],
    ids=["all", "range", "single", "month", "weekday-range", "position", "last-day"],
)
def test_expression_attributes_match_apscheduler_3(expression, attributes):
    assert vars(expression) == attributes


@pytest.mark.parametrize(
    "expression, text, representation",
    [
        (AllExpression(), "*", "AllExpression(None)"),
        (AllExpression(5), "*/5", "AllExpression(5)"),
        (RangeExpression(3), "3", "RangeExpression(3)"),
        (RangeExpression(3, 7), "3-7", "RangeExpression(3, 7)"),
        (RangeExpression(3, None, 2), "3/2", "RangeExpression(3, None, 2)"),
        (RangeExpression(3, 9, 2), "3-9/2", "RangeExpression(3, 9, 2)"),
        (MonthRangeExpression("mar", "may"), "mar-may", "MonthRangeExpression('mar', 'may')"),
        (WeekdayRangeExpression("sat"), "sat", "WeekdayRangeExpression('sat')"),
        (
            WeekdayPositionExpression("2nd", "wed"),
            "2nd wed",
            "WeekdayPositionExpression('2nd', 'wed')",
        ),
        (LastDayOfMonthExpression(), "last", "LastDayOfMonthExpression()"),
    ],
    ids=[
        "all",
        "all-step",
        "single",
        "range",
        "open-step",
        "range-step",
        "months",
        "weekday",
        "position",
        "last-day",
    ],
)
def test_expression_str_and_repr(expression, text, representation):
    assert str(expression) == text
    assert repr(expression) == representation


def test_field_repr():
    assert repr(MonthField("month", "jan,6")) == "MonthField('month', 'jan,6')"


def test_equality_compares_class_and_values():
    assert AllExpression(2) == AllExpression("2")
    assert AllExpression(2) != AllExpression(3)
    assert RangeExpression(1, 5) != WeekdayRangeExpression("tue", "sat")
    assert BaseField("hour", "1-5") == BaseField("hour", "1-5")
    assert BaseField("hour", "1-5") != BaseField("minute", "1-5")
    assert DayOfWeekField("day_of_week", "0") != BaseField("day_of_week", "0")


@pytest.mark.parametrize(
    "field, dateval, expected",
    [
        (BaseField("minute", "*/15"), datetime(2024, 5, 1, 10, 16), 30),
        (BaseField("minute", "*/15"), datetime(2024, 5, 1, 10, 46), None),
        (BaseField("hour", "9-17/4,20"), datetime(2024, 5, 1, 14), 17),
        (BaseField("hour", "9-17/4,20"), datetime(2024, 5, 1, 18), 20),
        (DayOfMonthField("day", "last"), date(2024, 2, 10), 29),
        (DayOfMonthField("day", "*/10"), date(2024, 2, 22), None),
        (DayOfMonthField("day", "1st fri"), date(2024, 5, 2), 3),
        (DayOfMonthField("day", "1st fri"), date(2024, 5, 4), None),
        (DayOfWeekField("day_of_week", "sat-sun"), date(2024, 5, 1), 5),
        (WeekField("week", "20-22"), date(2024, 5, 1), 20),
        (MonthField("month", "sep-nov"), date(2024, 5, 1), 9),
    ],
    ids=[
        "minute-step",
        "minute-step-past-the-end",
        "hour-list",
        "hour-list-second-part",
        "last-day-of-leap-february",
        "day-step-past-month-end",
        "first-friday",
        "first-friday-passed",
        "weekend",
        "iso-week",
        "month-range",
    ],
)
def test_get_next_value_of_fields(field, dateval, expected):
    """The per-field methods of APScheduler 3 still work for code that calls them."""
    assert field.get_next_value(dateval) == expected


@pytest.mark.parametrize(
    "field, expression, message, notes",
    [
        (
            "minute",
            "*/0",
            "Increment must be higher than 0",
            ["the step value is 0", "in expression '*/0' of the cron field 'minute'"],
        ),
        (
            "minute",
            "*/60",
            (
                "Error validating expression '*/60': the step value (60) is higher than the total "
                "range of the expression (59)"
            ),
            ["in the cron field 'minute'"],
        ),
        (
            "hour",
            "25",
            (
                "Error validating expression '25': the last value (25) is higher than the maximum "
                "value (23)"
            ),
            ["in the cron field 'hour'"],
        ),
        (
            "minute",
            "50/10",
            (
                "Error validating expression '50/10': the step value (10) is higher than the total "
                "range of the expression (9)"
            ),
            ["in the cron field 'minute'"],
        ),
        (
            # APScheduler 3's words for a start beyond the field; the note says it plainly
            "hour",
            "30/2",
            (
                "Error validating expression '30/2': the step value (2) is higher than the total "
                "range of the expression (-7)"
            ),
            [
                "the first value (30) is higher than the maximum value (23)",
                "in the cron field 'hour'",
            ],
        ),
        (
            "day",
            "0",
            (
                "Error validating expression '0': the first value (0) is lower than the minimum "
                "value (1)"
            ),
            ["in the cron field 'day'"],
        ),
        (
            "year",
            "1969",
            (
                "Error validating expression '1969': the first value (1969) is lower than the "
                "minimum value (1970)"
            ),
            ["in the cron field 'year'"],
        ),
        (
            "hour",
            "17-9",
            "The minimum value in a range must not be higher than the maximum",
            ["the range runs from 17 down to 9", "in expression '17-9' of the cron field 'hour'"],
        ),
        (
            "day_of_week",
            "fri-mon",
            "The minimum value in a range must not be higher than the maximum",
            [
                "the range runs from 4 down to 0",
                "in expression 'fri-mon' of the cron field 'day_of_week'",
            ],
        ),
        (
            "month",
            "foo",
            'Invalid month name "foo"',
            ["in expression 'foo' of the cron field 'month'"],
        ),
        (
            "day_of_week",
            "mon-xyz",
            'Invalid weekday name "xyz"',
            ["in expression 'mon-xyz' of the cron field 'day_of_week'"],
        ),
        (
            "day",
            "2nd fry",
            'Invalid weekday name "fry"',
            ["in expression '2nd fry' of the cron field 'day'"],
        ),
        (
            "week",
            "0",
            (
                "Error validating expression '0': the first value (0) is lower than the minimum "
                "value (1)"
            ),
            ["in the cron field 'week'"],
        ),
    ],
    ids=[
        "zero-step",
        "step-larger-than-range",
        "hour-out-of-range",
        "open-range-step-too-large",
        "open-range-start-out-of-range",
        "day-zero",
        "year-before-1970",
        "backwards-range",
        "backwards-weekday-range",
        "unknown-month",
        "unknown-weekday",
        "unknown-weekday-in-position",
        "week-zero",
    ],
)
def test_invalid_expressions_name_the_expression_and_field(field, expression, message, notes):
    """APScheduler 3's message, word for word; the field (and any detail) is in notes."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}") as caught:
        CronTrigger(timezone="UTC", **{field: expression})

    assert str(caught.value) == message
    assert caught.value.__notes__ == notes


@pytest.mark.parametrize(
    "field, value, shown",
    [
        ("hour", "x", "x"),
        ("day", "6th fri", "6th fri"),
        ("hour", "mon", "mon"),
        ("minute", "1,,2", ""),
        ("minute", 1.5, "1.5"),
        ("month", "jan/2", "jan/2"),
    ],
    ids=[
        "garbage",
        "sixth-weekday",
        "name-in-numeric-field",
        "empty-list-item",
        "float",
        "step-on-a-name",
    ],
)
def test_unrecognized_expressions_name_the_field(field, value, shown):
    message = f'Unrecognized expression "{shown}" for field "{field}"'

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        CronTrigger(timezone="UTC", **{field: value})


def test_unknown_field_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown cron field name 'fortnight'"):
        BaseField("fortnight", "*")


def test_expression_constructors_validate_too():
    with pytest.raises(ValueError, match="^Increment must be higher than 0"):
        AllExpression(0)
    with pytest.raises(ValueError, match=r'Invalid weekday position "9th"'):
        WeekdayPositionExpression("9th", "mon")
