"""The ``date`` trigger: fires once, at a given moment."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from apscheduler import util
from apscheduler.clock import active_clock
from apscheduler.triggers._common import check_state_version, pick_timezone, unwrap_slots_state
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import astimezone as astimezone, convert_to_datetime, datetime_repr

# ``name as name``: a name this module had in APScheduler 3, which programs import from here.

__all__ = ("DateTrigger",)


def get_localzone() -> tzinfo:
    """The default zone of date triggers; test suites patch this name to pin it."""
    return util.get_localzone()


class DateTrigger(BaseTrigger):
    """
    Fires once, at ``run_date``.

    :param run_date: the date/time to fire on; a naive value or text is read in ``timezone``.
        Defaults to the moment the trigger is created.
    :param timezone: time zone for a naive ``run_date`` (default: the local zone)
    :raises TypeError: for a ``run_date`` or ``timezone`` of an unsupported type
    :raises ValueError: for ``run_date`` text that is not an ISO 8601 date/time
    """

    __slots__ = ("run_date",)

    def __init__(
        self,
        run_date: datetime | date | str | None = None,
        timezone: str | tzinfo | None = None,
    ) -> None:
        zone = pick_timezone(timezone, run_date, get_localzone=get_localzone)
        if run_date is not None:
            converted = convert_to_datetime(run_date, zone, "run_date")
            assert converted is not None
            self.run_date = converted
        else:
            # "run now", by the scheduler's clock, else through this module's datetime as in
            # APScheduler 3 (test suites patch it)
            clock = active_clock()
            self.run_date = datetime.now(zone) if clock is None else clock.now(zone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return self.run_date if previous_fire_time is None else None

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "run_date": self.run_date}

    def __setstate__(self, state: Any) -> None:
        state = unwrap_slots_state(state)
        check_state_version(state, 1, self, single=True)
        self.run_date = state["run_date"]

    def __str__(self) -> str:
        return f"date[{datetime_repr(self.run_date)}]"

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (run_date='{datetime_repr(self.run_date)}')>"
