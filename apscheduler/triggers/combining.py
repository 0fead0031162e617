"""The ``and`` and ``or`` triggers, which combine the fire times of other triggers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from apscheduler.triggers._common import (
    ONE_MICROSECOND,
    check_jitter,
    check_state_version,
    to_utc,
)
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import obj_to_ref, ref_to_obj

__all__ = ("BaseCombiningTrigger", "AndTrigger", "OrTrigger")

if TYPE_CHECKING:

    class _StatefulTrigger(Protocol):
        # every built-in trigger has one; object only has it from Python 3.11
        def __getstate__(self) -> dict[str, Any]: ...


def _first_from(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """
    Return ``trigger``'s first fire time at or after ``moment``, or ``None``.

    That is the trigger's first fire time when it is started at ``moment``. A trigger whose
    answer lies before ``moment`` (a date trigger whose moment has passed) cannot fire then.
    """
    answer = trigger.get_next_fire_time(None, moment)
    return None if answer is None or to_utc(answer) < to_utc(moment) else answer


def _continuation(
    trigger: BaseTrigger, previous_fire_time: datetime | None, now: datetime
) -> datetime | None:
    """
    Return ``trigger``'s next fire time after ``previous_fire_time``, as it computes it.

    An answer that is not after ``previous_fire_time`` is replaced by the trigger's first fire
    time after it, so the combined trigger never goes back in time.
    """
    answer = trigger.get_next_fire_time(previous_fire_time, now)
    if answer is None or previous_fire_time is None or to_utc(answer) > to_utc(previous_fire_time):
        return answer

    return _first_from(trigger, to_utc(previous_fire_time) + ONE_MICROSECOND)


class BaseCombiningTrigger(BaseTrigger):
    """
    The common part of :class:`AndTrigger` and :class:`OrTrigger`.

    :param triggers: the triggers to combine (at least one)
    :param jitter: delay each combined fire time by a random 0 to ``jitter`` seconds
    :raises TypeError: if ``triggers`` is not a list of triggers, or for a bad ``jitter``
    :raises ValueError: if ``triggers`` is empty or ``jitter`` is negative
    """

    __slots__ = ("triggers", "jitter")

    def __init__(self, triggers: Iterable[BaseTrigger], jitter: float | None = None) -> None:
        if isinstance(triggers, (str, bytes, BaseTrigger)) or not isinstance(triggers, Iterable):
            raise TypeError(f"triggers must be a list of triggers, got {triggers!r} instead")

        self.triggers = list(triggers)
        if not self.triggers:
            raise ValueError("triggers must contain at least one trigger")

        for trigger in self.triggers:
            if not isinstance(trigger, BaseTrigger):
                raise TypeError(
                    f"triggers must contain only BaseTrigger instances, got {trigger!r}"
                )

        self.jitter = check_jitter(jitter)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": 1,
            "jitter": self.jitter,
            "triggers": [
                (obj_to_ref(trigger.__class__), cast("_StatefulTrigger", trigger).__getstate__())
                for trigger in self.triggers
            ],
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_state_version(state, 1, self)
        self.jitter = state["jitter"]
        self.triggers = []
        for class_ref, trigger_state in state["triggers"]:
            trigger_class = ref_to_obj(class_ref) if isinstance(class_ref, str) else class_ref
            trigger = trigger_class.__new__(trigger_class)
            trigger.__setstate__(trigger_state)
            self.triggers.append(trigger)

    def _jittered(self, fire_time: datetime, now: datetime) -> datetime:
        """Add the jitter in UTC, so that it is real elapsed time across clock changes."""
        if not self.jitter:
            return fire_time

        shifted = self._apply_jitter(to_utc(fire_time), self.jitter, now)
        assert shifted is not None
        return shifted.astimezone(fire_time.tzinfo)

    def _joined(self) -> str:
        return ", ".join(str(trigger) for trigger in self.triggers)

    def __repr__(self) -> str:
        jitter = f", jitter={self.jitter}" if self.jitter else ""
        return f"<{self.__class__.__name__}({self.triggers}{jitter})>"


class AndTrigger(BaseCombiningTrigger):
    """
    Fires on the earliest time that every given trigger agrees on.

    The search alternates: every trigger that proposes a time earlier than the latest
    proposal is asked for its first fire time at or after that latest proposal (as its first
    fire time with ``now`` set to it), until all proposals are equal. It gives up, and the
    trigger is finished, when any trigger is finished, or after ``max_iterations`` (1000)
    rounds without agreement (triggers that never coincide, such as ``day_of_week='mon'``
    and ``day_of_week='tue'``, would otherwise search forever).

    Triggers without a notion of "first fire time at or after a given moment" (such as an
    interval trigger with ``jitter``) rarely agree with others; combine cron and calendar
    style triggers.

    :param triggers: the triggers to combine
    :param jitter: delay each fire time by a random 0 to ``jitter`` seconds
    """

    __slots__ = ()

    #: rounds of the agreement search before the trigger is considered finished
    max_iterations = 1000

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        proposals = [_continuation(trigger, previous_fire_time, now) for trigger in self.triggers]
        for _ in range(self.max_iterations):
            if None in proposals:
                return None

            found = cast("list[datetime]", proposals)  # no None in it, as just checked
            # compared as instants: two readings in one zone compare by the wall clock, which
            # gets the order wrong in a repeated hour
            latest = max(found, key=to_utc)
            latest_utc = to_utc(latest)
            if all(to_utc(proposal) == latest_utc for proposal in found):
                return self._jittered(latest, now)

            for index, proposal in enumerate(found):
                if to_utc(proposal) != latest_utc:
                    proposals[index] = _first_from(self.triggers[index], latest)

        return None

    def __str__(self) -> str:
        return f"and[{self._joined()}]"


class OrTrigger(BaseCombiningTrigger):
    """
    Fires whenever any of the given triggers fires; finished when all of them are.

    Each trigger is asked both for its continuation from the previous fire time (as in
    APScheduler 3) and for its first fire time after that previous fire time, and the
    earliest answer later than the previous fire time wins. So several date triggers all
    fire, and interval triggers with different periods keep their own rhythm, even though
    the combined trigger only remembers one previous fire time.

    :param triggers: the triggers to combine
    :param jitter: delay each fire time by a random 0 to ``jitter`` seconds
    """

    __slots__ = ()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        candidates = []
        for trigger in self.triggers:
            answer = _continuation(trigger, previous_fire_time, now)
            if answer is not None:
                candidates.append(answer)

            if previous_fire_time is not None:
                answer = _first_from(trigger, to_utc(previous_fire_time) + ONE_MICROSECOND)
                if answer is not None:
                    candidates.append(answer)

        if not candidates:
            return None

        return self._jittered(min(candidates, key=to_utc), now)

    def __str__(self) -> str:
        return f"or[{self._joined()}]"
