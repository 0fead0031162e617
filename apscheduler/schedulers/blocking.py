"""A scheduler that runs as the program's main loop."""

from __future__ import annotations

from threading import TIMEOUT_MAX, Lock
from typing import Any

from apscheduler.schedulers._processing import process_jobs_or_retry
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler


class WakeSignal:
    """
    What the scheduler's thread sleeps on between passes: an event with a single waiter.

    It answers as :class:`threading.Event` does, but waiting is one lock acquisition, and a
    wait that ends (on time or woken up) returns at once: an Event goes through a Condition
    there, whose bookkeeping stands between the timer and the due jobs. The lock is free
    while the signal is set.
    """

    def __init__(self) -> None:
        self._lock = Lock()
        self._lock.acquire()

    def is_set(self) -> bool:
        return not self._lock.locked()

    def set(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # set already
            pass

    def clear(self) -> None:
        self._lock.acquire(False)

    def wait(self, timeout: float | None = None) -> bool:
        lock = self._lock
        if timeout is None:
            acquired = lock.acquire()
        elif timeout > 0:
            acquired = lock.acquire(True, timeout)
        else:
            acquired = lock.acquire(False)
        if acquired:
            self.set()  # it stays set until cleared
        return acquired


class BlockingScheduler(BaseScheduler):
    """
    A scheduler that runs in the foreground
    (:meth:`~apscheduler.schedulers.base.BaseScheduler.start` will block).
    """

    _event: WakeSignal | None = None

    def start(self, *args: Any, **kwargs: Any) -> None:
        if self._event is None or self._event.is_set():
            self._event = WakeSignal()

        super().start(*args, **kwargs)
        self._main_loop()

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        assert self._event is not None  # the scheduler was started (else shutdown() raised)
        self._event.set()

    def _main_loop(self) -> None:
        wait_seconds: float | None = TIMEOUT_MAX
        assert self._event is not None  # set by start() before the loop runs, never unset
        while self.state != STATE_STOPPED:
            self._event.wait(wait_seconds)
            self._event.clear()
            wait_seconds = process_jobs_or_retry(self)

    def wakeup(self) -> None:
        # None only before start(): wakeup() called then raises AttributeError, as in 3.x
        self._event.set()  # type: ignore[union-attr]
