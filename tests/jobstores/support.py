"""Callables, triggers and a stand-in scheduler that stored test jobs refer to."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.job import Job
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger

UTC = timezone.utc
#: the moment the store tests treat as "now"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def tick(*args: Any, **kwargs: Any) -> None:
    """A job function every test job can call."""


def doomed() -> None:
    """A job function that tests delete from this module, as a deploy that renamed it would."""


class EveryTrigger(BaseTrigger):
    """Fires every ``seconds`` from ``start``: all the schedule the store tests need."""

    def __init__(self, seconds: float = 60, start: datetime = T0) -> None:
        self.seconds = seconds
        self.start = start

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.start
        return previous_fire_time + timedelta(seconds=self.seconds)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((self.seconds, self.start))

    def __str__(self) -> str:
        return f"every[{self.seconds}s]"


class DoomedTrigger(EveryTrigger):
    """A trigger class that tests delete from this module."""


class Fragile:
    """A picklable argument whose class tests delete from this module."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fragile)

    def __hash__(self) -> int:
        return 0


class Service:
    """An object whose bound method is a job; it holds a lock, so it cannot be pickled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def run(self) -> None:
        pass


class Counter:
    """A picklable object whose bound method is a job."""

    def __init__(self, start: int = 0) -> None:
        self.value = start

    def run(self) -> None:
        self.value += 1


class RecordingScheduler:
    """Just enough of a scheduler for a store: a time zone, and events kept for the test."""

    timezone = UTC

    def __init__(self) -> None:
        self.events: list[Any] = []

    def _dispatch_event(self, event: Any) -> None:
        self.events.append(event)


def make_job(
    scheduler: Any,
    job_id: str,
    next_run_time: datetime | None = T0,
    func: Any = tick,
    trigger: BaseTrigger | None = None,
    **options: Any,
) -> Job:
    """Build a job the way the scheduler does, with defaults that keep tests short."""
    settings: dict[str, Any] = {
        "args": (),
        "kwargs": {},
        "executor": "default",
        "misfire_grace_time": 1,
        "coalesce": False,
        "max_instances": 1,
    }
    settings.update(options)
    return Job(
        scheduler,
        id=job_id,
        func=func,
        trigger=trigger or EveryTrigger(),
        next_run_time=next_run_time,
        **settings,
    )


#: labels of the runs of :func:`record_run`, for tests that run jobs through a scheduler
RUNS: list[str] = []


def record_run(label: str) -> None:
    """A job function that leaves a trace the test can read."""
    RUNS.append(label)


class SteppedScheduler(BaseScheduler):
    """A scheduler without a loop: the test calls ``_process_jobs()`` as the loop would."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        pass
