"""
Turning wall-clock times into instants when the clocks change.

Wall-clock triggers (cron, calendar interval) pick a local date and time first and only then
ask which instant that is. Two local times have no single answer:

* a time in a *gap* (clocks jump forward, e.g. 02:30 on the spring-forward night in Europe)
  does not exist; it becomes the first instant after the jump, which is what cron does;
* a time in a *fold* (clocks fall back, so an hour is lived twice) exists twice; it becomes the
  first of the two instants, so a daily job runs once, and the repeated stretch is not run a
  second time.

That is the rule for times of day. A cron trigger whose hour is a wildcard follows the wall
clock instead: it passes over times in a gap, and in a fold also takes the second instant
(``fold=1``), which :func:`end_of_repeated_time` helps it find.

These functions work with any :class:`~datetime.tzinfo` that follows PEP 495 (``fold``), such as
:class:`zoneinfo.ZoneInfo`. They never assume that a change is one hour long: Lord Howe Island
moves by 30 minutes and Samoa skipped the whole of 2011-12-30.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_ONE_SECOND = timedelta(seconds=1)


def _offset_at(timestamp: int, tz: tzinfo) -> timedelta | None:
    return (_EPOCH + timedelta(seconds=timestamp)).astimezone(tz).utcoffset()


def _first_instant_with_offset(
    tz: tzinfo, low: datetime, high: datetime, offset: timedelta
) -> int:
    """
    Return the epoch second at which the zone switches to ``offset``.

    The switch must happen in ``(low, high]`` and ``high`` must already have ``offset``.
    Zone changes fall on whole seconds, so a binary search over seconds is exact; it needs at
    most 17 steps even for a change of a whole day.
    """
    lo = (low - _EPOCH) // _ONE_SECOND
    hi = -((_EPOCH - high) // _ONE_SECOND)  # ceiling division: high may carry microseconds
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if _offset_at(middle, tz) == offset:
            hi = middle
        else:
            lo = middle

    return hi


def resolve_wall_time(wall: datetime) -> tuple[datetime, datetime]:
    """
    Return the instant a wall-clock time stands for, both in its zone and in UTC.

    :param wall: an aware datetime with ``fold=0`` whose wall-clock reading is what counts
    :return: ``wall`` itself (the same object) when it exists (the earlier instant when it
        exists twice), or the first instant after the gap when the clocks skipped it
    """
    tz = wall.tzinfo
    assert tz is not None
    # Asking the zone directly skips the checks datetime.utcoffset() adds: this is the hot
    # path of the cron trigger.
    offset = tz.utcoffset(wall)
    utc = wall.astimezone(_UTC)
    if offset is None:
        return wall, utc

    # With fold=0 a reading is taken with the offset in force before a change. In a fold that
    # is the first occurrence, so reading the instant back gives the same offset; in a gap the
    # instant lies after the jump, where the offset is different. (Reading it back is
    # utc.astimezone(tz), whose last step, tz.fromutc, is all that is needed here.)
    offset_after = tz.utcoffset(tz.fromutc(wall - offset))
    if offset_after is None or offset_after <= offset:
        return wall, utc

    # A gap: read with the later offset, the time lies before the jump; with the earlier one,
    # after it.
    naive = wall.replace(tzinfo=None)
    before_jump = (naive - offset_after).replace(tzinfo=_UTC)
    after_jump = (naive - offset).replace(tzinfo=_UTC)
    jump = _EPOCH + timedelta(
        seconds=_first_instant_with_offset(tz, before_jump, after_jump, offset_after)
    )
    return jump.astimezone(tz), jump


def end_of_repeated_time(local: datetime) -> datetime | None:
    """
    Tell where the second pass through a repeated stretch of wall-clock time ends.

    :param local: an aware datetime as produced by converting an instant into its zone
    :return: ``None`` if ``local`` is not in the second pass of a fold; otherwise the naive
        wall-clock time at which the repetition ends (the first local time after the fold that
        is lived only once)
    """
    if not local.fold:
        return None

    tz = local.tzinfo
    offset_after = local.utcoffset()
    offset_before = local.replace(fold=0).utcoffset()
    if tz is None or offset_before is None or offset_after is None:
        return None
    if offset_before <= offset_after:
        return None

    high = local.astimezone(_UTC)
    low = high - (offset_before - offset_after)
    switch = _first_instant_with_offset(tz, low, high, offset_after)
    # the repeated readings run from switch+offset_after up to switch+offset_before
    return datetime(1970, 1, 1) + timedelta(seconds=switch) + offset_before
