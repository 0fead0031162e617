"""The ``interval`` trigger: fires at a fixed period of elapsed time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from numbers import Real
from typing import Any

from apscheduler import util
from apscheduler._lazy import lazy_names
from apscheduler.clock import active_clock
from apscheduler.triggers._common import (
    UTC,
    check_jitter,
    check_state_version,
    pick_timezone,
    restore_datetime,
    to_utc,
    unwrap_slots_state,
)
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import _with_note, astimezone, convert_to_datetime, datetime_repr

__all__ = ("IntervalTrigger",)

# ``random``: a name of this module in APScheduler 3 (patching ``random.uniform`` through it
# pins the jitter), imported on first use.
__getattr__ = lazy_names(__name__, {"random": ("random", None)})

# Interval parts -> (timedelta, seconds). Programs add many jobs with the same few periods; each
# trigger then shares the timedelta and float objects instead of holding copies of its own.
_PERIODS: dict[tuple[Any, ...], tuple[timedelta, float]] = {}
_PERIODS_LIMIT = 256
_ZERO = timedelta(0)
_ONE_SECOND = timedelta(seconds=1)


def get_localzone() -> tzinfo:
    """The default zone of interval triggers; test suites patch this name to pin it."""
    return util.get_localzone()


class IntervalTrigger(BaseTrigger):
    """
    Fires every ``interval`` of elapsed time, starting at ``start_date``.

    The period is real elapsed time, computed on absolute (UTC) time: an hourly job keeps
    running every 60 minutes across daylight saving changes, so its wall-clock reading moves
    by the size of the change. Use :class:`~apscheduler.triggers.cron.CronTrigger` or
    :class:`~apscheduler.triggers.calendarinterval.CalendarIntervalTrigger` to stay on a
    wall-clock time.

    :param weeks: number of weeks to wait
    :param days: number of days to wait
    :param hours: number of hours to wait
    :param minutes: number of minutes to wait
    :param seconds: number of seconds to wait
    :param start_date: first fire time, and the origin of the period (default: now +
        interval)
    :param end_date: latest possible date/time to fire on (inclusive, jitter included)
    :param timezone: time zone of the returned fire times and of naive dates (default:
        ``start_date``'s, then ``end_date``'s, then the local zone)
    :param jitter: delay each fire time by a random 0 to ``jitter`` seconds
    :raises TypeError: if an interval part is not a number, or for a bad ``timezone``/``jitter``
    :raises ValueError: for a negative interval, or an ``end_date`` before ``start_date``
    """

    __slots__ = (
        "timezone",
        "start_date",
        "end_date",
        "interval",
        "interval_length",
        "jitter",
    )

    def __init__(
        self,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        start_date: datetime | date | str | None = None,
        end_date: datetime | date | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        self.interval, self.interval_length = _period(weeks, days, hours, minutes, seconds)
        self.timezone = pick_timezone(timezone, start_date, end_date, get_localzone=get_localzone)
        if start_date is None:
            # reading the clock here (and only here) keeps get_next_fire_time pure: the
            # scheduler's clock, else this module's datetime as in APScheduler 3 (tests patch it)
            clock = active_clock()
            now = datetime.now(self.timezone) if clock is None else clock.now(self.timezone)
            self.start_date = (now.astimezone(UTC) + self.interval).astimezone(self.timezone)
        else:
            converted = convert_to_datetime(start_date, self.timezone, "start_date")
            assert converted is not None
            self.start_date = converted

        self.end_date = convert_to_datetime(end_date, self.timezone, "end_date")
        self.jitter = check_jitter(jitter)
        if start_date is not None and self.end_date is not None:
            if to_utc(self.end_date) < to_utc(self.start_date):
                raise ValueError(
                    f"end_date ({datetime_repr(self.end_date)}) cannot be earlier than "
                    f"start_date ({datetime_repr(self.start_date)})"
                )

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        try:
            next_fire_time = self._next_period_boundary(previous_fire_time, now)
        except OverflowError:  # past the end of year 9999
            return None

        if self.jitter:
            jittered = self._apply_jitter(next_fire_time, self.jitter, now)
            assert jittered is not None
            next_fire_time = jittered

        # an aware end date compares with the UTC fire time as an instant, even in a DST fold
        if self.end_date is not None and next_fire_time > self.end_date:
            return None

        local = next_fire_time.astimezone(self.timezone)
        start_date = self.start_date
        if (
            local == start_date
            and local.tzinfo is start_date.tzinfo
            and local.fold == start_date.fold
        ):
            # The first fire time of a new job is its start date: hand out that very object, so
            # a job and its trigger share one datetime instead of holding two equal ones.
            return start_date

        return local

    def _next_period_boundary(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime:
        if previous_fire_time is not None:
            return previous_fire_time.astimezone(UTC) + self.interval

        # converted on each call rather than kept: this runs only when a job is added or
        # resumed, and every stored job would carry the converted copy
        start = self.start_date.astimezone(UTC)
        now_utc = now.astimezone(UTC)
        if now_utc <= start:
            return start

        # exact integer maths on timedeltas: the first period boundary at or after now
        periods = -((start - now_utc) // self.interval)
        return start + periods * self.interval

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 2,
            "timezone": self.timezone,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "interval": self.interval,
            "jitter": self.jitter,
        }

    def __setstate__(self, state: Any) -> None:
        state = unwrap_slots_state(state)
        check_state_version(state, 2, self)
        zone = astimezone(state["timezone"])
        assert zone is not None
        self.timezone = zone
        self.start_date = restore_datetime(state["start_date"])
        self.end_date = restore_datetime(state["end_date"])
        self.interval = state["interval"]
        self.interval_length = self.interval.total_seconds()
        self.jitter = state.get("jitter")

    def __str__(self) -> str:
        return f"interval[{self.interval}]"

    def __repr__(self) -> str:
        options = [
            f"interval={self.interval!r}",
            f"start_date={datetime_repr(self.start_date)!r}",
        ]
        if self.end_date:
            options.append(f"end_date={datetime_repr(self.end_date)!r}")
        if self.jitter:
            options.append(f"jitter={self.jitter}")

        return f"<{self.__class__.__name__} ({', '.join(options)}, timezone='{self.timezone}')>"


def _period(
    weeks: Any, days: Any, hours: Any, minutes: Any, seconds: Any
) -> tuple[timedelta, float]:
    """
    Return the interval as a timedelta and in seconds, shared with triggers of the same period.

    :raises TypeError: if a part is not a number
    :raises ValueError: if the interval is negative
    :raises OverflowError: if the interval is too long to represent (as in APScheduler 3)
    """
    key = (weeks, days, hours, minutes, seconds)
    names = ("weeks", "days", "hours", "minutes", "seconds")
    for name, value in zip(names, key, strict=True):
        # checked before the cache is asked: True or 1+0j would find the entry of 1
        value_type = type(value)
        if (
            value_type is not int
            and value_type is not float
            and (isinstance(value, bool) or not isinstance(value, Real))
        ):
            if isinstance(value, bool):
                raise TypeError(f"{name} must be a number, got {value!r} (bool) instead")

            # timedelta()'s message, which APScheduler 3 let through
            error = TypeError(
                f"unsupported type for timedelta {name} component: {value_type.__name__}"
            )
            raise _with_note(error, f"{name} must be a number, got {value!r}")

    period = _PERIODS.get(key)
    if period is not None:
        return period

    parts = dict(zip(names, key, strict=True))
    try:
        interval = timedelta(**parts)
    except OverflowError as exc:  # timedelta()'s error, as in APScheduler 3
        given = ", ".join(f"{name}={value}" for name, value in parts.items() if value)
        _with_note(exc, f"The interval is too long to represent: {given}")
        raise

    if interval < _ZERO:
        raise ValueError(f"The interval must not be negative, got {interval}")
    if not interval:
        # as in APScheduler 3: a zero interval means "every second"
        interval = _ONE_SECOND

    period = (interval, interval.total_seconds())
    if len(_PERIODS) >= _PERIODS_LIMIT:
        _PERIODS.clear()
    _PERIODS[key] = period
    return period
