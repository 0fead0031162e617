"""Argument checks and state handling shared by the built-in triggers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo
from numbers import Real
from typing import Any, cast, overload

from apscheduler.util import astimezone

UTC = timezone.utc
ONE_MICROSECOND = timedelta(microseconds=1)


def pick_timezone(
    timezone: str | tzinfo | None,
    start_date: Any = None,
    end_date: Any = None,
    *,
    get_localzone: Callable[[], tzinfo],
) -> tzinfo:
    """
    Choose a trigger's zone: the explicit one, else that of an aware ``start_date``, else that
    of an aware ``end_date``, else the local zone by ``get_localzone``.

    Each trigger module passes its own ``get_localzone`` global, read at the call, so that a
    test suite patching that name pins the default zone of new triggers of that kind (as in
    APScheduler 3). Whichever zone is chosen is made usable with the standard library (a pytz
    zone becomes a :class:`~zoneinfo.ZoneInfo`).

    :raises TypeError: if ``timezone`` is neither a zone name, a tzinfo nor ``None``
    """
    if timezone:
        zone = astimezone(timezone)
    elif isinstance(start_date, datetime) and start_date.tzinfo:
        zone = astimezone(start_date.tzinfo)
    elif isinstance(end_date, datetime) and end_date.tzinfo:
        zone = astimezone(end_date.tzinfo)
    else:
        zone = astimezone(get_localzone())

    assert zone is not None
    return zone


def check_jitter(jitter: Any) -> float | None:
    """
    Validate a ``jitter`` argument: ``None`` or a non-negative number of seconds.

    :raises TypeError: if ``jitter`` is not a number
    :raises ValueError: if ``jitter`` is negative
    """
    if jitter is None:
        return None

    if isinstance(jitter, bool) or not isinstance(jitter, Real):
        raise TypeError(
            f"jitter must be a number of seconds or None, got {jitter!r} "
            f"({type(jitter).__name__}) instead"
        )
    if jitter < 0:
        raise ValueError(f"jitter must not be negative, got {jitter!r}")

    # kept as given (an int stays an int in reprs); any real number works where a float does
    return cast(float, jitter)


def check_state_version(
    state: dict[str, Any], max_version: int, owner: object, *, single: bool = False
) -> None:
    """
    Refuse serialized state written by a newer version of the library.

    :param single: say "only version N" rather than "only versions up to N", as APScheduler 3
        does for the triggers whose state has only ever had one version
    :raises ValueError: if the state's ``version`` is higher than ``max_version``
    """
    version = state.get("version", 1)
    if version > max_version:
        allowed = f"version {max_version}" if single else f"versions up to {max_version}"
        raise ValueError(
            f"Got serialized data for version {version} of {type(owner).__name__}, but only "
            f"{allowed} can be handled"
        )


def unwrap_slots_state(state: dict[str, Any] | tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    """
    Return the state dict of a trigger pickled by APScheduler 3.0.

    Those triggers had ``__slots__`` and no ``__getstate__``, so pickle stored the tuple
    ``(None, slot values)``.
    """
    if isinstance(state, tuple):
        return state[1]

    return state


@overload
def restore_datetime(value: datetime) -> datetime: ...


@overload
def restore_datetime(value: None) -> None: ...


@overload
def restore_datetime(value: datetime | None) -> datetime | None: ...


def restore_datetime(value: datetime | None) -> datetime | None:
    """
    Return a datetime loaded from storage as it was written, unless it carries a pytz zone.

    A date keeps the zone or offset it was given in, as in APScheduler 3 (which never converts
    them): 14:04+02:00 stays 14:04+02:00 in a Berlin trigger. Only a pytz zone, which data
    written before APScheduler 3.10 may carry and which misbehaves in datetime arithmetic, is
    swapped for its :mod:`zoneinfo` equivalent; the instant and the wall time stay the same.
    """
    if value is None or not type(value.tzinfo).__module__.startswith("pytz"):
        return value

    zone = astimezone(value.tzinfo)
    if zone is value.tzinfo:  # a fixed offset of pytz's, which works like any other
        return value

    return value.astimezone(zone)


@overload
def to_utc(value: datetime) -> datetime: ...


@overload
def to_utc(value: None) -> None: ...


@overload
def to_utc(value: datetime | None) -> datetime | None: ...


def to_utc(value: datetime | None) -> datetime | None:
    """
    Return ``value`` as an aware UTC datetime (``None`` stays ``None``).

    Comparing or subtracting two datetimes that share a zone object uses their wall-clock
    readings and ignores ``fold``, which gives wrong answers in the repeated hour after
    clocks fall back; comparing UTC values never does.
    """
    if value is None:
        return None

    return value.astimezone(UTC)
