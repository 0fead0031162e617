"""
Job callables for the executor tests.

They live in an importable module because process pool workers are started with ``spawn``:
a worker finds the callable again through its ``module:name`` reference.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

# Changed by a test in the scheduler process; a spawned worker still sees the original value.
MARKER = "as imported"


class EveryMinuteTrigger(BaseTrigger):
    """Stand-in for the real interval trigger: fires every minute after the previous fire time."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return now if previous_fire_time is None else previous_fire_time + timedelta(minutes=1)

    def __str__(self) -> str:
        return "every minute"


class Canary:
    """An object whose death a test can watch through a weak reference."""


def add(a: int, b: int) -> int:
    return a + b


def get_pid() -> int:
    return os.getpid()


def get_thread_ident() -> int:
    return threading.get_ident()


def read_marker() -> str:
    return MARKER


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def fail_holding_canary(canary_refs: list[weakref.ref[Canary]]) -> None:
    canary = Canary()
    canary_refs.append(weakref.ref(canary))
    raise RuntimeError("failed while holding a canary")


def wait_until_released(
    release: threading.Event, started: threading.Semaphore | None = None
) -> str:
    if started is not None:
        started.release()

    release.wait(10)
    return "released"


def kill_own_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def spin(seconds: float = 60.0) -> str:
    """A CPU loop in Python, which a timeout interrupts."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


def nap(seconds: float = 60.0) -> str:
    """One blocking call: a timeout in a thread waits for it; an alarm signal interrupts it."""
    import time

    time.sleep(seconds)
    return "woke"


def swallow_everything(seconds: float = 60.0) -> str:
    """A loop that catches every ``Exception``: a timeout must still stop it."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sum(range(1000))
        except Exception:  # noqa: S112 (the point of the test)
            continue
    return "finished"


def note_run(
    log: list[str], name: str, release: threading.Event, started: threading.Semaphore
) -> str:
    """Note when the run starts and ends; wait for ``release`` where a stop can interrupt it."""
    log.append(f"{name} started")
    started.release()
    try:
        while not release.wait(0.01):  # short waits: a stop is raised between them
            pass
    finally:
        log.append(f"{name} ended")
    return name
