"""A stand-in scheduler and job factory shared by the executor tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from apscheduler.events import JobExecutionEvent
from apscheduler.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from apscheduler.job import Job
from tests.conftest import FakeClock
from tests.executors.targets import EveryMinuteTrigger

WAIT_TIMEOUT = 30.0


class StandInScheduler:
    """
    Stand-in for a real scheduler: only what executors and jobs use of one.

    Executors take a lock from ``_create_lock()`` and report through ``_dispatch_event()``;
    jobs read ``timezone``, and ``run_job`` reads the time from ``_clock``.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.timezone = timezone.utc
        self._clock = clock
        self.events: list[JobExecutionEvent] = []
        self._events_changed = threading.Condition()

    def _create_lock(self) -> threading.RLock:
        return threading.RLock()

    def _dispatch_event(self, event: JobExecutionEvent) -> None:
        with self._events_changed:
            self.events.append(event)
            self._events_changed.notify_all()

    def wait_for_events(
        self, count: int, timeout: float = WAIT_TIMEOUT
    ) -> list[JobExecutionEvent]:
        """Return the events once at least ``count`` have arrived; fail after ``timeout``."""
        with self._events_changed:
            if not self._events_changed.wait_for(lambda: len(self.events) >= count, timeout):
                raise AssertionError(f"expected {count} events in {timeout}s, got {self.events}")

            return list(self.events)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_TIMEOUT) -> None:
    """Poll ``predicate`` until it holds, for things that signal nothing (log records)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")

        time.sleep(0.01)


@pytest.fixture
def scheduler(fake_clock: FakeClock) -> StandInScheduler:
    return StandInScheduler(fake_clock)


@pytest.fixture
def make_job(scheduler: StandInScheduler) -> Callable[..., Job]:
    """Build a stored-looking job (store alias ``default``) for a callable."""

    def factory(func: Any, *, args: Any = (), kwargs: Any = None, **options: Any) -> Job:
        options.setdefault("max_instances", 1)
        options.setdefault("misfire_grace_time", None)
        options.setdefault("next_run_time", scheduler._clock.now(timezone.utc))
        job = Job(
            scheduler,
            func=func,
            args=args,
            kwargs=kwargs or {},
            trigger=EveryMinuteTrigger(),
            executor="default",
            coalesce=True,
            **options,
        )
        job._jobstore_alias = "default"
        return job

    return factory


@pytest.fixture
def wall_clock_now() -> datetime:
    """Run time for jobs in worker processes, which read the real clock (no scheduler there)."""
    return datetime.now(timezone.utc)


@pytest.fixture
def release() -> threading.Event:
    """Lets blocked jobs finish; the executor fixtures set it before shutting down."""
    return threading.Event()


@pytest.fixture
def thread_executor(
    scheduler: StandInScheduler, release: threading.Event
) -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=4)
    executor.start(scheduler, "default")
    yield executor
    release.set()
    executor.shutdown(wait=True)


@pytest.fixture
def process_executor(scheduler: StandInScheduler) -> Iterator[ProcessPoolExecutor]:
    executor = ProcessPoolExecutor(max_workers=2)
    executor.start(scheduler, "default")
    yield executor
    executor.shutdown(wait=True)
