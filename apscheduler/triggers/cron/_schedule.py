"""
The compiled form of a cron trigger's fields: lookup tables for a fast wall-clock search.

Finding the next fire time one field at a time with expression objects (as the public
``get_next_value`` methods do) creates objects and calls methods for every step. Instead, each
field whose matching values never change (year, month, hour, minute, second, and the plain
day-of-month forms) is turned once into a table where ``table[x]`` is the smallest matching
value at or after ``x`` (or ``None``). The day is the only field whose matches depend on the
month (``last``, ``2nd fri``, month lengths, weekday and ISO week conditions), so the matching
days of a month are computed once per month and kept in a small cache.

The search works on naive wall-clock values only; the trigger maps the result to an instant.
How it does that when the clocks change depends on :attr:`CronSchedule.every_hour`.
"""

from __future__ import annotations

from bisect import bisect_left
from calendar import monthrange
from collections.abc import Sequence
from datetime import date
from typing import Any

from apscheduler.triggers.cron.expressions import AllExpression
from apscheduler.triggers.cron.fields import MAX_VALUES, MIN_VALUES, BaseField

WallTime = tuple[int, int, int, int, int, int]

# Tables are shared between triggers with the same field expressions (every "*/5" minute
# field gets the same tuple), which keeps many similar jobs cheap in memory.
_TABLE_CACHE: dict[Any, tuple[int | None, ...]] = {}
_TABLE_CACHE_LIMIT = 1024
# The matching days of this many months are remembered per trigger.
_MONTH_CACHE_LIMIT = 48


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


class CronSchedule:
    """
    Lookup tables built from the eight fields of a cron trigger.

    Two schedules built from equal fields compare equal (the month cache does not count).

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
        "_month_cache",
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

        day_field = by_name["day"]
        self._static_days = _condition(day_field)
        self._month_dependent_days: list[AllExpression] = [
            expr for expr in day_field.expressions if expr._month_dependent
        ]
        self._weeks = _condition(by_name["week"])
        self._weekdays = _condition(by_name["day_of_week"])
        self._month_cache: dict[int, tuple[int, ...]] = {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented

        return all(
            getattr(self, name) == getattr(other, name)
            for name in self.__slots__
            if name != "_month_cache"
        )

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the fields

    def _days_of_month(self, year: int, month: int) -> tuple[int, ...]:
        """Return the sorted matching days of a month, from the cache when possible."""
        key = year * 16 + month
        days = self._month_cache.get(key)
        if days is not None:
            return days

        first_weekday, month_length = monthrange(year, month)
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

        days = tuple(matching)
        if len(self._month_cache) >= _MONTH_CACHE_LIMIT:
            self._month_cache.clear()

        self._month_cache[key] = days
        return days

    def next_wall_time(
        self, year: int, month: int, day: int, hour: int, minute: int, second: int
    ) -> WallTime | None:
        """
        Return the earliest matching wall-clock time at or after the given one, or ``None``
        if nothing matches before the end of year 9999.

        Each pass either returns or moves the candidate past the current value of one field,
        resetting the less significant ones, so the loop ends after at most a few passes per
        year up to 9999, even for combinations that never match (such as February 30th).
        """
        years, months, hours = self._years, self._months, self._hours
        minutes, seconds = self._minutes, self._seconds
        while True:
            next_year = years[year] if year < len(years) else None
            if next_year is None:
                return None
            if next_year != year:
                year, month, day, hour, minute, second = next_year, 1, 1, 0, 0, 0

            next_month = months[month]
            if next_month is None:
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if next_month != month:
                month, day, hour, minute, second = next_month, 1, 0, 0, 0

            days = self._days_of_month(year, month)
            index = bisect_left(days, day)
            if index == len(days):
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if days[index] != day:
                day, hour, minute, second = days[index], 0, 0, 0

            next_hour = hours[hour]
            if next_hour is None:
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if next_hour != hour:
                hour, minute, second = next_hour, 0, 0

            next_minute = minutes[minute]
            if next_minute is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if next_minute != minute:
                minute, second = next_minute, 0

            next_second = seconds[second]
            if next_second is None:
                minute, second = minute + 1, 0
                continue

            return year, month, day, hour, minute, next_second
