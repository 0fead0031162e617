"""The ``calendarinterval`` trigger: every n years/months/weeks/days, at a fixed time of day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from apscheduler import util
from apscheduler.clock import current_time
from apscheduler.triggers._common import (
    UTC,
    check_jitter,
    check_state_version,
    pick_timezone,
)
from apscheduler.triggers._dst import resolve_wall_time
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import _with_note, asdate, astimezone, timezone_repr as timezone_repr

# ``name as name``: a name this module had in APScheduler 3, which programs import from here.

__all__ = ("CalendarIntervalTrigger",)


def get_localzone() -> tzinfo:
    """The default zone of calendar interval triggers; test suites patch this name to pin it."""
    return util.get_localzone()


# Fire dates are searched from a little before the previous fire time's local date: a fire
# time moved past a skipped stretch of clock time (at most a day in the time zone database)
# lies after its own date.
_SEARCH_MARGIN = timedelta(days=2)
# Each step moves at least one day and the search starts at most a few days before the
# answer, so a handful of steps suffices; the cap only guards against surprises.
_MAX_STEPS = 1000


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be a whole number, got {value!r} ({type(value).__name__}) instead"
        )
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, got {value}")

    return value


def _check_time_part(name: str, value: Any, upper: int) -> int:
    # APScheduler 3 left these checks to datetime.time(), so its messages are those
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a whole number, got {value!r} (bool) instead")
    if not isinstance(value, int):
        error = TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
        raise _with_note(error, f"{name} must be a whole number, got {value!r}")
    if not 0 <= value <= upper:
        raise _with_note(ValueError(f"{name} must be in 0..{upper}"), f"{name} is {value}")

    return value


def _as_date(value: Any, name: str) -> date:
    try:
        return asdate(value)
    except TypeError:
        raise TypeError(
            f"{name} must be a date or an ISO 8601 date string, got {value!r} instead"
        ) from None
    except ValueError as exc:  # date.fromisoformat()'s message, as in APScheduler 3
        _with_note(exc, f"{name} is not an ISO 8601 date (YYYY-MM-DD): {value!r}")
        raise


class CalendarIntervalTrigger(BaseTrigger):
    """
    Fires on calendar dates a fixed number of years, months, weeks and days apart, always at
    the same wall-clock time.

    From one fire date to the next, the years and months are added first, keeping the day of
    the month (months where that day does not exist are skipped, so a trigger started on the
    31st fires only in 31-day months), then the weeks and days. Fire dates are counted from
    ``start_date``, so a late or jittered fire time does not shift the ones after it.

    Daylight saving time is handled like :class:`~apscheduler.triggers.cron.CronTrigger`
    does: a time of day that the clocks skip fires at the first instant after the jump (on
    the same day, unlike APScheduler 3, which moved such a fire time to the next day and kept
    the shifted date), and a time of day that occurs twice fires at its first occurrence.

    When there is no previous fire time, the first fire time is the first one at or after
    ``now``.

    .. versionadded:: 3.11.0

    :param years: number of years to wait
    :param months: number of months to wait
    :param weeks: number of weeks to wait
    :param days: number of days to wait
    :param hour: hour to run the task at
    :param minute: minute to run the task at
    :param second: second to run the task at
    :param start_date: first date to fire on (default: today in ``timezone``)
    :param end_date: last date to fire on (inclusive)
    :param timezone: time zone of the wall-clock time (default: the local zone)
    :param jitter: delay each fire time by a random 0 to ``jitter`` seconds
    :raises TypeError: for a non-integer count or time part, or a bad date type
    :raises ValueError: if all of the counts are zero, a value is out of range, or
        ``end_date`` is before ``start_date``
    """

    __slots__ = (
        "years",
        "months",
        "weeks",
        "days",
        "start_date",
        "end_date",
        "timezone",
        "jitter",
        "_time",
        "_cursor",
    )

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        self.years = _check_count("years", years)
        self.months = _check_count("months", months)
        self.weeks = _check_count("weeks", weeks)
        self.days = _check_count("days", days)
        if not (self.years or self.months or self.weeks or self.days):
            raise ValueError("interval must be at least 1 day long")

        self.timezone = pick_timezone(timezone, get_localzone=get_localzone)
        self._time = time(
            _check_time_part("hour", hour, 23),
            _check_time_part("minute", minute, 59),
            _check_time_part("second", second, 59),
            tzinfo=self.timezone,
        )
        if start_date is None:
            # reading the clock here (and only here) keeps get_next_fire_time pure
            self.start_date = current_time(self.timezone).date()
        else:
            self.start_date = _as_date(start_date, "start_date")

        self.end_date = _as_date(end_date, "end_date") if end_date is not None else None
        if self.end_date is not None and self.end_date < self.start_date:
            error = ValueError("end_date cannot be earlier than start_date")
            raise _with_note(error, f"start_date is {self.start_date}, end_date {self.end_date}")

        self.jitter = check_jitter(jitter)
        self._cursor: date | None = None

    def _add_months(self, start: date, day: int) -> date | None:
        """Return the first date ``years``/``months`` steps on from ``start`` with ``day``."""
        month_step = self.years * 12 + self.months
        month_index = start.year * 12 + start.month - 1
        # a valid day of month recurs within 12 steps, or 8 years for February 29th
        for _ in range(100):
            month_index += month_step
            year, month = divmod(month_index, 12)
            if year > 9999:
                return None
            try:
                return date(year, month + 1, day)
            except ValueError:
                continue  # no such day in that month (e.g. April 31st): skip the month

        return None  # pragma: no cover  # unreachable for a day that exists somewhere

    def _step(self, current: date) -> date | None:
        """Return the fire date after ``current``."""
        if self.years or self.months:
            moved = self._add_months(current, current.day)
            if moved is None:
                return None
        else:
            moved = current

        try:
            return moved + timedelta(days=self.weeks * 7 + self.days)
        except OverflowError:
            return None

    def _first_date_from(self, lower: date) -> date | None:
        """Return the earliest fire date that is not before ``lower`` (nor ``start_date``)."""
        start = self.start_date
        if lower <= start:
            return start

        day_step = self.weeks * 7 + self.days
        month_step = self.years * 12 + self.months
        if not month_step:
            periods = -((start - lower).days // day_step)
            try:
                return start + timedelta(days=periods * day_step)
            except OverflowError:
                return None

        if not day_step:
            # begin at the last month on the grid that is not after ``lower``'s month
            month_gap = (lower.year - start.year) * 12 + lower.month - start.month
            month_index = start.year * 12 + start.month - 1
            month_index += month_gap // month_step * month_step
            year, month = divmod(month_index, 12)
            if year > 9999:
                return None
            try:
                candidate: date | None = date(year, month + 1, start.day)
            except ValueError:  # that month lacks the day: the next grid month that has it
                candidate = self._add_months(date(year, month + 1, 1), start.day)
        else:
            # months and days combined move the day of month, so walk from a remembered
            # fire date (or the start); consecutive calls move forward only a little
            cursor = self._cursor
            candidate = cursor if cursor is not None and start <= cursor <= lower else start

        while candidate is not None and candidate < lower:
            candidate = self._step(candidate)

        if day_step and month_step and candidate is not None:
            self._cursor = candidate

        return candidate

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            threshold = previous_fire_time.astimezone(UTC)
        else:
            # the first fire time may be ``now`` itself, later ones must be after the last
            threshold = now.astimezone(UTC) - timedelta(microseconds=1)

        local_date = threshold.astimezone(self.timezone).date()
        try:
            lower = local_date - _SEARCH_MARGIN
        except OverflowError:
            lower = date.min

        fire_date = self._first_date_from(lower)
        hour, minute, second = self._time.hour, self._time.minute, self._time.second
        for _ in range(_MAX_STEPS):
            if fire_date is None or (self.end_date is not None and fire_date > self.end_date):
                return None

            wall = datetime(
                fire_date.year,
                fire_date.month,
                fire_date.day,
                hour,
                minute,
                second,
                tzinfo=self.timezone,
            )
            fire_time, fire_time_utc = resolve_wall_time(wall)
            if fire_time_utc > threshold:
                if self.jitter:
                    jittered = self._apply_jitter(fire_time_utc, self.jitter, now)
                    assert jittered is not None
                    fire_time = jittered.astimezone(self.timezone)

                return fire_time

            fire_date = self._step(fire_date)

        return None  # pragma: no cover  # see _MAX_STEPS

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "interval": [self.years, self.months, self.weeks, self.days],
            "time": [self._time.hour, self._time.minute, self._time.second],
            "timezone": self.timezone,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_state_version(state, 1, self)
        self.years, self.months, self.weeks, self.days = state["interval"]
        zone = astimezone(state["timezone"])
        assert zone is not None
        self.timezone = zone
        self.start_date = state["start_date"]
        self.end_date = state["end_date"]
        self.jitter = state.get("jitter")
        self._time = time(*state["time"]).replace(tzinfo=zone)
        self._cursor = None

    def __repr__(self) -> str:
        fields = [
            f"{name}={getattr(self, name)}"
            for name in ("years", "months", "weeks", "days")
            if getattr(self, name)
        ]
        fields.append(f"time={self._time.isoformat()!r}")
        fields.append(f"start_date='{self.start_date}'")
        if self.end_date:
            fields.append(f"end_date='{self.end_date}'")

        fields.append(f"timezone='{self.timezone}'")
        return f"{self.__class__.__name__}({', '.join(fields)})"
