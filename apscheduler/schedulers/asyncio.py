"""A scheduler that lives on an asyncio event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor, _call_in_loop
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers import SchedulerNotRunningError as SchedulerNotRunningError
from apscheduler.schedulers._loop import LoopScheduler, call_on_loop
from apscheduler.schedulers.base import BaseScheduler as BaseScheduler
from apscheduler.util import maybe_ref

# ``name as name``: names this module had in APScheduler 3, which programs import from here.


def run_in_event_loop(func: Callable[..., Any]) -> Callable[..., None]:
    """
    Make a scheduler method run on the scheduler's event loop, whichever thread calls it.

    The call returns at once; the method runs on the loop's next turn and its result is lost.
    """
    return call_on_loop(
        func, lambda scheduler, call: scheduler._eventloop.call_soon_threadsafe(call)
    )


class AsyncIOScheduler(LoopScheduler):
    """
    A scheduler that runs on an asyncio event loop (also uvloop's).

    Its processing runs in callbacks on the loop, so it needs no thread of its own. Methods may
    be called from other threads too.

    Extra options:

    ============== =============================================================================
    ``event_loop`` the event loop (or a ``module:name`` reference to it) to run on. Without
                   it, :meth:`~.BaseScheduler.start` takes the running loop, so it must be
                   called from that loop. With it, :meth:`~.BaseScheduler.start` may be called
                   before the loop runs.
    ============== =============================================================================
    """

    _eventloop: asyncio.AbstractEventLoop | None = None

    def _configure(self, config: dict[str, Any]) -> None:
        self._configured_loop = self._eventloop = maybe_ref(config.pop("event_loop", None))
        super()._configure(config)

    def start(self, paused: bool = False) -> None:
        if self._configured_loop is not None:
            self._eventloop = self._configured_loop
        elif not self.running:  # (a running scheduler keeps its loop; start() then raises)
            try:
                self._eventloop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "AsyncIOScheduler.start() was called with no event loop running: call it "
                    "from a coroutine, or give the loop in the event_loop option"
                ) from None

        super().start(paused)

    def _call_soon_threadsafe(self, callback: Callable[[], Any]) -> None:
        # None before start() (without the event_loop option): _call_in_loop then runs the
        # callback at once when no loop runs in this thread, as it always did
        _call_in_loop(self._eventloop, callback)  # type: ignore[arg-type]

    def _call_later(self, seconds: float, callback: Callable[[], Any]) -> asyncio.TimerHandle:
        assert self._eventloop is not None  # timers are set only while started
        return self._eventloop.call_later(seconds, callback)

    def _cancel(self, timer: asyncio.TimerHandle) -> None:
        timer.cancel()

    def _create_default_executor(self) -> BaseExecutor:
        return AsyncIOExecutor()
