"""The ``interval`` trigger: fires at a fixed period of elapsed time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from numbers import Real
from typing import Any
from zoneinfo import ZoneInfo

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

    __slots__ = ("start_date", "_shape")

    #: timezone, end_date, interval, interval_length and jitter: one object shared by the
    #: triggers that have the same ones (every hourly job of a program, say)
    _shape: _Shape

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
        interval, interval_length = _period(weeks, days, hours, minutes, seconds)
        zone = pick_timezone(timezone, start_date, end_date, get_localzone=get_localzone)
        self._shape = _shape((zone, None, interval, interval_length, None))
        if start_date is None:
            # reading the clock here (and only here) keeps get_next_fire_time pure: the
            # scheduler's clock, else this module's datetime as in APScheduler 3 (tests patch it)
            clock = active_clock()
            now = datetime.now(zone) if clock is None else clock.now(zone)
            self.start_date = (now.astimezone(UTC) + interval).astimezone(zone)
        else:
            converted = convert_to_datetime(start_date, zone, "start_date")
            assert converted is not None
            self.start_date = converted

        converted_end = convert_to_datetime(end_date, zone, "end_date")
        checked_jitter = check_jitter(jitter)
        if converted_end is not None or checked_jitter is not None:
            self._shape = _shape((zone, converted_end, interval, interval_length, checked_jitter))
        if start_date is not None and converted_end is not None:
            if to_utc(converted_end) < to_utc(self.start_date):
                raise ValueError(
                    f"end_date ({datetime_repr(converted_end)}) cannot be earlier than "
                    f"start_date ({datetime_repr(self.start_date)})"
                )

    # The options kept in the shared _shape object: each reads and sets as a plain attribute.

    @property
    def timezone(self) -> tzinfo:
        """The zone of the fire times, and of naive dates given."""
        value: tzinfo = self._shape.values[0]
        return value

    @timezone.setter
    def timezone(self, value: tzinfo) -> None:
        self._change_shape(0, value)

    @property
    def end_date(self) -> datetime | None:
        """The latest possible fire time (``None``: none)."""
        value: datetime | None = self._shape.values[1]
        return value

    @end_date.setter
    def end_date(self, value: datetime | None) -> None:
        self._change_shape(1, value)

    @property
    def interval(self) -> timedelta:
        """The period."""
        value: timedelta = self._shape.values[2]
        return value

    @interval.setter
    def interval(self, value: timedelta) -> None:
        self._change_shape(2, value)

    @property
    def interval_length(self) -> float:
        """The period in seconds."""
        value: float = self._shape.values[3]
        return value

    @interval_length.setter
    def interval_length(self, value: float) -> None:
        self._change_shape(3, value)

    @property
    def jitter(self) -> float | None:
        """Up to this many seconds are added to each fire time at random."""
        value: float | None = self._shape.values[4]
        return value

    @jitter.setter
    def jitter(self, value: float | None) -> None:
        self._change_shape(4, value)

    def _change_shape(self, index: int, value: Any) -> None:
        try:
            values = list(self._shape.values)
        except AttributeError:  # a trigger made by __new__(), given its options one by one
            values = [None] * 5
        values[index] = value
        self._shape = _shape(tuple(values))

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        zone, end_date, interval, _length, jitter = self._shape.values
        next_fire_time: datetime
        try:
            if previous_fire_time is not None:  # one period on; inline, as every pass runs it
                next_fire_time = previous_fire_time.astimezone(UTC) + interval
            else:
                next_fire_time = self._first_period_boundary(now)
        except OverflowError:  # past the end of year 9999
            return None

        if jitter:
            jittered = self._apply_jitter(next_fire_time, jitter, now)
            assert jittered is not None
            next_fire_time = jittered

        # an aware end date compares with the UTC fire time as an instant, even in a DST fold
        if end_date is not None and next_fire_time > end_date:
            return None

        local = next_fire_time.astimezone(zone)
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

    def _first_period_boundary(self, now: datetime) -> datetime:
        """The first period boundary at or after ``now``, in UTC (a job with no fire time yet)."""
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
        if type(state) is dict and state.get("version") == 2 and _restores_plainly(state):
            # What a store holds for nearly every interval job, restored without the general
            # path's calls: listing a store's jobs runs this once per job.
            self.start_date = state["start_date"]
            zone, interval = state["timezone"], state["interval"]
            shape = _PLAIN_SHAPES.get((id(zone), interval))
            if shape is None:
                shape = _PLAIN_SHAPES[id(zone), interval] = _shape(
                    (zone, None, interval, interval.total_seconds(), None)
                )
            self._shape = shape
            return

        state = unwrap_slots_state(state)
        check_state_version(state, 2, self)
        zone = astimezone(state["timezone"])
        assert zone is not None
        self.start_date = restore_datetime(state["start_date"])
        interval = state["interval"]
        self._shape = _shape(
            (
                zone,
                restore_datetime(state["end_date"]),
                interval,
                interval.total_seconds(),
                state.get("jitter"),
            )
        )

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
    # plain ints and floats (nearly every call) find their entry at once; other values are
    # checked before the cache is asked: True or 1+0j would find the entry of 1
    for value in key:
        value_type = type(value)
        if value_type is not int and value_type is not float:
            break
    else:
        period = _PERIODS.get(key)
        if period is not None:
            return period

    names = ("weeks", "days", "hours", "minutes", "seconds")
    for name, value in zip(names, key, strict=True):
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


# The attributes that __slots__ named before they moved to the shared _shape, as APScheduler 3
# lists them: code that copies or compares triggers over ``type(trigger).__slots__`` reads
# them, not the two slots the instances have.
IntervalTrigger.__slots__ = (  # type: ignore[assignment]
    "timezone",
    "start_date",
    "end_date",
    "interval",
    "interval_length",
    "jitter",
)


class _Shape:
    """What many interval triggers have alike; never changed (a trigger takes another)."""

    __slots__ = ("values",)

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Shape):
            return self.values == other.values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.values)


# (zone identity, interval, its length, jitter and their types) -> shape; an end date is
# the trigger's own, as aware datetimes of different zones compare equal
_SHAPES: dict[tuple[Any, ...], _Shape] = {}
_SHAPES_LIMIT = 1024


# (zone identity, interval) -> the shape of a trigger restored by the plain path of
# __setstate__ (no end date, no jitter); the shape holds the zone, as in _SHAPES
_PLAIN_SHAPES: dict[tuple[int, timedelta], _Shape] = {}


def _restores_plainly(state: dict[str, Any]) -> bool:
    """
    Tell whether a version 2 state restores as it is: no end date or jitter, a plain interval,
    a zoneinfo zone (not one called "local") and a start date in no pytz zone.
    """
    zone = state["timezone"]
    start_date = state["start_date"]
    return (
        state["end_date"] is None
        and state.get("jitter") is None
        and type(state["interval"]) is timedelta
        and type(zone) is ZoneInfo
        and zone.key != "local"
        and type(start_date) is datetime
        and type(start_date.tzinfo) in _PLAIN_ZONE_TYPES
    )


_PLAIN_ZONE_TYPES = (ZoneInfo, type(UTC))


def _shape(values: tuple[Any, ...]) -> _Shape:
    zone, end_date, interval, length, jitter = values
    if end_date is not None:
        return _Shape(values)

    key = (id(zone), interval, length, jitter, type(interval), type(length), type(jitter))
    try:
        shape = _SHAPES.get(key)
    except TypeError:  # an unhashable value set by a subclass: not shared
        return _Shape(values)
    if shape is None:
        if len(_SHAPES) >= _SHAPES_LIMIT:
            _SHAPES.clear()
            _PLAIN_SHAPES.clear()
        # the shape holds the zone, so no other zone can take its id while it is in here
        shape = _SHAPES[key] = _Shape(values)
    return shape
