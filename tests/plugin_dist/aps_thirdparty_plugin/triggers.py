"""A trigger, and a class wrongly registered as one."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.base import BaseTrigger


class EveryOtherSecondTrigger(BaseTrigger):
    """Fires now, then every two seconds."""

    def __init__(self, timezone: tzinfo | None = None) -> None:
        # The scheduler passes its own time zone to every trigger it builds from an alias.
        self.timezone = timezone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return now

        return previous_fire_time + timedelta(seconds=2)

    def __str__(self) -> str:
        return "every other second"


class NotATrigger:
    """Registered as a trigger by mistake: the scheduler must refuse it."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
