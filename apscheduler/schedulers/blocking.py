"""A scheduler that runs as the program's main loop."""

from __future__ import annotations

from threading import TIMEOUT_MAX, Event
from typing import Any

from apscheduler.schedulers._processing import process_jobs_or_retry
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler


class BlockingScheduler(BaseScheduler):
    """
    A scheduler that runs in the foreground
    (:meth:`~apscheduler.schedulers.base.BaseScheduler.start` will block).
    """

    _event: Event | None = None

    def start(self, *args: Any, **kwargs: Any) -> None:
        if self._event is None or self._event.is_set():
            self._event = Event()

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
