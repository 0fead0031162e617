"""Small helpers shared by every part of the scheduler: conversions, time maths and references."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import partial
from importlib import import_module
from types import MethodType
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

__all__ = (
    "asint",
    "asbool",
    "astimezone",
    "asdate",
    "convert_to_datetime",
    "datetime_to_utc_timestamp",
    "utc_timestamp_to_datetime",
    "timedelta_seconds",
    "datetime_ceil",
    "datetime_utc_add",
    "datetime_repr",
    "timezone_repr",
    "get_callable_name",
    "obj_to_ref",
    "ref_to_obj",
    "maybe_ref",
    "check_callable_args",
    "iscoroutinefunction_partial",
    "normalize",
    "localize",
    "undefined",
    "UTC",
)

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Undefined:
    """Marks an argument the caller did not give, where ``None`` is a meaningful value."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<undefined>"

    def __reduce__(self) -> str:
        # pickles as a reference to the module-level singleton, so identity survives
        return "undefined"


undefined = _Undefined()

_E = TypeVar("_E", bound=BaseException)


def _with_note(exc: _E, note: str) -> _E:
    """
    Add ``note`` to ``exc`` (PEP 678) and return it.

    The message of an error is APScheduler 3's sentence, which programs compare exactly; the
    detail that helps a reader (the value given, the field, the choices) goes in a note, which
    tracebacks show below the message.
    """
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # the attribute that add_note() fills in, for tools that read it on Python 3.10
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]

    return exc


_TRUE_WORDS = frozenset({"true", "yes", "on", "y", "t", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "n", "f", "0"})


def asint(text: Any) -> int | None:
    """Convert to an integer, keeping ``None`` as is (configuration values arrive as text)."""
    if text is None:
        return None

    return int(text)


def asbool(obj: Any) -> bool:
    """
    Interpret a configuration value as a boolean.

    :raises ValueError: if a string is not one of the recognised yes/no words
    """
    if isinstance(obj, str):
        word = obj.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False

        raise ValueError(f'Unable to interpret value "{obj}" as boolean')

    return bool(obj)


def astimezone(obj: str | tzinfo | None) -> tzinfo | None:
    """
    Turn a zone name or a tzinfo into a tzinfo usable with the standard library.

    pytz zones are converted to :class:`zoneinfo.ZoneInfo` because their ``localize``/``normalize``
    protocol does not work with plain datetime arithmetic.

    :raises TypeError: for anything that is neither a string, a tzinfo nor ``None``
    :raises ValueError: for a zone called ``local``, which cannot be resolved portably
    """
    if obj is None:
        return None

    # the common case first (a scheduler's zone, for every trigger it makes): what the checks
    # below conclude for it, sooner
    if type(obj) is ZoneInfo and obj.tzname(None) != "local":
        return obj

    if isinstance(obj, str):
        if obj == "UTC":
            return UTC

        return ZoneInfo(obj)

    if isinstance(obj, tzinfo):
        module = type(obj).__module__
        if module.startswith("pytz"):
            zone = getattr(obj, "zone", None)
            if zone == "UTC":
                return UTC
            if zone:
                return ZoneInfo(zone)

        if getattr(obj, "tzname", None) and obj.tzname(None) == "local":
            raise ValueError(
                "Unable to determine the name of the local timezone -- you must explicitly "
                "specify the name of the local timezone. Please refrain from using timezones like "
                "EST to prevent problems with daylight saving time. Instead, use a locale based "
                "timezone name (such as Europe/Helsinki)."
            )

        return obj

    raise TypeError(f"Expected tzinfo, got {obj.__class__.__name__} instead")


def get_localzone() -> tzinfo:
    """
    Return the zone of this machine, as :func:`tzlocal.get_localzone` tells it.

    The default zone of schedulers and triggers configured without one. Their modules call it
    through names of their own, which test suites patch to pin the local zone (patching this
    one pins it for all of them). tzlocal is imported on the first call: importing it is slow,
    and a program that names its zones never needs it.
    """
    from tzlocal import get_localzone as tzlocal_get_localzone

    return tzlocal_get_localzone()


def asdate(obj: date | str) -> date:
    """
    Return a :class:`~datetime.date`, parsing ISO 8601 text.

    :raises TypeError: for other types
    """
    if isinstance(obj, datetime):
        return obj.date()

    if isinstance(obj, date):
        return obj

    if isinstance(obj, str):
        return date.fromisoformat(obj)

    raise TypeError(f"Expected a date or an ISO 8601 date string, got {obj!r} instead")


_DATE_REGEX = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{1,2}):(?P<second>\d{1,2})"
    r"(?:\.(?P<microsecond>\d{1,6}))?"
    r"(?P<timezone>Z|[+-]\d\d:\d\d)?)?$"
)


def _parse_datetime_text(text: str, arg_name: str) -> tuple[datetime, tzinfo | None]:
    match = _DATE_REGEX.match(text)
    if not match:
        raise _with_note(ValueError("Invalid date string"), f"{arg_name}: {text!r}")

    values = match.groupdict()
    tz_text = values.pop("timezone")
    if tz_text == "Z":
        parsed_tz: tzinfo | None = UTC
    elif tz_text:
        sign = 1 if tz_text[0] == "+" else -1
        hours, minutes = (int(part) for part in tz_text[1:].split(":"))
        parsed_tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    else:
        parsed_tz = None

    if values["microsecond"]:
        values["microsecond"] = values["microsecond"].ljust(6, "0")

    fields: dict[str, Any] = {
        key: int(value) for key, value in values.items() if value is not None
    }
    try:
        return datetime(**fields), parsed_tz
    except ValueError as exc:  # e.g. "month must be in 1..12": say which argument had it
        _with_note(exc, f"{arg_name}: {text!r}")
        raise


def convert_to_datetime(
    input: datetime | date | str | None, tz: tzinfo | None, arg_name: str
) -> datetime | None:
    """
    Convert a datetime, date or date string into a timezone aware datetime.

    Naive values are given ``tz``; text may carry its own ``Z`` or ``±HH:MM`` offset.

    :param arg_name: the name of the argument being converted, used in error messages
    :raises TypeError: for unsupported input types
    :raises ValueError: for unparseable text, or a naive value when ``tz`` is ``None``
    """
    if input is None:
        return None

    if isinstance(input, datetime):
        value = input
    elif isinstance(input, date):
        value = datetime.combine(input, time())
    elif isinstance(input, str):
        value, parsed_tz = _parse_datetime_text(input, arg_name)
        if parsed_tz is not None:
            return value.replace(tzinfo=parsed_tz)
    else:
        raise TypeError(f"Unsupported type for {arg_name}: {input.__class__.__name__}")

    if value.tzinfo is not None:
        return value

    if tz is None:
        raise ValueError(
            f'The "tz" argument must be specified if {arg_name} has no timezone information'
        )

    if isinstance(tz, str):
        # a zone name never resolves to None
        tz = cast(tzinfo, astimezone(tz))

    return localize(value, tz)


def datetime_to_utc_timestamp(timeval: datetime | None) -> float | None:
    """Convert an aware datetime into seconds since the epoch (``None`` stays ``None``)."""
    if timeval is None:
        return None

    # The whole seconds by subtraction from the epoch (far quicker than calendar.timegm() of
    # the UTC time tuple), then the microseconds added as that way did, to the same float.
    # Naive values, zones without an offset and the first and last years (where the UTC time
    # tuple may not exist) take the time tuple way, with its errors.
    if timeval.tzinfo is not None and 1 < timeval.year < 9999:
        offset = timeval.utcoffset()
        if offset is not None:
            since_epoch = timeval - _EPOCH
            seconds = since_epoch.days * 86400 + since_epoch.seconds
            return seconds + timeval.microsecond / 1_000_000

    from calendar import timegm  # deferred, like inspect below: importing a scheduler stays cheap

    return timegm(timeval.utctimetuple()) + timeval.microsecond / 1_000_000


def utc_timestamp_to_datetime(timestamp: float | None) -> datetime | None:
    """Convert seconds since the epoch into an aware UTC datetime (``None`` stays ``None``)."""
    if timestamp is None:
        return None

    return datetime.fromtimestamp(timestamp, UTC)


def timedelta_seconds(delta: timedelta) -> float:
    """Return the total length of ``delta`` in seconds."""
    return delta.total_seconds()


def datetime_ceil(dateval: datetime) -> datetime:
    """Round a datetime up to the next whole second, unless it already is one."""
    if dateval.microsecond > 0:
        return dateval + timedelta(seconds=1, microseconds=-dateval.microsecond)

    return dateval


def datetime_utc_add(dateval: datetime, tdelta: timedelta) -> datetime:
    """
    Add elapsed time to an aware datetime, ignoring wall-clock jumps.

    Plain ``+`` on an aware datetime keeps the wall clock, so crossing a DST change would add
    an hour too few or too many; going through UTC keeps the elapsed time exact.
    """
    original_tz = dateval.tzinfo
    if original_tz is None:
        return dateval + tdelta

    return (dateval.astimezone(UTC) + tdelta).astimezone(original_tz)


def datetime_repr(dateval: datetime | None) -> str:
    """Format a datetime the way job listings show it, or ``"None"``."""
    return dateval.strftime("%Y-%m-%d %H:%M:%S %Z") if dateval else "None"


def timezone_repr(timezone: tzinfo) -> str:
    """Return the name of a zone for use in a repr."""
    if isinstance(timezone, ZoneInfo):
        return timezone.key

    return repr(timezone)


def get_callable_name(func: Callable[..., Any]) -> str:
    """
    Return the best available display name for the given callable.

    :raises TypeError: if ``func`` is not callable or no name can be determined
    """
    if isinstance(func, partial):
        return get_callable_name(func.func)

    if isinstance(func, MethodType):
        self = func.__self__
        owner = self if isinstance(self, type) else type(self)
        return f"{owner.__qualname__}.{func.__name__}"

    qualname: str | None = getattr(func, "__qualname__", None)
    if qualname:
        return qualname

    if callable(func):
        call_qualname = getattr(type(func).__call__, "__qualname__", None)
        if call_qualname:
            return type(func).__qualname__

    raise TypeError(f"Unable to determine a name for {func!r} -- maybe it is not a callable?")


def obj_to_ref(obj: Any) -> str:
    """
    Return the text reference (``module:qualified.name``) that :func:`ref_to_obj` resolves back.

    :raises ValueError: for partials, lambdas and nested functions, which have no reference
    :raises TypeError: for objects that are not callable
    """
    if isinstance(obj, partial):
        raise ValueError("Cannot create a reference to a partial()")

    name = get_callable_name(obj)
    if "<lambda>" in name:
        raise ValueError("Cannot create a reference to a lambda")
    if "<locals>" in name:
        raise ValueError("Cannot create a reference to a nested function")

    if isinstance(obj, MethodType):
        bound_to = obj.__self__
        owner = bound_to if isinstance(bound_to, type) else type(bound_to)
        module = owner.__module__
    else:
        module = obj.__module__

    return f"{module}:{name}"


def ref_to_obj(ref: str) -> Any:
    """
    Return the object a ``module:qualified.name`` reference points to.

    :raises TypeError: if ``ref`` is not a string
    :raises ValueError: if ``ref`` has no ``:`` separator
    :raises LookupError: if the module cannot be imported or the name is not found in it
    """
    if not isinstance(ref, str):
        raise TypeError("References must be strings")
    if ":" not in ref:
        raise ValueError("Invalid reference")

    modulename, rest = ref.split(":", 1)
    obj: Any = sys.modules.get(modulename)
    # A module another thread is still importing is waited for by import_module; one that is
    # fully imported is taken as it is (restoring stored jobs resolves thousands of these).
    if obj is None or getattr(getattr(obj, "__spec__", None), "_initializing", False):
        try:
            obj = import_module(modulename)
        except ImportError as exc:
            raise LookupError(f"Error resolving reference {ref}: could not import module") from exc

    try:
        for name in rest.split("."):
            obj = getattr(obj, name)
    except AttributeError:
        raise LookupError(f"Error resolving reference {ref}: error looking up object") from None

    return obj


def maybe_ref(ref: Any) -> Any:
    """Resolve ``ref`` if it is a text reference; return anything else unchanged."""
    if not isinstance(ref, str):
        return ref

    return ref_to_obj(ref)


def check_callable_args(
    func: Callable[..., Any], args: Iterable[Any], kwargs: Mapping[str, Any]
) -> None:
    """
    Check that ``func`` can be called with ``args`` and ``kwargs``.

    Callables whose signature cannot be read (some builtins) are accepted as they are.

    :raises ValueError: naming every argument problem found
    """
    args = tuple(args)
    pos_kwargs_conflicts: list[str] = []
    positional_only_kwargs: list[str] = []
    unsatisfied_args: list[str] = []
    unsatisfied_kwargs: list[str] = []
    unmatched_args = list(args)
    unmatched_kwargs = list(kwargs)
    has_varargs = has_var_kwargs = False

    try:
        sig = _signature(func)
    except ValueError:
        return

    for param in sig.parameters.values():
        if param.kind == param.POSITIONAL_OR_KEYWORD:
            if param.name in unmatched_kwargs and unmatched_args:
                pos_kwargs_conflicts.append(param.name)
            elif unmatched_args:
                del unmatched_args[0]
            elif param.name in unmatched_kwargs:
                unmatched_kwargs.remove(param.name)
            elif param.default is param.empty:
                unsatisfied_args.append(param.name)
        elif param.kind == param.POSITIONAL_ONLY:
            if unmatched_args:
                del unmatched_args[0]
            elif param.name in unmatched_kwargs:
                unmatched_kwargs.remove(param.name)
                positional_only_kwargs.append(param.name)
            elif param.default is param.empty:
                unsatisfied_args.append(param.name)
        elif param.kind == param.KEYWORD_ONLY:
            if param.name in unmatched_kwargs:
                unmatched_kwargs.remove(param.name)
            elif param.default is param.empty:
                unsatisfied_kwargs.append(param.name)
        elif param.kind == param.VAR_POSITIONAL:
            has_varargs = True
        elif param.kind == param.VAR_KEYWORD:
            has_var_kwargs = True

    if pos_kwargs_conflicts:
        raise ValueError(
            "The following arguments are supplied in both args and kwargs: "
            + ", ".join(pos_kwargs_conflicts)
        )
    if positional_only_kwargs:
        raise ValueError(
            "The following arguments cannot be given as keyword arguments: "
            + ", ".join(positional_only_kwargs)
        )
    if unsatisfied_args:
        raise ValueError(
            "The following arguments have not been supplied: " + ", ".join(unsatisfied_args)
        )
    if unsatisfied_kwargs:
        raise ValueError(
            "The following keyword-only arguments have not been supplied in kwargs: "
            + ", ".join(unsatisfied_kwargs)
        )
    if not has_varargs and unmatched_args:
        raise ValueError(
            f"The list of positional arguments is longer than the target callable can handle "
            f"(allowed: {len(args) - len(unmatched_args)}, given in args: {len(args)})"
        )
    if not has_var_kwargs and unmatched_kwargs:
        raise ValueError(
            "The target callable does not accept the following keyword arguments: "
            + ", ".join(unmatched_kwargs)
        )


def iscoroutinefunction_partial(f: Any) -> bool:
    """Tell whether ``f`` is a coroutine function, looking through ``functools.partial``."""
    while isinstance(f, partial):
        f = f.func

    if sys.version_info >= (3, 14):
        import inspect

        return inspect.iscoroutinefunction(f)

    import asyncio  # deferred: importing asyncio costs several milliseconds at start-up

    return asyncio.iscoroutinefunction(f)


def normalize(dt: datetime) -> datetime:
    """Return ``dt`` with its UTC offset brought in line with its wall-clock time."""
    return datetime.fromtimestamp(dt.timestamp(), dt.tzinfo)


def localize(dt: datetime, tzinfo: tzinfo) -> datetime:
    """Attach ``tzinfo`` to a naive datetime, using pytz's ``localize`` for pytz zones."""
    if hasattr(tzinfo, "localize"):
        localized: datetime = tzinfo.localize(dt)
        return localized

    return normalize(dt.replace(tzinfo=tzinfo))


def _signature(func: Callable[..., Any]) -> Any:
    # inspect is imported on first use: it is among the slowest modules a scheduler would
    # otherwise import at start-up, and only argument checks need it
    import inspect

    return inspect.signature(func, follow_wrapped=False)
