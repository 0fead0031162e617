"""The ``cron`` trigger: fires on every wall-clock time that matches all of its fields."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from apscheduler.triggers._common import (
    ONE_MICROSECOND,
    UTC,
    check_jitter,
    check_state_version,
    pick_timezone,
    restore_datetime,
    to_utc,
    unwrap_slots_state,
)
from apscheduler.triggers._dst import end_of_repeated_time, resolve_wall_time
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron._schedule import CronSchedule
from apscheduler.triggers.cron.fields import (
    DEFAULT_VALUES,
    BaseField,
    DayOfMonthField,
    DayOfWeekField,
    MonthField,
    WeekField,
)
from apscheduler.util import astimezone, convert_to_datetime, datetime_repr

__all__ = ("CronTrigger",)

# Only clocks that do not follow PEP 495 can make a wall-clock match land before the search
# start; a few retries get past such a reading, and the cap keeps the search finite.
_MAX_WALL_TIME_RETRIES = 100
_ONE_SECOND = timedelta(seconds=1)


class CronTrigger(BaseTrigger):
    """
    Fires when the current wall-clock time matches all of the given fields, like cron.

    Omitted fields more significant than the least significant given one match everything;
    less significant ones take their minimum, except ``week`` and ``day_of_week``, which match
    everything. So ``CronTrigger(minute=5)`` fires at second 0 of minute 5 of every hour.
    Unlike crontab, ``day`` and ``day_of_week`` must *both* match, and weekdays count from
    0 = Monday.

    Daylight saving time is handled like cron does, and the same way on every zone:

    * a matching wall-clock time that the clocks skip (spring forward) fires at the first
      instant after the jump, so a daily 02:30 job still runs once that day (at 03:00 in
      Europe/Berlin); several skipped matches fire together as one;
    * a matching wall-clock time that occurs twice (fall back) fires on its first occurrence
      only; the repeated stretch does not fire again, so a daily job runs once and an
      every-minute job pauses during the second pass.

    The result is never earlier than, nor equal to, ``previous_fire_time``.

    :param year: 4-digit year
    :param month: month (1-12 or ``jan`` … ``dec``)
    :param day: day of the month (1-31, ``last``, ``2nd fri``, ``last sun``)
    :param week: ISO week (1-53)
    :param day_of_week: weekday (0-6 or ``mon`` … ``sun``; 0 is Monday)
    :param hour: hour (0-23)
    :param minute: minute (0-59)
    :param second: second (0-59)
    :param start_date: earliest possible date/time to fire on (inclusive)
    :param end_date: latest possible date/time to fire on (inclusive)
    :param timezone: time zone for the fields and for naive dates (default: ``start_date``'s,
        then ``end_date``'s, then the local zone)
    :param jitter: delay each fire time by a random 0 to ``jitter`` seconds, never past
        ``end_date``
    :raises ValueError: for a malformed expression (naming the field), or an ``end_date``
        before ``start_date``
    :raises TypeError: for a bad ``timezone``, ``jitter`` or date type
    """

    FIELD_NAMES: ClassVar[tuple[str, ...]] = (
        "year",
        "month",
        "day",
        "week",
        "day_of_week",
        "hour",
        "minute",
        "second",
    )
    FIELDS_MAP: ClassVar[dict[str, type[BaseField]]] = {
        "year": BaseField,
        "month": MonthField,
        "week": WeekField,
        "day": DayOfMonthField,
        "day_of_week": DayOfWeekField,
        "hour": BaseField,
        "minute": BaseField,
        "second": BaseField,
    }

    __slots__ = (
        "timezone",
        "start_date",
        "end_date",
        "fields",
        "jitter",
        "_schedule",
        "_start_utc",
        "_end_utc",
    )

    def __init__(
        self,
        year: int | str | None = None,
        month: int | str | None = None,
        day: int | str | None = None,
        week: int | str | None = None,
        day_of_week: int | str | None = None,
        hour: int | str | None = None,
        minute: int | str | None = None,
        second: int | str | None = None,
        start_date: datetime | date | str | None = None,
        end_date: datetime | date | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        self.timezone = pick_timezone(timezone, start_date, end_date)
        self.start_date = convert_to_datetime(start_date, self.timezone, "start_date")
        self.end_date = convert_to_datetime(end_date, self.timezone, "end_date")
        self.jitter = check_jitter(jitter)
        if self.start_date and self.end_date and to_utc(self.end_date) < to_utc(self.start_date):
            raise ValueError(
                f"end_date ({datetime_repr(self.end_date)}) cannot be earlier than start_date "
                f"({datetime_repr(self.start_date)})"
            )

        given = {
            "year": year,
            "month": month,
            "day": day,
            "week": week,
            "day_of_week": day_of_week,
            "hour": hour,
            "minute": minute,
            "second": second,
        }
        remaining = {name for name, value in given.items() if value is not None}
        self.fields: list[BaseField] = []
        fill_with_defaults = False
        for name in self.FIELD_NAMES:
            if name in remaining:
                exprs, is_default = given[name], False
                remaining.discard(name)
                # every field after the last given one takes its default (minimum) value
                fill_with_defaults = not remaining
            elif fill_with_defaults:
                exprs, is_default = DEFAULT_VALUES[name], True
            else:
                exprs, is_default = "*", True

            self.fields.append(self.FIELDS_MAP[name](name, exprs, is_default))

        self._prepare()

    @classmethod
    def from_crontab(cls, expr: str, timezone: str | tzinfo | None = None) -> CronTrigger:
        """
        Create a trigger from a standard five-field crontab expression.

        The fields are minute, hour, day of month, month and day of week. The day of week
        keeps this library's numbering (0 = Monday, unlike crontab's 0 = Sunday); weekday
        names (``mon-fri``) mean the same in both.

        :param expr: minute, hour, day of month, month, day of week, separated by whitespace
        :param timezone: time zone to use for the date/time calculations
        :raises ValueError: if there are not exactly five fields, or one is malformed
        """
        values = expr.split()
        if len(values) != 5:
            raise ValueError(
                f"Wrong number of fields in crontab expression {expr!r}; got {len(values)}, "
                f"expected 5"
            )

        return cls(
            minute=values[0],
            hour=values[1],
            day=values[2],
            month=values[3],
            day_of_week=values[4],
            timezone=timezone,
        )

    def _prepare(self) -> None:
        """Derive the lookup tables and UTC bounds from the public attributes."""
        self._schedule = CronSchedule(self.fields)
        self._start_utc = to_utc(self.start_date)
        self._end_utc = to_utc(self.end_date)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            start = previous_fire_time.astimezone(UTC) + ONE_MICROSECOND
        else:
            start = now.astimezone(UTC)

        if self._start_utc is not None and start < self._start_utc:
            start = self._start_utc

        try:
            match = self._first_match_from(start)
        except OverflowError:  # the search ran into the end of year 9999
            return None

        if match is None:
            return None

        candidate, candidate_utc = match
        end = self._end_utc
        if end is not None and candidate_utc > end:
            return None

        if self.jitter:
            jittered = self._apply_jitter(candidate_utc, self.jitter, now)
            assert jittered is not None
            if end is not None and jittered > end:
                jittered = end

            candidate = jittered.astimezone(self.timezone)

        return candidate

    def _first_match_from(self, start: datetime) -> tuple[datetime, datetime] | None:
        """
        Return the first matching instant at or after ``start`` (aware UTC), both in the
        trigger's zone and in UTC.
        """
        if start.microsecond:
            # cron matches whole seconds; round up so the result is never before ``start``
            start += timedelta(microseconds=1_000_000 - start.microsecond)

        tz = self.timezone
        local = start.astimezone(tz)
        wall: datetime = local
        if local.fold:
            # In the second pass of a repeated hour every reading already fired on its first
            # pass, so the search continues after the repetition.
            wall = end_of_repeated_time(local) or local
        elif tz.utcoffset(local - _ONE_SECOND) != tz.utcoffset(local):
            # The clocks may have jumped forward right at ``start``: the readings they skipped
            # fire at ``start`` too, so the search must begin just after the reading before.
            # (The check above, on wall-clock readings, is cheap and may be a false alarm.)
            just_before = (start - _ONE_SECOND).astimezone(tz)
            if tz.utcoffset(just_before) != tz.utcoffset(local):
                wall = min(local, just_before.replace(fold=0) + _ONE_SECOND)

        search = self._schedule.next_wall_time
        found = search(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)
        for _ in range(_MAX_WALL_TIME_RETRIES):
            if found is None:
                return None

            candidate, candidate_utc = resolve_wall_time(datetime(*found, tzinfo=tz))
            if candidate_utc >= start:
                return candidate, candidate_utc

            wall = datetime(*found) + timedelta(seconds=1)
            found = search(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)

        return None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 2,
            "timezone": self.timezone,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "fields": self.fields,
            "jitter": self.jitter,
        }

    def __setstate__(self, state: Any) -> None:
        state = unwrap_slots_state(state)
        check_state_version(state, 2, self)
        zone = astimezone(state["timezone"])
        assert zone is not None
        self.timezone = zone
        self.start_date = restore_datetime(state["start_date"], zone)
        self.end_date = restore_datetime(state["end_date"], zone)
        self.fields = list(state["fields"])
        self.jitter = state.get("jitter")
        self._prepare()

    def _field_options(self) -> list[str]:
        return [f"{field.name}='{field}'" for field in self.fields if not field.is_default]

    def __str__(self) -> str:
        return f"cron[{', '.join(self._field_options())}]"

    def __repr__(self) -> str:
        options = self._field_options()
        if self.start_date:
            options.append(f"start_date={datetime_repr(self.start_date)!r}")
        if self.end_date:
            options.append(f"end_date={datetime_repr(self.end_date)!r}")
        if self.jitter:
            options.append(f"jitter={self.jitter}")

        options.append(f"timezone='{self.timezone}'")
        return f"<{self.__class__.__name__} ({', '.join(options)})>"
