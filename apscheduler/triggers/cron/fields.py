"""
The eight fields of a cron trigger and the value limits of each.

A field is a named list of expressions (see :mod:`apscheduler.triggers.cron.expressions`); a
value matches the field when it matches any of them. Fields are pickled by their attribute dict
(``name``, ``is_default``, ``expressions``), as APScheduler 3 does.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date, datetime
from typing import ClassVar

from apscheduler.triggers.cron.expressions import (
    AllExpression,
    LastDayOfMonthExpression,
    MonthRangeExpression,
    RangeExpression,
    WeekdayPositionExpression,
    WeekdayRangeExpression,
)
from apscheduler.util import _with_note

__all__ = (
    "BaseField",
    "WeekField",
    "DayOfMonthField",
    "DayOfWeekField",
    "MonthField",
    "MIN_VALUES",
    "MAX_VALUES",
    "DEFAULT_VALUES",
)

MIN_VALUES = {
    "year": 1970,
    "month": 1,
    "day": 1,
    "week": 1,
    "day_of_week": 0,
    "hour": 0,
    "minute": 0,
    "second": 0,
}
MAX_VALUES = {
    "year": 9999,
    "month": 12,
    "day": 31,
    "week": 53,
    "day_of_week": 6,
    "hour": 23,
    "minute": 59,
    "second": 59,
}
#: what an omitted field less significant than the least significant given field becomes
DEFAULT_VALUES: dict[str, int | str] = {
    "year": "*",
    "month": 1,
    "day": 1,
    "week": "*",
    "day_of_week": "*",
    "hour": 0,
    "minute": 0,
    "second": 0,
}
#: what separates the expressions of a field ("1-5, 10"), as APScheduler 3 named it
SEPARATOR = re.compile(" *, *")


class BaseField:
    """
    A field whose value is the same-named attribute of a datetime (year, month, hour, ...).

    :param name: the field name, one of the keys of :data:`MIN_VALUES`
    :param exprs: one expression or a comma separated list of them (an int is accepted too)
    :param is_default: whether the field was filled in rather than given by the user; default
        fields are left out of ``str()`` and ``repr()`` of the trigger
    :raises ValueError: for an unknown field name or an expression the field does not accept
    """

    #: whether the field is a component of a datetime (week and day of week are derived)
    REAL: ClassVar[bool] = True
    #: the expression classes tried, in order, on each comma separated part
    COMPILERS: ClassVar[list[type[AllExpression]]] = [AllExpression, RangeExpression]

    def __init__(self, name: str, exprs: int | str, is_default: bool = False) -> None:
        if name not in MIN_VALUES:
            raise ValueError(
                f"Unknown cron field name {name!r}; expected one of {', '.join(MIN_VALUES)}"
            )

        self.name = name
        self.is_default = is_default
        self.compile_expressions(exprs)

    def get_min(self, dateval: date) -> int:
        """Return the smallest value the field can take for ``dateval``."""
        return MIN_VALUES[self.name]

    def get_max(self, dateval: date) -> int:
        """Return the largest value the field can take for ``dateval``."""
        return MAX_VALUES[self.name]

    def get_value(self, dateval: date) -> int:
        """Return the field's value in ``dateval``."""
        value: int = getattr(dateval, self.name)
        return value

    def get_next_value(self, dateval: date) -> int | None:
        """Return the smallest matching value at or after ``dateval``'s, or ``None``."""
        candidates = [expr.get_next_value(dateval, self) for expr in self.expressions]
        matching = [value for value in candidates if value is not None]
        return min(matching) if matching else None

    def compile_expressions(self, exprs: int | str) -> None:
        """Parse a comma separated list of expressions into :attr:`expressions`."""
        self.expressions: list[AllExpression] = []
        for expr in SEPARATOR.split(str(exprs).strip()):
            self.compile_expression(expr.strip())

    def compile_expression(self, expr: str) -> None:
        """
        Parse one expression and append it to :attr:`expressions`.

        :raises ValueError: naming the expression and the field when it is malformed or out of
            the field's range
        """
        for compiler in self.COMPILERS:
            match = compiler.value_re.match(expr)
            if match:
                # APScheduler 3's messages: a malformed expression (an unknown name, a zero
                # step, a backwards range) says only what is wrong; one out of the field's range
                # is named in the message; both name the field in a note
                try:
                    compiled = compiler(**match.groupdict())
                except ValueError as exc:
                    _with_note(exc, f"in expression {expr!r} of the cron field {self.name!r}")
                    raise

                try:
                    compiled.validate_range(self.name)
                except ValueError as exc:
                    error = ValueError(f"Error validating expression {expr!r}: {exc}")
                    for note in getattr(exc, "__notes__", ()):
                        _with_note(error, note)
                    raise _with_note(error, f"in the cron field {self.name!r}") from None

                self.expressions.append(compiled)
                return

        raise ValueError(f'Unrecognized expression "{expr}" for field "{self.name}"')

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseField):
            return NotImplemented

        return (
            type(self) is type(other)
            and self.name == other.name
            and self.expressions == other.expressions
        )

    __hash__ = None  # type: ignore[assignment]  # mutable objects compared by value

    def __str__(self) -> str:
        return ",".join(str(expr) for expr in self.expressions)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}('{self.name}', '{self}')"


class WeekField(BaseField):
    """The ISO 8601 week number (1–53) of the date."""

    REAL = False

    def get_value(self, dateval: date) -> int:
        return dateval.isocalendar()[1]


class DayOfMonthField(BaseField):
    """The day of the month; also accepts ``last``, ``2nd fri`` and ``last fri``."""

    COMPILERS = BaseField.COMPILERS + [WeekdayPositionExpression, LastDayOfMonthExpression]

    def get_max(self, dateval: date) -> int:
        return monthrange(dateval.year, dateval.month)[1]


class DayOfWeekField(BaseField):
    """The day of the week, 0 (Monday) to 6 (Sunday); also accepts ``mon`` … ``sun``."""

    REAL = False
    COMPILERS = BaseField.COMPILERS + [WeekdayRangeExpression]

    def get_value(self, dateval: date | datetime) -> int:
        return dateval.weekday()


class MonthField(BaseField):
    """The month, 1–12; also accepts ``jan`` … ``dec``."""

    COMPILERS = BaseField.COMPILERS + [MonthRangeExpression]
