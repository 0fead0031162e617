"""Callables, triggers and a stand-in scheduler that stored test jobs refer to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

from apscheduler.job import Job
from apscheduler.jobstores.shared import RunStart, RunStartOutcome
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger

UTC = timezone.utc
#: the moment the store tests treat as "now"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: where the tests move a job on to when its run at ``T0`` starts
NEXT = T0 + timedelta(minutes=1)
#: a lease short enough for tests to watch it expire on the server's clock
SHORT_LEASE = 0.3

STARTED, MAX_INSTANCES, LOST = (
    RunStartOutcome.STARTED,
    RunStartOutcome.MAX_INSTANCES,
    RunStartOutcome.LOST,
)


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


def add(store: Any, job_id: str, run_time: datetime | None = T0, **options: Any) -> Job:
    """Add a job due at ``run_time`` to ``store``; return it."""
    job = make_job(store._scheduler, job_id, run_time, **options)
    store.add_job(job)
    return job


def ids(jobs: Sequence[Job]) -> list[str]:
    return [job.id for job in jobs]


def start_for(
    job: Job, run_times: Sequence[datetime], next_run_time: datetime | None, run_id: str
) -> RunStart:
    """
    Move a claimed job on to ``next_run_time`` and return the start of its runs, as a pass does.

    The scheduler moves the job on before it calls ``start_claimed_runs``; the store stores it
    as given.
    """
    job._modify(next_run_time=next_run_time)
    return RunStart(job, list(run_times), run_id)


def start(
    store: Any,
    owner: str,
    job: Job,
    next_run_time: datetime | None = NEXT,
    run_id: str | None = None,
    run_times: Sequence[datetime] | None = None,
) -> tuple[RunStartOutcome, str]:
    """
    Record the start of the due runs of a claimed job, as a scheduler pass does.

    :param run_times: the runs it starts; by default the one at the job's next run time
    :return: the outcome, and the run id (a fresh one unless ``run_id`` is given)
    """
    run_id = run_id or uuid4().hex
    run = start_for(job, run_times or [job.next_run_time], next_run_time, run_id)
    [outcome] = store.start_claimed_runs(owner, [run])
    return outcome, run_id


def claim_and_start(
    store: Any, owner: str, now: datetime, run_id: str, next_run_time: datetime | None = None
) -> RunStartOutcome:
    """Claim the one job due at ``now`` and start its run; return the outcome."""
    (job,) = store.acquire_due_jobs(now, owner).jobs
    return start(store, owner, job, next_run_time or now + timedelta(minutes=1), run_id)[0]


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> bool:
    """
    Poll ``condition`` until it holds; servers keep real time, so some tests must wait.

    :param timeout: seconds before giving up; generous, since only a failing test waits it out
    :return: whether ``condition`` held before the deadline
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
