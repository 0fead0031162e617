"""
Plain English descriptions of triggers, for people reading a list of jobs.

``str(trigger)`` shows a trigger's arguments (``cron[hour='3', day_of_week='mon-fri']``), which
is exact but asks the reader to know cron. Job listings, command line tools and dashboards want
a sentence instead: "at 03:00 on Monday to Friday (Europe/Berlin)". The wording
is built from the triggers' attributes, never from their ``str()``, and says only what the
trigger does: a cron field that reads awkwardly in words is listed as it is rather than guessed
at, and a trigger this module does not know is shown by its own ``str()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from numbers import Real
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.combining import AndTrigger, BaseCombiningTrigger, OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.cron.expressions import (
    AllExpression,
    LastDayOfMonthExpression,
    WeekdayPositionExpression,
)
from apscheduler.triggers.cron.fields import MAX_VALUES, MIN_VALUES, BaseField
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import datetime_repr

__all__ = ("describe_trigger",)

# English on purpose: the calendar module's names follow the process locale
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
POSITION_NAMES = ("1st", "2nd", "3rd", "4th", "5th", "last")
# A field needing more list items than this is shown as its cron expression instead.
MAX_LIST_ITEMS = 12
# Up to this many times of day are listed one by one ("at 09:00 and 17:00").
MAX_TIMES_OF_DAY = 6


class _NotInWords(Exception):
    """Raised when a cron field would read worse in words than as its expression."""


def describe_trigger(trigger: BaseTrigger) -> str:
    """
    Return what ``trigger`` does, in plain English: ``"every day at 03:00 (Europe/Berlin)"``.

    Every built-in trigger is described from its attributes, including its time zone, start
    and end dates and jitter. Any other trigger, a subclass of a built-in one included (it may
    fire differently), is shown by its ``str()``, as is a trigger whose description fails.

    .. versionadded:: 3.12.0

    :param trigger: the trigger to describe
    :return: a short, non-empty description
    """
    describer = _DESCRIBERS.get(type(trigger))
    if describer is None:
        return _fallback(trigger)

    try:
        return describer(trigger)
    except Exception:
        return _fallback(trigger)


def _fallback(trigger: BaseTrigger) -> str:
    """Return the trigger's own text, or its class name if even that fails."""
    try:
        text = str(trigger)
    except Exception:
        text = ""

    return text or f"{type(trigger).__name__} trigger"


# --- shared wording ------------------------------------------------------------------------


def _english_list(items: Sequence[str], conjunction: str = "and") -> str:
    """Join ``["a", "b", "c"]`` as ``"a, b and c"``."""
    if len(items) <= 1:
        return "".join(items)

    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _number(value: float) -> str:
    """Write a number of seconds without a needless ``.0`` (``30``, ``0.5``)."""
    if float(value).is_integer():
        return str(int(value))

    return repr(float(value))


def _zone_name(zone: tzinfo) -> str:
    return zone.key if isinstance(zone, ZoneInfo) else str(zone)


def _date_text(value: datetime | date) -> str:
    return datetime_repr(value) if isinstance(value, datetime) else value.isoformat()


def _bounds(start: datetime | date | None, end: datetime | date | None) -> str:
    """Return ``", from A until B"`` (either part may be missing), or ``""``."""
    text = ""
    if start is not None:
        text += f", from {_date_text(start)}"
    if end is not None:
        text += f" until {_date_text(end)}" if text else f", until {_date_text(end)}"

    return text


def _jitter(jitter: Any) -> str:
    if not jitter or not isinstance(jitter, Real):
        return ""

    return f", with up to {_number(float(jitter))} s of jitter"


def _count(amount: int, unit: str) -> str:
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


def _every(parts: Sequence[tuple[int, str]]) -> str:
    """Return ``"every hour"``, ``"every 2 hours"``, ``"every 1 hour 30 minutes"``."""
    given = [(amount, unit) for amount, unit in parts if amount]
    if len(given) == 1 and given[0][0] == 1:
        return f"every {given[0][1]}"

    return "every " + " ".join(_count(amount, unit) for amount, unit in given)


def _clock(hour: int, minute: int, second: int, with_seconds: bool) -> str:
    text = f"{hour:02d}:{minute:02d}"
    return f"{text}:{second:02d}" if with_seconds else text


# --- date -----------------------------------------------------------------------------------


def _describe_date(trigger: DateTrigger) -> str:
    run_date = trigger.run_date
    text = f"once, at {datetime_repr(run_date)}"
    zone = run_date.tzinfo
    if zone is not None and _zone_name(zone) != run_date.strftime("%Z"):
        text += f" ({_zone_name(zone)})"

    return text


# --- interval -------------------------------------------------------------------------------


def _interval_text(interval: timedelta) -> str:
    days, rest = interval.days, interval.seconds
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    weeks, days = (days // 7, 0) if days % 7 == 0 else (0, days)
    parts = [(weeks, "week"), (days, "day"), (hours, "hour"), (minutes, "minute")]
    if not interval.microseconds:
        return _every([*parts, (seconds, "second")])

    fraction = f"{seconds}.{interval.microseconds:06d}".rstrip("0")
    whole = [_count(amount, unit) for amount, unit in parts if amount]
    return "every " + " ".join([*whole, f"{fraction} seconds"])


def _describe_interval(trigger: IntervalTrigger) -> str:
    return (
        f"{_interval_text(trigger.interval)} ({_zone_name(trigger.timezone)})"
        f"{_bounds(trigger.start_date, trigger.end_date)}{_jitter(trigger.jitter)}"
    )


# --- calendar interval ----------------------------------------------------------------------


def _calendar_day(trigger: CalendarIntervalTrigger) -> str:
    """
    Return the day each fire date keeps, when the period keeps one: the day of the month for
    years and months, the weekday for weeks (both that of ``start_date``).
    """
    start = trigger.start_date
    if not (trigger.weeks or trigger.days):
        if trigger.months:
            return f" on day {start.day}"

        return f" on {MONTH_NAMES[start.month - 1]} {start.day}"

    if trigger.weeks and not (trigger.years or trigger.months or trigger.days):
        return f" on {WEEKDAY_NAMES[start.weekday()]}"

    return ""


def _describe_calendar_interval(trigger: CalendarIntervalTrigger) -> str:
    period = _every(
        [
            (trigger.years, "year"),
            (trigger.months, "month"),
            (trigger.weeks, "week"),
            (trigger.days, "day"),
        ]
    )
    time_of_day = trigger._time
    clock = _clock(
        time_of_day.hour, time_of_day.minute, time_of_day.second, bool(time_of_day.second)
    )
    return (
        f"{period}{_calendar_day(trigger)} at {clock} ({_zone_name(trigger.timezone)})"
        f"{_bounds(trigger.start_date, trigger.end_date)}{_jitter(trigger.jitter)}"
    )


# --- combining ------------------------------------------------------------------------------


def _describe_part(trigger: BaseTrigger) -> str:
    """Describe one combined trigger; a nested combination goes in parentheses."""
    text = describe_trigger(trigger)
    return f"({text})" if type(trigger) in (AndTrigger, OrTrigger) else text


def _describe_combination(trigger: BaseCombiningTrigger) -> str:
    lead = "when all of" if isinstance(trigger, AndTrigger) else "when any of"
    jitter = _jitter(trigger.jitter)
    if jitter:  # up front: at the end it would read as part of the last trigger
        lead += f" ({jitter.removeprefix(', ')})"

    return f"{lead}: {'; '.join(_describe_part(part) for part in trigger.triggers)}"


# --- cron -----------------------------------------------------------------------------------


def _field_values(field: BaseField) -> set[int]:
    """Return every value the field matches, leaving out the month dependent days."""
    low, high = MIN_VALUES[field.name], MAX_VALUES[field.name]
    values: set[int] = set()
    for expression in field.expressions:
        if type(expression).__module__ != AllExpression.__module__:
            raise _NotInWords  # a class of someone else's; its values are its own business

        values.update(value for value in expression._values(low, high) if low <= value <= high)

    return values


def _matches_all(values: set[int], name: str) -> bool:
    return len(values) == MAX_VALUES[name] - MIN_VALUES[name] + 1


def _rhythm(values: set[int], span: int) -> int | None:
    """Return ``n`` when ``values`` are every n-th value from 0 (1 for all), else ``None``."""
    if len(values) < 2 or span % len(values):
        return None

    step = span // len(values)
    return step if values == set(range(0, span, step)) else None


def _run_items(
    values: Iterable[int], show: Callable[[int], str] = str, through: str = "-"
) -> list[str]:
    """
    Return the values as list items, three or more consecutive ones as one range.

    :raises _NotInWords: if that takes more than :data:`MAX_LIST_ITEMS` items
    """
    runs: list[list[int]] = []
    for value in sorted(values):
        if runs and value == runs[-1][1] + 1:
            runs[-1][1] = value
        else:
            runs.append([value, value])

    items: list[str] = []
    for first, last in runs:
        if last - first >= 2:
            items.append(f"{show(first)}{through}{show(last)}")
        else:
            items.extend(show(value) for value in range(first, last + 1))

    if len(items) > MAX_LIST_ITEMS:
        raise _NotInWords

    return items


def _numbered(values: set[int], unit: str) -> str:
    """Return ``"hour 3"`` or ``"hours 1-5 and 22"``."""
    noun = unit if len(values) == 1 else f"{unit}s"
    return f"{noun} {_english_list(_run_items(values))}"


def _names(values: set[int], names: Sequence[str], first_value: int) -> str:
    items = _run_items(values, lambda value: names[value - first_value], " to ")
    return _english_list(items)


def _minute_and_second(minutes: set[int], second: int) -> str:
    text = _numbered(minutes, "minute")
    return f"second {second} of {text}" if second else text


def _time_phrase(hours: set[int], minutes: set[int], seconds: set[int]) -> tuple[str, bool]:
    """Return the time of day part, and whether it is a list of times of day."""
    hour_step, minute_step = _rhythm(hours, 24), _rhythm(minutes, 60)
    if len(seconds) != 1:
        return _sub_minute_phrase(hours, minutes, seconds), False

    (second,) = seconds
    if minute_step is None and hour_step is None and len(hours) * len(minutes) <= MAX_TIMES_OF_DAY:
        times = [
            _clock(hour, minute, second, bool(second))
            for hour in sorted(hours)
            for minute in sorted(minutes)
        ]
        return f"at {_english_list(times)}", True

    if minute_step is None:
        at = _minute_and_second(minutes, second)
        if hour_step == 1:
            return f"every hour at {at}", False
        if hour_step is not None:
            every = _every([(hour_step, "hour")])
            return (every if minutes == {0} and not second else f"{every} at {at}"), False

        return f"at {at} past {_numbered(hours, 'hour')}", False

    text = _every([(minute_step, "minute")])
    if second:
        text += f" at second {second}"
    if hour_step != 1:
        text += f" during {_numbered(hours, 'hour')}"

    return text, False


def _sub_minute_phrase(hours: set[int], minutes: set[int], seconds: set[int]) -> str:
    """Return the time part of a trigger that fires more than once a minute."""
    hour_step, minute_step, second_step = (
        _rhythm(hours, 24),
        _rhythm(minutes, 60),
        _rhythm(seconds, 60),
    )
    if second_step is not None:
        text = _every([(second_step, "second")])
    else:
        text = f"at {_numbered(seconds, 'second')}"
        if minute_step == 1:
            text = f"every minute {text}"

    if minute_step != 1:
        text += f" during {_numbered(minutes, 'minute')}"
    if hour_step != 1:
        text += f" {'during' if minute_step == 1 else 'of'} {_numbered(hours, 'hour')}"

    return text


def _special_day(expression: AllExpression) -> str:
    if isinstance(expression, LastDayOfMonthExpression):
        return "the last day"
    if isinstance(expression, WeekdayPositionExpression):
        position = POSITION_NAMES[expression.option_num]
        return f"the {position} {WEEKDAY_NAMES[expression.weekday]}"

    raise _NotInWords


def _day_text(field: BaseField) -> str | None:
    """Return the days of the month the field matches, or ``None`` for all of them."""
    numbers = _field_values(field)
    if _matches_all(numbers, "day"):
        return None

    specials: list[str] = []
    for expression in field.expressions:
        if expression._month_dependent:
            text = _special_day(expression)
            if text not in specials:
                specials.append(text)

    if not specials:
        return _numbered(numbers, "day")

    days = [f"day{'s' if '-' in item else ''} {item}" for item in _run_items(numbers)]
    return _english_list(days + specials)


def _date_phrase(fields: dict[str, BaseField]) -> tuple[str, bool]:
    """Return the calendar part (``""`` for every day), and whether it names days."""
    years, months = _field_values(fields["year"]), _field_values(fields["month"])
    weeks, weekdays = _field_values(fields["week"]), _field_values(fields["day_of_week"])
    days = _day_text(fields["day"])
    month_text = None if _matches_all(months, "month") else _names(months, MONTH_NAMES, 1)
    weekday_text = (
        None if _matches_all(weekdays, "day_of_week") else _names(weekdays, WEEKDAY_NAMES, 0)
    )

    parts: list[str] = []
    if days is not None:
        parts.append(f"on {days} of {month_text or 'every month'}")
    elif weekday_text is not None:
        parts.append(f"on {weekday_text}")

    if month_text is not None and days is None:
        parts.append(f"in {month_text}")
    if not _matches_all(weeks, "week"):
        parts.append(f"in ISO {_numbered(weeks, 'week')}")
    if not _matches_all(years, "year"):
        parts.append(f"in {_english_list(_run_items(years))}")

    text = " ".join(parts)
    if days is not None and weekday_text is not None:
        # both fields must match, unlike in crontab
        text += f", if it falls on {weekday_text}"

    return text, days is not None or weekday_text is not None


def _schedule_text(trigger: CronTrigger) -> str:
    """
    Return the cron schedule in words, without zone and bounds.

    :raises _NotInWords: if a field reads better as its expression
    """
    fields = {field.name: field for field in trigger.fields}
    if set(fields) != set(CronTrigger.FIELD_NAMES):
        raise ValueError(f"a cron trigger needs the fields {CronTrigger.FIELD_NAMES}")

    time_text, at_times = _time_phrase(
        _field_values(fields["hour"]),
        _field_values(fields["minute"]),
        _field_values(fields["second"]),
    )
    date_text, names_days = _date_phrase(fields)
    if at_times and not names_days:
        time_text = f"every day {time_text}"

    return f"{time_text} {date_text}" if date_text else time_text


def _field_listing(trigger: CronTrigger) -> str:
    """Return the fields that restrict anything, as their expressions."""
    listed = [
        f"{field.name}='{field}'"
        for field in trigger.fields
        if not any(expression._is_everything() for expression in field.expressions)
    ]
    return f"cron fields: {', '.join(listed)}" if listed else "every second"


def _describe_cron(trigger: CronTrigger) -> str:
    try:
        text = _schedule_text(trigger)
    except _NotInWords:
        text = _field_listing(trigger)

    return (
        f"{text} ({_zone_name(trigger.timezone)})"
        f"{_bounds(trigger.start_date, trigger.end_date)}{_jitter(trigger.jitter)}"
    )


_DESCRIBERS: dict[type[BaseTrigger], Callable[[Any], str]] = {
    CronTrigger: _describe_cron,
    IntervalTrigger: _describe_interval,
    DateTrigger: _describe_date,
    CalendarIntervalTrigger: _describe_calendar_interval,
    AndTrigger: _describe_combination,
    OrTrigger: _describe_combination,
}
