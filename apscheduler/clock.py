"""The one place the scheduler asks what time it is."""

from __future__ import annotations

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
