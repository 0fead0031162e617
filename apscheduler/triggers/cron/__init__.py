"""The ``cron`` trigger: fires on every wall-clock time that matches all of its fields."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone as timezone, tzinfo
from typing import Any, ClassVar, cast

from apscheduler import util
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
from apscheduler.triggers.cron._schedule import CronSchedule, WallTime
from apscheduler.triggers.cron.fields import (
    DEFAULT_VALUES,
    BaseField,
    DayOfMonthField,
    DayOfWeekField,
    MonthField,
    WeekField,
)
from apscheduler.util import (
    _with_note,
    astimezone,
    convert_to_datetime,
    datetime_ceil as datetime_ceil,
    datetime_repr,
    datetime_utc_add as datetime_utc_add,
)

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

__all__ = ("CronTrigger",)


def get_localzone() -> tzinfo:
    """The default zone of cron triggers; test suites patch this name to pin it."""
    return util.get_localzone()


# Only clocks that do not follow PEP 495 can make a wall-clock match land before the search
# start; a few retries get past such a reading, and the cap keeps the search finite.
_MAX_WALL_TIME_RETRIES = 100
_ONE_SECOND = timedelta(seconds=1)
# A reading in the first pass of a repeated stretch has another offset a day's readings later:
# true of every fall-back of the zone database from 1900 to 2100 (none lasts a day, and none is
# undone within a day).
_FOLD_HORIZON = timedelta(days=1)
# the public attributes the lookup tables and UTC bounds are derived from
_DERIVED_FROM = frozenset({"timezone", "start_date", "end_date", "fields"})


def _parts(wall: datetime) -> WallTime:
    return wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second


def _second_occurrence(found: WallTime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return the later of the two instants of a repeated reading, in ``tz`` and in UTC."""
    moment = datetime(*found, tzinfo=tz, fold=1)
    return moment, moment.astimezone(UTC)


def _existing_reading(wall: datetime, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """
    Return the instant of a reading (``fold=0``) that the clocks show, as ``wall.astimezone(UTC)``
    and as a UTC reading in ``tz`` (what ``astimezone`` hands to ``tz.fromutc``), or ``None``
    when :func:`resolve_wall_time` must decide (a skipped reading, or a zone without offsets).

    The same test as :func:`resolve_wall_time`'s, with the way back to the zone made by
    ``tz.fromutc`` directly.
    """
    offset = tz.utcoffset(wall)
    if offset is None:
        return None

    as_utc_reading = wall - offset
    offset_after = tz.utcoffset(tz.fromutc(as_utc_reading))
    if offset_after is None or offset_after > offset:
        return None

    return wall.astimezone(UTC), as_utc_reading


class _CronTriggerState(BaseTrigger):
    """
    Holds what a cron trigger derives from its public attributes, in slots of its own.

    So :class:`CronTrigger` lists in ``__slots__`` only the five attributes of APScheduler 3,
    and code that copies or compares triggers slot by slot over ``type(trigger).__slots__``
    sees just those. Rebinding one of them drops the derived state; it is rebuilt on next use.
    """

    __slots__ = ("_schedule", "_start_utc", "_end_utc")

    _schedule: CronSchedule | None

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _DERIVED_FROM:
            object.__setattr__(self, "_schedule", None)


class CronTrigger(_CronTriggerState):
    """
    Fires when the current wall-clock time matches all of the given fields, like cron.

    Omitted fields more significant than the least significant given one match everything;
    less significant ones take their minimum, except ``week`` and ``day_of_week``, which match
    everything. So ``CronTrigger(minute=5)`` fires at second 0 of minute 5 of every hour.
    Unlike crontab, ``day`` and ``day_of_week`` must *both* match, and weekdays count from
    0 = Monday.

    Daylight saving time is handled like Vixie cron does, and the same way on every zone. The
    hour field chooses the rule:

    * a wildcard hour (``*`` or ``*/1``; what an omitted hour becomes when ``minute`` or
      ``second`` is given) follows the wall clock: the trigger fires at every instant the clock
      shows a matching time. So an hourly or every-30-minutes job fires in both passes of a
      repeated hour (fall back; the second pass has ``fold=1``), keeping its rhythm in real
      time, and never for times that the clocks skip (spring forward): ``minute=30`` in
      Europe/Berlin fires at 01:30, then 03:30 that night;
    * any other hour field (``3``, ``9-17``, ``*/2``, even ``0-23``) fires each matching time
      once: a time that occurs twice fires at its first occurrence only, so a daily job runs
      once and the repeated stretch does not fire again; a time that the clocks skip fires at
      the first instant after the jump, so a daily 02:30 job still runs that day (at 03:00 in
      Europe/Berlin), and several skipped matches fire together as one.

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

    __slots__ = ("end_date", "fields", "jitter", "start_date", "timezone")  # APScheduler 3's

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
        self.timezone = pick_timezone(timezone, start_date, end_date, get_localzone=get_localzone)
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
                # a name is only in ``remaining`` when its value is not None
                exprs, is_default = cast("int | str", given[name]), False
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
            error = ValueError(f"Wrong number of fields; got {len(values)}, expected 5")
            raise _with_note(error, f"in the crontab expression {expr!r}")

        return cls(
            minute=values[0],
            hour=values[1],
            day=values[2],
            month=values[3],
            day_of_week=values[4],
            timezone=timezone,
        )

    def _prepare(self) -> CronSchedule:
        """Derive the lookup tables and UTC bounds from the public attributes."""
        schedule = CronSchedule(self.fields)
        self._start_utc = to_utc(self.start_date)
        self._end_utc = to_utc(self.end_date)
        self._schedule = schedule
        return schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        schedule = self._schedule
        if schedule is None:  # a public attribute was set since the last call
            schedule = self._prepare()

        last = schedule.last_fire
        # our own previous result, whose UTC forms we kept
        own_result = (
            previous_fire_time is not None and last is not None and last[0] is previous_fire_time
        )
        if not own_result:
            if previous_fire_time is not None:
                start = previous_fire_time.astimezone(UTC) + ONE_MICROSECOND
            else:
                start = now.astimezone(UTC)
            if self._start_utc is not None and start < self._start_utc:
                start = self._start_utc

        try:
            if own_result:
                # It is a whole second, so the search starts one second later (it was not
                # before the start date, so neither is that), and tz.fromutc on that instant
                # as a UTC reading in the zone is the last (and only needed) step of
                # start.astimezone(tz).
                assert last is not None
                start = last[1] + _ONE_SECOND
                local = self.timezone.fromutc(last[2] + _ONE_SECOND)
            else:
                if start.microsecond:
                    # cron matches whole seconds; round up so the result is never before
                    # ``start``
                    start += timedelta(0, 0, 1_000_000 - start.microsecond)
                local = start.astimezone(self.timezone)

            if schedule.every_hour:
                match = self._first_instant_reading_a_match(schedule, start, local)
            else:
                match = self._first_occurrence_of_a_match(schedule, start, local)
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

    def _first_instant_reading_a_match(
        self, schedule: CronSchedule, start: datetime, local: datetime
    ) -> tuple[datetime, datetime] | None:
        """
        Return the first instant at or after ``start`` (aware UTC, whole second; ``local`` is its
        reading in the trigger's zone) at which the wall clock reads a matching time, in the
        trigger's zone and in UTC: the rule for a wildcard hour.

        The readings only go back when the clocks fall back, so the answer is the first
        matching reading from that of ``start`` on, at its first occurrence, and readings the
        clocks skip are passed over. Only inside a repeated stretch is there more to it: in its
        second pass the readings up to its end come a second time (``fold=1``), and from its
        first pass the clocks will still go back and show its earlier readings again.
        """
        tz = self.timezone
        search = schedule.next_wall_time
        found = search(local.year, local.month, local.day, local.hour, local.minute, local.second)
        if local.fold:
            repeated_until = end_of_repeated_time(local)
            if repeated_until is not None and found is not None and found < _parts(repeated_until):
                return _second_occurrence(found, tz)
        elif tz.utcoffset(local + _FOLD_HORIZON) != tz.utcoffset(local):
            # The clocks change within a day's readings (the cheap check above, on readings,
            # tells; asking about fold=1 right away would slow down every call). Is ``start``
            # in the first pass of a repeated stretch?
            offset = tz.utcoffset(local)
            in_second_pass = local.replace(fold=1)
            second_offset = tz.utcoffset(in_second_pass)
            if offset is not None and second_offset is not None and second_offset < offset:
                repeated_until = end_of_repeated_time(in_second_pass)
                if repeated_until is not None and (
                    found is None or found >= _parts(repeated_until)
                ):
                    # nothing more matches in the first pass: try the second one
                    repeated_from = repeated_until - (offset - second_offset)
                    again = search(*_parts(repeated_from))
                    if again is not None and again < _parts(repeated_until):
                        return _second_occurrence(again, tz)

        # the common case, without the loop of _resolve_readings (spelt out here and in
        # _first_occurrence_of_a_match, as a helper would be one more call per fire time)
        if found is not None:
            wall = datetime(*found, tzinfo=tz)
            known = _existing_reading(wall, tz)
            if known is not None:
                wall_utc = known[0]
                if wall_utc >= start:
                    schedule.last_fire = wall, wall_utc, known[1]
                    return wall, wall_utc
            else:
                candidate, candidate_utc = resolve_wall_time(wall)
                if candidate is wall and candidate_utc >= start:
                    return candidate, candidate_utc

        return self._resolve_readings(search, found, start, skip_gaps=True)

    def _first_occurrence_of_a_match(
        self, schedule: CronSchedule, start: datetime, local: datetime
    ) -> tuple[datetime, datetime] | None:
        """
        Return the first matching instant at or after ``start`` (aware UTC, whole second;
        ``local`` is its reading in the trigger's zone), in the trigger's zone and in UTC, where
        a repeated reading counts at its first occurrence only and readings the clocks skip
        count at the jump: the rule for a fixed hour.
        """
        tz = self.timezone
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

        search = schedule.next_wall_time
        found = search(wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)
        if found is not None:  # the common case, as in _first_instant_reading_a_match
            wall = datetime(*found, tzinfo=tz)
            known = _existing_reading(wall, tz)
            if known is not None:
                wall_utc = known[0]
                if wall_utc >= start:
                    schedule.last_fire = wall, wall_utc, known[1]
                    return wall, wall_utc
            else:
                candidate, candidate_utc = resolve_wall_time(wall)
                if candidate_utc >= start:
                    return candidate, candidate_utc

        return self._resolve_readings(search, found, start, skip_gaps=False)

    def _resolve_readings(
        self,
        search: Callable[[int, int, int, int, int, int], WallTime | None],
        found: WallTime | None,
        start: datetime,
        skip_gaps: bool,
    ) -> tuple[datetime, datetime] | None:
        """
        Turn the first matching reading into an instant (its first occurrence), searching on
        past readings that give none: one before ``start`` (only with clocks that do not follow
        PEP 495), and, if ``skip_gaps`` is true, one that the clocks skip (otherwise such a
        reading stands for the instant of the jump).
        """
        tz = self.timezone
        for _ in range(_MAX_WALL_TIME_RETRIES):
            if found is None:
                return None

            wall = datetime(*found, tzinfo=tz)
            candidate, candidate_utc = resolve_wall_time(wall)
            if skip_gaps and candidate is not wall:
                after = candidate  # the first reading after the jump
            elif candidate_utc >= start:
                return candidate, candidate_utc
            else:
                after = wall + _ONE_SECOND

            found = search(
                after.year, after.month, after.day, after.hour, after.minute, after.second
            )

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
        self.start_date = restore_datetime(state["start_date"])
        self.end_date = restore_datetime(state["end_date"])
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
