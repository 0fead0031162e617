"""A scheduler that lives on a Twisted reactor."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.util import maybe_ref

try:
    import twisted  # noqa: F401  (the reactor itself is imported when it is needed)
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "TwistedScheduler requires Twisted installed: pip install APScheduler[twisted]"
    ) from exc


def run_in_reactor(func: Callable[..., Any]) -> Callable[..., None]:
    """Make a scheduler method run in the reactor's thread, whichever thread calls it."""

    @wraps(func)
    def wrapper(self: TwistedScheduler, *args: Any, **kwargs: Any) -> None:
        self._reactor.callFromThread(partial(func, self, *args, **kwargs))

    return wrapper


class TwistedScheduler(BaseScheduler):
    """
    A scheduler that runs on a Twisted reactor. Its methods may be called from any thread.

    Extra options:

    =========== ===============================================================================
    ``reactor`` the reactor (or a ``module:name`` reference to it) to run on; without it, the
                global reactor (:mod:`twisted.internet.reactor`), imported by
                :meth:`~.BaseScheduler.start` so that a program can install another reactor
                before that
    =========== ===============================================================================
    """

    _reactor: Any = None
    _delayedcall: Any = None

    def _configure(self, config: dict[str, Any]) -> None:
        self._configured_reactor = maybe_ref(config.pop("reactor", None))
        super()._configure(config)

    def start(self, paused: bool = False) -> None:
        if not self.running:  # (a running scheduler keeps its reactor; start() then raises)
            self._reactor = self._configured_reactor
            if self._reactor is None:
                from twisted.internet import reactor  # installs the default reactor if none is

                self._reactor = reactor
        super().start(paused)

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self._reactor.callFromThread(self._stop_timer)

    @run_in_reactor
    def wakeup(self) -> None:
        self._process()

    def _process(self) -> None:
        # a wakeup queued before shutdown() must not process jobs in stores already shut down
        self._start_timer(self._process_jobs() if self.state != STATE_STOPPED else None)

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        if wait_seconds is not None and self.state != STATE_STOPPED:
            self._delayedcall = self._reactor.callLater(wait_seconds, self._process)

    def _stop_timer(self) -> None:
        if self._delayedcall is not None and self._delayedcall.active():
            self._delayedcall.cancel()
        self._delayedcall = None

    def _create_default_executor(self) -> BaseExecutor:
        from apscheduler.executors.twisted import TwistedExecutor

        return TwistedExecutor()
