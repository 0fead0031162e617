"""
Where the scheduler and its parts ask what time it is.

Without a ``clock=`` option a scheduler reads the system time the way APScheduler 3 did: with
``datetime.now(tz)`` through the ``datetime`` name of the module that needs the time, which is
what test suites written for 3.x patch (as does freezegun):

* :mod:`apscheduler.schedulers.base`: the scheduler's "now" (processing jobs, adding, resuming
  and rescheduling them)
* :mod:`apscheduler.executors.base`: the misfire check of :func:`~apscheduler.executors.base.run_job`
* :mod:`apscheduler.triggers.date` and :mod:`apscheduler.triggers.interval`: the default run
  date and start date of a trigger created without one

A clock given with ``clock=`` answers every one of those questions instead.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, tzinfo
from types import ModuleType
from typing import Any, Protocol

# The functions below are the plumbing between the scheduler and the modules that read the time.
__all__ = ("SystemClock",)


class _Clock(Protocol):
    """What the scheduler and its parts use of a clock (given with ``clock=``, or the default)."""

    def now(self, tz: tzinfo) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """
    The time of the operating system: the default clock of every scheduler.

    Standing for "no clock of its own", it makes each module read the time through its own
    ``datetime`` name (see above). Tests and special deployments hand the scheduler another
    object with the same two methods (``clock=`` option) to control the time without patching
    anything; a subclass of this class counts as such a clock of its own.
    """

    def now(self, tz: tzinfo) -> datetime:
        """Return the current time as an aware datetime in ``tz``."""
        return datetime.now(tz)

    def monotonic(self) -> float:
        """Return seconds from an arbitrary fixed point, unaffected by wall-clock changes."""
        return time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"


class _ModuleSystemClock(SystemClock):
    """The system time as ``module`` reads it: through the module's ``datetime`` name."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module

    def now(self, tz: tzinfo) -> datetime:
        return self._module.datetime.now(tz)  # type: ignore[no-any-return]


_active = threading.local()
_NO_ATTRIBUTES: dict[str, Any] = {}


def given_clock(clock: _Clock | None) -> _Clock | None:
    """Return ``clock`` if it is one the user gave, ``None`` if it stands for the system time."""
    clock_type = type(clock)
    if clock is None or clock_type is SystemClock or clock_type is _ModuleSystemClock:
        return None

    return clock


def scheduler_clock(scheduler: Any) -> _Clock | None:
    """
    Return the clock given to ``scheduler`` with its ``clock=`` option, else ``None``.

    Also ``None`` without a scheduler (a job unpickled in a worker process) and for a stand-in
    such as a ``Mock`` in a test, which answers every attribute with another mock: the
    clock is looked up among the instance's own attributes only.
    """
    # given_clock() inlined: every run asks this once on its way to the job's first line
    clock = getattr(scheduler, "__dict__", _NO_ATTRIBUTES).get("_clock")
    clock_type = type(clock)
    if clock is None or clock_type is SystemClock or clock_type is _ModuleSystemClock:
        return None

    return clock  # type: ignore[no-any-return]


def active_clock() -> _Clock | None:
    """
    Return the clock given to the scheduler that is creating a trigger in this thread.

    ``None`` outside a scheduler and for a scheduler on the system time: a trigger then reads
    ``datetime.now()`` through its own module, as in APScheduler 3.
    """
    return given_clock(getattr(_active, "clock", None))


def current_time(tz: tzinfo) -> datetime:
    """Return the time by :func:`active_clock`, else the system time, in ``tz``."""
    clock = active_clock()
    if clock is None:
        return datetime.now(tz)

    return clock.now(tz)


def set_active_clock(clock: Any | None) -> Any | None:
    """Make ``clock`` the one :func:`active_clock` returns in this thread; return the previous one."""
    previous = getattr(_active, "clock", None)
    _active.clock = clock
    return previous
