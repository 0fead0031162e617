"""
The compiled form of a cron trigger's fields: lookup tables for a fast wall-clock search.

Finding the next fire time one field at a time with expression objects (as the public
``get_next_value`` methods do) creates objects and calls methods for every step. Instead, each
field whose matching values never change (year, month, hour, minute, second, and the plain
day-of-month forms) is turned once into a table where ``table[x]`` is the smallest matching
value at or after ``x`` (or ``None``). The day is the only field whose matches depend on the
month (``last``, ``2nd fri``, month lengths, weekday and ISO week conditions), so the matching
days of a month are computed once per month shape (its first weekday and length, see
:mod:`._calendar`), or once per month with an ISO week condition, and kept.

The search works on naive wall-clock values only; the trigger maps the result to an instant.
How it does that when the clocks change depends on :attr:`CronSchedule.every_hour`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from apscheduler.triggers.cron._calendar import CYCLE_YEARS, MONTH_SHAPES, SHAPE_CODES
from apscheduler.triggers.cron.expressions import (
    AllExpression,
    LastDayOfMonthExpression,
    WeekdayPositionExpression,
)
from apscheduler.triggers.cron.fields import MAX_VALUES, MIN_VALUES, BaseField

WallTime = tuple[int, int, int, int, int, int]

# Tables are shared between triggers with the same field expressions (every "*/5" minute
# field gets the same tuple), which keeps many similar jobs cheap in memory.
_TABLE_CACHE: dict[Any, tuple[int | None, ...]] = {}
_TABLE_CACHE_LIMIT = 1024
# The matching days of this many months are remembered per trigger.
_MONTH_CACHE_LIMIT = 48
# the month dependent day expressions whose days follow from the month's first weekday and length
_SHAPE_ONLY_EXPRESSIONS = (WeekdayPositionExpression, LastDayOfMonthExpression)
# Shape tables are shared between schedules with the same day conditions, like value tables.
_SHAPE_DAYS_CACHE: dict[Any, list[tuple[int, ...] | None]] = {}


def _expressions_key(field: BaseField) -> Any:
    return (
        field.name,
        tuple((type(expr), tuple(sorted(vars(expr).items()))) for expr in field.expressions),
    )


def _matching_values(field: BaseField) -> set[int]:
    minval, maxval = MIN_VALUES[field.name], MAX_VALUES[field.name]
    values: set[int] = set()
    for expr in field.expressions:
        values.update(expr._values(minval, maxval))

    return values


def next_value_table(field: BaseField) -> tuple[int | None, ...]:
    """
    Return a table mapping each value ``x`` (0 to the field maximum + 1) to the smallest
    matching value at or after ``x``, or ``None`` when no value that high matches.
    """
    try:
        key = _expressions_key(field)
        table = _TABLE_CACHE.get(key)
    except TypeError:  # an expression with unhashable attributes: just don't share
        key, table = None, None

    if table is None:
        allowed = _matching_values(field)
        maxval = MAX_VALUES[field.name]
        values: list[int | None] = [None] * (maxval + 2)
        upcoming: int | None = None
        for value in range(maxval, -1, -1):
            if value in allowed:
                upcoming = value
            values[value] = upcoming

        table = tuple(values)
        if key is not None and len(_TABLE_CACHE) < _TABLE_CACHE_LIMIT:
            _TABLE_CACHE[key] = table

    return table


def is_wildcard(field: BaseField) -> bool:
    """
    Tell whether a field has a plain wildcard (``*``, or its synonym ``*/1``) among its
    expressions.

    Only the spelling counts: ``0-23`` matches every hour too, but lists the hours like fixed
    times of day do, and so is the way to choose the other daylight saving time rule; a step
    (``*/2``) names some hours only, as ``0-23/2`` does.
    """
    return any(
        type(expr) is AllExpression and expr.step in (None, 1) for expr in field.expressions
    )


def _condition(field: BaseField) -> frozenset[int] | None:
    """Return the set of allowed values, or ``None`` when the field allows every value."""
    if any(expr._is_everything() for expr in field.expressions):
        return None

    return frozenset(_matching_values(field))


def _shape_days_table(
    static_days: frozenset[int] | None,
    month_dependent_days: list[AllExpression],
    weekdays: frozenset[int] | None,
    weeks: frozenset[int] | None,
) -> list[tuple[int, ...] | None] | None:
    """
    Return the table, filled in as months are searched, of the matching days of a month by its
    shape code (see :mod:`._calendar`), or ``None`` when the days depend on more than the shape:
    with a week number condition, or a month dependent expression of a type other than the
    built-in ones (which might look at the year or month itself).
    """
    if weeks is not None or any(
        type(expr) not in _SHAPE_ONLY_EXPRESSIONS for expr in month_dependent_days
    ):
        return None

    try:
        key: Any = (
            static_days,
            weekdays,
            tuple(
                (type(expr), tuple(sorted(vars(expr).items()))) for expr in month_dependent_days
            ),
        )
        table = _SHAPE_DAYS_CACHE.get(key)
    except TypeError:  # an expression with unhashable attributes: just don't share
        key, table = None, None

    if table is None:
        table = [None] * SHAPE_CODES
        if key is not None and len(_SHAPE_DAYS_CACHE) < _TABLE_CACHE_LIMIT:
            _SHAPE_DAYS_CACHE[key] = table

    return table


# what a schedule remembers from its use, which its equality ignores
_CACHES = frozenset({"_month_cache", "_shape_days", "last_fire"})


class CronSchedule:
    """
    Lookup tables built from the eight fields of a cron trigger.

    Two schedules built from equal fields compare equal (what they remember from use does
    not count).

    :param fields: the trigger's fields, in the order year, month, day, week, day_of_week,
        hour, minute, second
    """

    __slots__ = (
        "every_hour",
        "_years",
        "_months",
        "_hours",
        "_minutes",
        "_seconds",
        "_static_days",
        "_month_dependent_days",
        "_weeks",
        "_weekdays",
        "_first_hour",
        "_first_minute",
        "_first_second",
        "_no_time_of_day",
        "_month_cache",
        "_shape_days",
        "last_fire",
    )

    def __init__(self, fields: Sequence[BaseField]) -> None:
        by_name = {field.name: field for field in fields}
        #: whether the hour field is a wildcard, so that the trigger fires on every instant whose
        #: wall-clock reading matches (twice in a repeated hour, never in a skipped one)
        self.every_hour = is_wildcard(by_name["hour"])
        self._years = next_value_table(by_name["year"])
        self._months = next_value_table(by_name["month"])
        self._hours = next_value_table(by_name["hour"])
        self._minutes = next_value_table(by_name["minute"])
        self._seconds = next_value_table(by_name["second"])
        # where a day's matching times begin; a field that matches no value at all (only
        # possible with hand-made expressions) leaves no time of day to match
        first_hour, first_minute, first_second = self._hours[0], self._minutes[0], self._seconds[0]
        self._no_time_of_day = first_hour is None or first_minute is None or first_second is None
        self._first_hour = first_hour or 0
        self._first_minute = first_minute or 0
        self._first_second = first_second or 0

        day_field = by_name["day"]
        self._static_days = _condition(day_field)
        self._month_dependent_days: list[AllExpression] = [
            expr for expr in day_field.expressions if expr._month_dependent
        ]
        self._weeks = _condition(by_name["week"])
        self._weekdays = _condition(by_name["day_of_week"])
        self._month_cache: dict[int, tuple[int, ...]] = {}
        self._shape_days = _shape_days_table(
            self._static_days, self._month_dependent_days, self._weekdays, self._weeks
        )
        #: the trigger's last fire time found, the same instant in UTC (exactly what its
        #: ``astimezone(UTC)`` gives) and as a UTC reading in the trigger's zone, so that the
        #: next call, which the scheduler makes with that object, skips the conversions
        self.last_fire: tuple[datetime, datetime, datetime] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented

        return all(
            getattr(self, name) == getattr(other, name)
            for name in self.__slots__
            if name not in _CACHES
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the fields

    def _days_of_month(self, year: int, month: int) -> tuple[int, ...]:
        """Return the sorted matching days of a month, from the caches when possible."""
        shape = MONTH_SHAPES[year % CYCLE_YEARS * 12 + month - 1]
        shape_days = self._shape_days
        if shape_days is not None:
            days = shape_days[shape]
            if days is None:
                days = shape_days[shape] = self._matching_days(year, month, shape >> 5, shape & 31)
            return days

        key = year * 16 + month
        days = self._month_cache.get(key)
        if days is not None:
            return days

        days = self._matching_days(year, month, shape >> 5, shape & 31)
        if len(self._month_cache) >= _MONTH_CACHE_LIMIT:
            self._month_cache.clear()

        self._month_cache[key] = days
        return days

    def _matching_days(
        self, year: int, month: int, first_weekday: int, month_length: int
    ) -> tuple[int, ...]:
        allowed_days: frozenset[int] | set[int] | None = self._static_days
        if allowed_days is not None and self._month_dependent_days:
            allowed_days = set(allowed_days)
            for expr in self._month_dependent_days:
                allowed_days.update(expr._month_values(year, month))

        weekdays, weeks = self._weekdays, self._weeks
        matching = []
        for day in range(1, month_length + 1):
            if allowed_days is not None and day not in allowed_days:
                continue
            if weekdays is not None and (first_weekday + day - 1) % 7 not in weekdays:
                continue
            if weeks is not None and date(year, month, day).isocalendar()[1] not in weeks:
                continue
            matching.append(day)

        return tuple(matching)

    def next_wall_time(
        self, year: int, month: int, day: int, hour: int, minute: int, second: int
    ) -> WallTime | None:
        """
        Return the earliest matching wall-clock time at or after the given one, or ``None``
        if nothing matches before the end of year 9999.

        A search that starts just after a fire time (as every consecutive one does) overflows
        the second, then the minute, hour and often the day. So each overflow is carried to the
        next more significant field directly, and a field that moves resets the less
        significant ones to their first matching value (fixed for hour, minute and second),
        rather than searching again from the year.
        """
        years = self._years
        next_year = years[year] if year < len(years) else None
        if next_year is None or self._no_time_of_day:
            return None
        if next_year != year:
            return self._first_date_from(next_year, 1)

        next_month = self._months[month]
        if next_month is None:
            return self._first_date_from(year + 1, 1)
        if next_month != month:
            return self._first_date_from(year, next_month)

        shape_days = self._shape_days
        # _days_of_month's first lines, spelt out on the hot path
        known = (
            None
            if shape_days is None
            else shape_days[MONTH_SHAPES[year % CYCLE_YEARS * 12 + month - 1]]
        )
        days = self._days_of_month(year, month) if known is None else known

        index = bisect_left(days, day)
        if index < len(days) and days[index] == day:
            # the date matches: look for a time later that day
            hours, minutes = self._hours, self._minutes
            next_hour = hours[hour]
            if next_hour == hour:
                next_minute = minutes[minute]
                if next_minute == minute:
                    next_second = self._seconds[second]
                    if next_second is not None:
                        return year, month, day, hour, minute, next_second
                    next_minute = minutes[minute + 1]
                if next_minute is not None:
                    return year, month, day, hour, next_minute, self._first_second
                next_hour = hours[hour + 1]
            if next_hour is not None:
                return year, month, day, next_hour, self._first_minute, self._first_second
            index += 1

        if index < len(days):
            return self._first_time_on(year, month, days[index])

        return self._first_date_from(year, month + 1)

    def _first_time_on(self, year: int, month: int, day: int) -> WallTime:
        return year, month, day, self._first_hour, self._first_minute, self._first_second

    def _first_date_from(self, year: int, month: int) -> WallTime | None:
        """Return the first matching time in the first matching month from the given one."""
        years, months = self._years, self._months
        while True:
            if year >= len(years):
                return None
            next_year = years[year]
            if next_year is None:
                return None
            if next_year != year:
                year, month = next_year, 1

            next_month = months[month]
            if next_month is None:
                year, month = year + 1, 1
                continue

            days = self._days_of_month(year, next_month)
            if days:
                return self._first_time_on(year, next_month, days[0])

            month = next_month + 1
