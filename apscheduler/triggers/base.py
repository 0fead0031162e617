"""The interface every trigger implements."""

from __future__ import annotations

import sys
from abc import ABCMeta, abstractmethod
from datetime import datetime, timedelta

from apscheduler._lazy import lazy_names

# ``random``: a name of this module in APScheduler 3, which test suites patch to pin the jitter;
# imported on first use, as only triggers with jitter need it.
__getattr__ = lazy_names(__name__, {"random": ("random", None)})


class BaseTrigger(metaclass=ABCMeta):
    """
    Decides when a job runs.

    A trigger is a pure function of (previous fire time, now): it never reads a clock, so the
    scheduler and the tests control time by what they pass in.
    """

    __slots__ = ()

    @abstractmethod
    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """
        Return the next datetime to fire on, or ``None`` when the trigger will not fire again.

        :param previous_fire_time: the previous time the trigger was fired, or ``None``
        :param now: current datetime
        """

    def _apply_jitter(
        self, next_fire_time: datetime | None, jitter: float | None, now: datetime
    ) -> datetime | None:
        """
        Randomise ``next_fire_time`` by up to ``jitter`` seconds later.

        :param next_fire_time: the next fire time without jitter, or ``None``
        :param jitter: the maximum number of seconds to add
        :param now: current datetime (kept for the 3.x signature; not used)
        """
        if next_fire_time is None or not jitter:
            return next_fire_time

        random = sys.modules[__name__].random  # this module's name, which tests may replace
        return next_fire_time + timedelta(seconds=random.uniform(0, jitter))
