"""A scheduler that lives on a Tornado IOLoop."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.util import maybe_ref

try:
    from tornado.ioloop import IOLoop
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "TornadoScheduler requires tornado installed: pip install APScheduler[tornado]"
    ) from exc


def run_in_ioloop(func: Callable[..., Any]) -> Callable[..., None]:
    """Make a scheduler method run on the scheduler's IOLoop, whichever thread calls it."""

    @wraps(func)
    def wrapper(self: TornadoScheduler, *args: Any, **kwargs: Any) -> None:
        self._ioloop.add_callback(partial(func, self, *args, **kwargs))

    return wrapper


class TornadoScheduler(BaseScheduler):
    """
    A scheduler that runs on a Tornado IOLoop. Its methods may be called from any thread.

    Extra options:

    =========== ===============================================================================
    ``io_loop`` the IOLoop (or a ``module:name`` reference to it) to run on; without it,
                :meth:`~.BaseScheduler.start` takes ``IOLoop.current()``
    =========== ===============================================================================
    """

    _ioloop: IOLoop | None = None
    _timeout: object | None = None

    def _configure(self, config: dict[str, Any]) -> None:
        self._configured_ioloop = maybe_ref(config.pop("io_loop", None))
        super()._configure(config)

    def start(self, paused: bool = False) -> None:
        if not self.running:  # (a running scheduler keeps its loop; start() then raises)
            self._ioloop = self._configured_ioloop or IOLoop.current()
        super().start(paused)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self._ioloop.add_callback(self._stop_timer)

    @run_in_ioloop
    def wakeup(self) -> None:
        self._process()

    def _process(self) -> None:
        # a wakeup queued before shutdown() must not process jobs in stores already shut down
        self._start_timer(self._process_jobs() if self.state != STATE_STOPPED else None)

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        if wait_seconds is not None and self.state != STATE_STOPPED:
            self._timeout = self._ioloop.call_later(wait_seconds, self._process)

    def _stop_timer(self) -> None:
        if self._timeout is not None:
            self._ioloop.remove_timeout(self._timeout)
            self._timeout = None

    def _create_default_executor(self) -> BaseExecutor:
        from apscheduler.executors.tornado import TornadoExecutor

        return TornadoExecutor()
