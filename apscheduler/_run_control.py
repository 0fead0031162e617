"""
The options that control a job's runs once they start: ``timeout``, retries and ``overlap``.

A job keeps them in one :class:`RunControl` object (``None`` for the 3.x defaults, which most
jobs have), so that they cost an idle job one slot, not seven.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from apscheduler.util import _with_note, maybe_ref

#: what a run due while ``max_instances`` runs are going on does
OVERLAP_SKIP = "skip"
OVERLAP_QUEUE = "queue"
OVERLAP_CANCEL = "cancel"
OVERLAP_POLICIES = (OVERLAP_SKIP, OVERLAP_QUEUE, OVERLAP_CANCEL)

#: the job options this module holds
CONTROL_OPTIONS = (
    "timeout",
    "max_retries",
    "retry_delay",
    "retry_backoff",
    "retry_jitter",
    "retry_on",
    "overlap",
)


@dataclass(frozen=True)
class RunControl:
    """The run options of one job (the defaults are APScheduler 3's behaviour)."""

    #: seconds a run may take before it is stopped (``None``: no limit)
    timeout: float | None = None
    #: how many times a failed run is tried again
    max_retries: int = 0
    #: seconds before the first retry
    retry_delay: float = 10.0
    #: each retry waits this many times longer than the one before
    retry_backoff: float = 2.0
    #: up to this many seconds are added at random to each retry's delay
    retry_jitter: float = 0.0
    #: the exception classes that a retry is made for
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    #: what a run due while ``max_instances`` runs are going on does (see OVERLAP_POLICIES)
    overlap: str = OVERLAP_SKIP

    def changed(self, changes: dict[str, Any]) -> RunControl | None:
        """This control with ``changes`` (validated) applied; ``None`` if all are defaults."""
        control = replace(
            self, **{name: _validate(name, value) for name, value in changes.items()}
        )
        return None if control == DEFAULT_CONTROL else control

    def retry_delay_for(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 for the first), without jitter."""
        return self.retry_delay * self.retry_backoff ** (attempt - 1)

    def retries(self, exc: BaseException | None) -> bool:
        """Tell whether a run that failed with ``exc`` is to be tried again (given retries)."""
        return exc is not None and isinstance(exc, self.retry_on)


DEFAULT_CONTROL = RunControl()


def _seconds(name: str, value: Any, allow_none: bool) -> float | None:
    """A duration option in seconds: a number, a timedelta, or text (configuration files)."""
    given = value
    if value is None and allow_none:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            note = f"got {given!r}"
            raise _with_note(ValueError(f"{name} must be a number of seconds"), note) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _with_note(
            TypeError(f"{name} must be a number of seconds or a timedelta"), f"got {given!r}"
        )
    if value < 0 or (name == "timeout" and value == 0):
        least = "positive" if name == "timeout" else "zero or more"
        raise _with_note(ValueError(f"{name} must be {least}"), f"got {given!r}")
    return float(value)


def _exception_classes(value: Any) -> tuple[type[BaseException], ...]:
    values: Iterable[Any] = [value] if isinstance(value, (str, type)) else value
    classes = []
    for item in values:
        cls = maybe_ref(item)
        if not isinstance(cls, type) or not issubclass(cls, BaseException):
            raise _with_note(
                TypeError("retry_on must hold exception classes or references to them"),
                f"retry_on: {item!r}",
            )
        classes.append(cls)
    if not classes:
        raise _with_note(ValueError("retry_on must name at least one exception class"), "got []")
    return tuple(classes)


def _validate(name: str, value: Any) -> Any:
    if name == "timeout":
        return _seconds(name, value, allow_none=True)
    if name in ("retry_delay", "retry_jitter"):
        return _seconds(name, value, allow_none=False)
    if name == "retry_backoff":
        backoff = _seconds(name, value, allow_none=False)
        if backoff is not None and backoff < 1:
            raise _with_note(ValueError("retry_backoff must be at least 1"), f"got {value!r}")
        return backoff
    if name == "max_retries":
        if isinstance(value, str):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _with_note(
                ValueError("max_retries must be a non-negative integer"), f"got {value!r}"
            )
        return value
    if name == "retry_on":
        return _exception_classes(value)
    if name == "overlap":
        if value not in OVERLAP_POLICIES:
            raise _with_note(
                ValueError(f"overlap must be one of {', '.join(map(repr, OVERLAP_POLICIES))}"),
                f"overlap: {value!r}",
            )
        return value
    raise AttributeError(name)


__all__ = [
    "CONTROL_OPTIONS",
    "DEFAULT_CONTROL",
    "OVERLAP_CANCEL",
    "OVERLAP_POLICIES",
    "OVERLAP_QUEUE",
    "OVERLAP_SKIP",
    "RunControl",
]
