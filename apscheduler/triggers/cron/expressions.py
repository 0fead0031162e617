"""
The expressions a cron field is made of: ``*``, ``*/n``, ``a-b/n``, month and weekday names,
``2nd fri``, ``last fri`` and ``last``.

Every expression can answer two questions. ``get_next_value(date, field)`` is the
general, date-by-date answer kept for code that uses these objects directly. The private
``_values()`` (and ``_month_values()`` for expressions whose answer depends on the month) lets
:class:`~apscheduler.triggers.cron.CronTrigger` precompute a lookup table once, which is what
makes its fire time search fast.

Instances are pickled by their attribute dict, with the attribute names of APScheduler 3
(``step``, ``first``, ``last``, ``option_num``, ``weekday``), so stored triggers written by
either library load in the other.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from apscheduler.util import _with_note, asint as asint

# ``name as name``: a name this module had in APScheduler 3, which programs import from here.

if TYPE_CHECKING:
    from apscheduler.triggers.cron.fields import BaseField

__all__ = (
    "AllExpression",
    "RangeExpression",
    "MonthRangeExpression",
    "WeekdayRangeExpression",
    "WeekdayPositionExpression",
    "LastDayOfMonthExpression",
    "WEEKDAYS",
    "MONTHS",
)

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _field_limits(field_name: str) -> tuple[int, int]:
    # imported here because the fields module imports this one
    from apscheduler.triggers.cron.fields import MAX_VALUES, MIN_VALUES

    return MIN_VALUES[field_name], MAX_VALUES[field_name]


def _as_number(value: int | str | None, what: str) -> int | None:
    if value is None or isinstance(value, int):
        return value

    try:
        return int(value)
    except ValueError as exc:  # int()'s message, as in APScheduler 3
        _with_note(exc, f"the {what} must be a whole number")
        raise


class AllExpression:
    """
    ``*`` (every value of the field) or ``*/n`` (every n-th value, counted from the minimum).

    :param step: the distance between two consecutive matching values, or ``None`` for all
    :raises ValueError: if the step is not a positive whole number
    """

    value_re = re.compile(r"\*(?:/(?P<step>\d+))?$")

    # a fallback for objects restored from old pickles that lack the attribute
    step: int | None = None

    #: whether the matching values depend on the month (only true for day-of-month specials)
    _month_dependent = False

    def __init__(self, step: int | str | None = None) -> None:
        self.step = _as_number(step, "step value")
        if self.step is not None and self.step <= 0:
            raise _with_note(
                ValueError("Increment must be higher than 0"), f"the step value is {self.step}"
            )

    def validate_range(self, field_name: str) -> None:
        """
        Check the expression against the value range of the field it is used in.

        :raises ValueError: if the step is larger than the field's whole range
        """
        minval, maxval = _field_limits(field_name)
        value_range = maxval - minval
        if self.step and self.step > value_range:
            raise ValueError(
                f"the step value ({self.step}) is higher than the total range of the "
                f"expression ({value_range})"
            )

    def get_next_value(self, date: Any, field: BaseField) -> int | None:
        """Return the smallest matching value of ``field`` at or after ``date``'s, or ``None``."""
        minval = field.get_min(date)
        maxval = field.get_max(date)
        value = max(field.get_value(date), minval)
        if self.step:
            # round up to the next value on the step grid, which starts at the minimum
            value += -(value - minval) % self.step

        return value if value <= maxval else None

    def _values(self, minval: int, maxval: int) -> Iterable[int]:
        """Return every matching value between the field limits (both inclusive)."""
        return range(minval, maxval + 1, self.step or 1)

    def _month_values(self, year: int, month: int) -> Iterable[int]:
        """Return the matching days of the given month (month dependent expressions only)."""
        return ()

    def _is_everything(self) -> bool:
        """Tell whether the expression matches every value, so the field adds no condition."""
        return type(self) is AllExpression and not self.step

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented

        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable objects compared by value

    def __str__(self) -> str:
        return f"*/{self.step}" if self.step else "*"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.step})"


class RangeExpression(AllExpression):
    """
    ``a`` (one value), ``a-b`` (inclusive range), ``a-b/n`` or ``a/n`` (every n-th value from
    ``a``, up to ``b`` or to the field maximum).

    :param first: the first value of the range
    :param last: the last value, or ``None``: with a step that means "up to the field maximum",
        without one it means the range holds ``first`` only
    :param step: the distance between two consecutive matching values
    :raises ValueError: if ``first`` is higher than ``last`` or a value is not a whole number
    """

    value_re = re.compile(r"(?P<first>\d+)(?:-(?P<last>\d+))?(?:/(?P<step>\d+))?$")

    def __init__(
        self,
        first: int | str,
        last: int | str | None = None,
        step: int | str | None = None,
    ) -> None:
        super().__init__(step)
        first_num = _as_number(first, "first value")
        last_num = _as_number(last, "last value")
        if first_num is None:
            raise ValueError("a range needs a first value")

        if last_num is None and step is None:
            last_num = first_num
        elif last_num is not None and first_num > last_num:
            error = ValueError("The minimum value in a range must not be higher than the maximum")
            raise _with_note(error, f"the range runs from {first_num} down to {last_num}")

        self.first = first_num
        self.last = last_num

    def validate_range(self, field_name: str) -> None:
        """
        Check the range against the limits of the field it is used in.

        :raises ValueError: if a bound falls outside the field or the step exceeds the range
        """
        minval, maxval = _field_limits(field_name)
        super().validate_range(field_name)
        if self.first < minval:
            raise ValueError(
                f"the first value ({self.first}) is lower than the minimum value ({minval})"
            )
        if self.last is not None and self.last > maxval:
            raise ValueError(
                f"the last value ({self.last}) is higher than the maximum value ({maxval})"
            )
        if self.first > maxval:
            # only "a/n" gets here (a range's last value or a lone value is checked above);
            # APScheduler 3 reports it as a step longer than the (negative) range, and so do we
            error = ValueError(
                f"the step value ({self.step}) is higher than the total range of the "
                f"expression ({maxval - self.first})"
            )
            raise _with_note(
                error,
                f"the first value ({self.first}) is higher than the maximum value ({maxval})",
            )

        value_range = (maxval if self.last is None else self.last) - self.first
        if self.step and self.step > value_range:
            raise ValueError(
                f"the step value ({self.step}) is higher than the total range of the "
                f"expression ({value_range})"
            )

    def get_next_value(self, date: Any, field: BaseField) -> int | None:
        """Return the smallest value in the range at or after ``date``'s, or ``None``."""
        minval = max(field.get_min(date), self.first)
        maxval = field.get_max(date)
        if self.last is not None:
            maxval = min(maxval, self.last)

        value = max(field.get_value(date), minval)
        if self.step:
            # the step grid of a range starts at its first value
            value += -(value - minval) % self.step

        return value if value <= maxval else None

    def _values(self, minval: int, maxval: int) -> Iterable[int]:
        last = maxval if self.last is None else min(self.last, maxval)
        return range(self.first, last + 1, self.step or 1)

    def _is_everything(self) -> bool:
        return False

    def _range_text(self, names: list[str] | None = None, offset: int = 0) -> str:
        def show(value: int) -> str:
            return names[value - offset] if names else str(value)

        if self.last is not None and self.last != self.first:
            return f"{show(self.first)}-{show(self.last)}"

        return show(self.first)

    def __str__(self) -> str:
        text = self._range_text()
        return f"{text}/{self.step}" if self.step else text

    def __repr__(self) -> str:
        args = [str(self.first)]
        if (self.last is not None and self.last != self.first) or self.step:
            args.append(str(self.last))
        if self.step:
            args.append(str(self.step))

        return f"{self.__class__.__name__}({', '.join(args)})"


def _name_index(names: list[str], name: str, what: str) -> int:
    try:
        return names.index(name.lower())
    except ValueError:
        raise ValueError(f'Invalid {what} name "{name}"') from None


class MonthRangeExpression(RangeExpression):
    """
    A month name (``jan``) or an inclusive range of month names (``mar-sep``).

    :raises ValueError: for an unknown month name or a range that runs backwards
    """

    value_re = re.compile(r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?$", re.IGNORECASE)

    def __init__(self, first: str, last: str | None = None) -> None:
        first_num = _name_index(MONTHS, first, "month") + 1
        last_num = _name_index(MONTHS, last, "month") + 1 if last else None
        super().__init__(first_num, last_num)

    def __str__(self) -> str:
        return self._range_text(MONTHS, offset=1)

    def __repr__(self) -> str:
        args = [f"'{MONTHS[self.first - 1]}'"]
        if self.last is not None and self.last != self.first:
            args.append(f"'{MONTHS[self.last - 1]}'")

        return f"{self.__class__.__name__}({', '.join(args)})"


class WeekdayRangeExpression(RangeExpression):
    """
    A weekday name (``mon``) or an inclusive range of weekday names (``mon-fri``).

    :raises ValueError: for an unknown weekday name or a range that runs backwards
    """

    value_re = re.compile(r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?$", re.IGNORECASE)

    def __init__(self, first: str, last: str | None = None) -> None:
        first_num = _name_index(WEEKDAYS, first, "weekday")
        last_num = _name_index(WEEKDAYS, last, "weekday") if last else None
        super().__init__(first_num, last_num)

    def __str__(self) -> str:
        return self._range_text(WEEKDAYS)

    def __repr__(self) -> str:
        args = [f"'{WEEKDAYS[self.first]}'"]
        if self.last is not None and self.last != self.first:
            args.append(f"'{WEEKDAYS[self.last]}'")

        return f"{self.__class__.__name__}({', '.join(args)})"


class WeekdayPositionExpression(AllExpression):
    """
    The n-th (``1st`` … ``5th``) or ``last`` given weekday of the month, e.g. ``2nd wed``.

    Used in the ``day`` field. A month without a 5th such weekday has no match.

    :raises ValueError: for an unknown position or weekday name
    """

    options = ["1st", "2nd", "3rd", "4th", "5th", "last"]
    value_re = re.compile(
        rf"(?P<option_name>{'|'.join(options)}) +(?P<weekday_name>[a-z]+)$", re.IGNORECASE
    )
    _month_dependent = True

    def __init__(self, option_name: str, weekday_name: str) -> None:
        super().__init__(None)
        try:
            self.option_num = self.options.index(option_name.lower())
        except ValueError:
            raise ValueError(f'Invalid weekday position "{option_name}"') from None

        self.weekday = _name_index(WEEKDAYS, weekday_name, "weekday")

    def _target_day(self, year: int, month: int) -> int | None:
        first_weekday, days_in_month = monthrange(year, month)
        first_hit = (self.weekday - first_weekday) % 7 + 1
        if self.option_num == 5:
            return first_hit + (days_in_month - first_hit) // 7 * 7

        day = first_hit + self.option_num * 7
        return day if day <= days_in_month else None

    def get_next_value(self, date: date, field: BaseField) -> int | None:
        """Return this month's matching day if it is not before ``date``'s day, else ``None``."""
        day = self._target_day(date.year, date.month)
        return day if day is not None and day >= date.day else None

    def _values(self, minval: int, maxval: int) -> Iterable[int]:
        return ()

    def _month_values(self, year: int, month: int) -> Iterable[int]:
        day = self._target_day(year, month)
        return () if day is None else (day,)

    def _is_everything(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"{self.options[self.option_num]} {WEEKDAYS[self.weekday]}"

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}('{self.options[self.option_num]}', "
            f"'{WEEKDAYS[self.weekday]}')"
        )


class LastDayOfMonthExpression(AllExpression):
    """``last``: the last day of the month, whatever its length. Used in the ``day`` field."""

    value_re = re.compile(r"last$", re.IGNORECASE)
    _month_dependent = True

    def __init__(self) -> None:
        super().__init__(None)

    def get_next_value(self, date: date, field: BaseField) -> int | None:
        """Return the number of the month's last day."""
        return monthrange(date.year, date.month)[1]

    def _values(self, minval: int, maxval: int) -> Iterable[int]:
        return ()

    def _month_values(self, year: int, month: int) -> Iterable[int]:
        return (monthrange(year, month)[1],)

    def _is_everything(self) -> bool:
        return False

    def __str__(self) -> str:
        return "last"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"
