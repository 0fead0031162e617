"""The one place the scheduler asks what time it is."""

from __future__ import annotations

import threading
import time
from datetime import datetime, tzinfo


class SystemClock:
    """
    Tells the time by asking the operating system. The default for every scheduler.

    Tests and special deployments hand the scheduler another object with the same two methods
    (``clock=`` option), so nothing in the core has to patch :mod:`datetime`.
    """

    def now(self, tz: tzinfo) -> datetime:
        """Return the current time as an aware datetime in ``tz``."""
        return datetime.now(tz)

    def monotonic(self) -> float:
        """Return seconds from an arbitrary fixed point, unaffected by wall-clock changes."""
        return time.monotonic()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


_active = threading.local()


def current_time(tz: tzinfo) -> datetime:
    """
    Return the time by the clock of the scheduler that is creating a trigger in this thread.

    Triggers whose defaults depend on "now" (a date trigger's run date, an interval trigger's
    start date) call this in their constructors, so a scheduler on a fake clock gets defaults
    from that clock; outside a scheduler it is the system time.
    """
    clock = getattr(_active, "clock", None)
    if clock is None:
        return datetime.now(tz)

    return clock.now(tz)


def set_active_clock(clock: SystemClock | None) -> SystemClock | None:
    """Make ``clock`` the one :func:`current_time` reads in this thread; return the previous one."""
    previous = getattr(_active, "clock", None)
    _active.clock = clock
    return previous
