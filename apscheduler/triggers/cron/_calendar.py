"""
The shape of every month (the weekday of its first day and its length) from one small table.

Which days of a month a cron trigger's day fields match (without a week number condition)
depends on nothing but that shape, and there are only 28 shapes. The Gregorian calendar
repeats every 400 years (146,097 days, a whole number of weeks), so 4,800 bytes describe
every month there is.
"""

from __future__ import annotations

from datetime import date

#: the length of the calendar's cycle in years
CYCLE_YEARS = 400


def _build_shapes() -> bytes:
    shapes = bytearray()
    first_weekday = date(2000, 1, 1).weekday()  # 2000 starts a cycle (2000 % 400 == 0)
    for year in range(2000, 2000 + CYCLE_YEARS):
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        for length in (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31):
            shapes.append(first_weekday * 32 + length)
            first_weekday = (first_weekday + length) % 7

    return bytes(shapes)


#: ``MONTH_SHAPES[year % 400 * 12 + month - 1]`` is ``first weekday * 32 + length`` of that
#: month, the weekday counted from 0 = Monday
MONTH_SHAPES = _build_shapes()
#: the number of different shape codes (the largest is 6 * 32 + 31)
SHAPE_CODES = 6 * 32 + 32


def month_shape(year: int, month: int) -> int:
    """Return the shape code of a month: ``first weekday * 32 + length``."""
    return MONTH_SHAPES[year % CYCLE_YEARS * 12 + month - 1]
