"""A scheduler that lives on a Tornado IOLoop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta as timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers import SchedulerNotRunningError as SchedulerNotRunningError
from apscheduler.schedulers._loop import LoopScheduler, call_on_loop
from apscheduler.schedulers.base import BaseScheduler as BaseScheduler
from apscheduler.util import _with_note, maybe_ref

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

try:
    from tornado.ioloop import IOLoop
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("TornadoScheduler requires tornado installed"),
        "pip install APScheduler[tornado]",
    ) from exc


def run_in_ioloop(func: Callable[..., Any]) -> Callable[..., None]:
    """Make a scheduler method run on the scheduler's IOLoop, whichever thread calls it."""
    return call_on_loop(func, lambda scheduler, call: scheduler._ioloop.add_callback(call))


class TornadoScheduler(LoopScheduler):
    """
    A scheduler that runs on a Tornado IOLoop. Its methods may be called from any thread.

    Extra options:

    =========== ===============================================================================
    ``io_loop`` the IOLoop (or a ``module:name`` reference to it) to run on; without it,
                :meth:`~.BaseScheduler.start` takes ``IOLoop.current()``
    =========== ===============================================================================
    """

    _ioloop: IOLoop | None = None

    def _configure(self, config: dict[str, Any]) -> None:
        self._configured_ioloop = maybe_ref(config.pop("io_loop", None))
        super()._configure(config)

    def start(self, paused: bool = False) -> None:
        if not self.running:  # (a running scheduler keeps its loop; start() then raises)
            self._ioloop = self._configured_ioloop or IOLoop.current()
        super().start(paused)

    def _call_soon_threadsafe(self, callback: Callable[[], Any]) -> None:
        # None only before start(): wakeup() called then raises AttributeError, as it did
        self._ioloop.add_callback(callback)  # type: ignore[union-attr]

    def _call_later(self, seconds: float, callback: Callable[[], Any]) -> object:
        assert self._ioloop is not None  # timers are set only while started
        return self._ioloop.call_later(seconds, callback)

    def _cancel(self, timer: object) -> None:
        assert self._ioloop is not None  # the loop that set the timer (never unset)
        self._ioloop.remove_timeout(timer)

    def _create_default_executor(self) -> BaseExecutor:
        from apscheduler.executors.tornado import TornadoExecutor

        return TornadoExecutor()
