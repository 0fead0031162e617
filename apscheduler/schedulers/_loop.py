"""What the schedulers that live on a framework's event loop have in common."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from apscheduler.schedulers._processing import process_jobs_or_retry
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler


def call_on_loop(
    func: Callable[..., Any], schedule_call: Callable[[Any, Callable[[], Any]], Any]
) -> Callable[..., None]:
    """
    Wrap a scheduler method so that calling it runs it on the scheduler's loop.

    :param schedule_call: called as ``schedule_call(scheduler, callback)``; hands the callback to
        the loop in a way that is safe from any thread
    """

    @wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        schedule_call(self, partial(func, self, *args, **kwargs))

    return wrapper


class LoopScheduler(BaseScheduler):
    """
    A scheduler driven by a timer on an event loop, with no thread of its own.

    Each processing pass runs as a loop callback and sets the timer for the next one. Subclasses
    only say how to hand a call to the loop and how to set and cancel a timer on it.
    """

    _timer: Any = None

    @abstractmethod
    def _call_soon_threadsafe(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the loop soon; may be called from any thread."""

    @abstractmethod
    def _call_later(self, seconds: float, callback: Callable[[], Any]) -> Any:
        """Run ``callback`` on the loop after ``seconds``; return a handle for :meth:`_cancel`."""

    @abstractmethod
    def _cancel(self, timer: Any) -> None:
        """Cancel a timer set by :meth:`_call_later` (it may have fired already)."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self._call_soon_threadsafe(self._stop_timer)

    def wakeup(self) -> None:
        self._call_soon_threadsafe(self._process)

    def _process(self) -> None:
        # a wakeup queued before shutdown() must not process jobs in stores already shut down
        self._start_timer(process_jobs_or_retry(self) if self.state != STATE_STOPPED else None)

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        if wait_seconds is not None and self.state != STATE_STOPPED:
            self._timer = self._call_later(wait_seconds, self._process)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._cancel(self._timer)
            self._timer = None
