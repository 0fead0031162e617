"""A scheduler that lives on a Twisted reactor."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from apscheduler._lazy import lazy_names
from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers import SchedulerNotRunningError as SchedulerNotRunningError
from apscheduler.schedulers._loop import LoopScheduler, call_on_loop
from apscheduler.schedulers.base import BaseScheduler as BaseScheduler
from apscheduler.util import _with_note, maybe_ref

try:
    import twisted  # noqa: F401  (the reactor itself is imported when it is needed)
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("TwistedScheduler requires Twisted installed"),
        "pip install APScheduler[twisted]",
    ) from exc

# ``name as name`` above, and ``default_reactor``: names this module had in APScheduler 3,
# which programs import from here (and test suites patch). Importing the global reactor
# installs the default one, so that waits until a scheduler without a reactor starts (or
# something asks for the name), leaving programs free to install another reactor first.
__getattr__ = lazy_names(__name__, {"default_reactor": ("twisted.internet.reactor", None)})


def run_in_reactor(func: Callable[..., Any]) -> Callable[..., None]:
    """Make a scheduler method run in the reactor's thread, whichever thread calls it."""
    return call_on_loop(func, lambda scheduler, call: scheduler._reactor.callFromThread(call))


class TwistedScheduler(LoopScheduler):
    """
    A scheduler that runs on a Twisted reactor. Its methods may be called from any thread.

    Extra options:

    =========== ===============================================================================
    ``reactor`` the reactor (or a ``module:name`` reference to it) to run on; without it, the
                global reactor (:mod:`twisted.internet.reactor`, this module's
                ``default_reactor``), imported by :meth:`~.BaseScheduler.start` so that a
                program can install another reactor before that
    =========== ===============================================================================
    """

    _reactor: Any = None

    def _configure(self, config: dict[str, Any]) -> None:
        self._configured_reactor = maybe_ref(config.pop("reactor", None))
        super()._configure(config)

    def start(self, paused: bool = False) -> None:
        if not self.running:  # (a running scheduler keeps its reactor; start() then raises)
            self._reactor = self._configured_reactor
            if self._reactor is None:
                self._reactor = sys.modules[__name__].default_reactor
        super().start(paused)

    def _call_soon_threadsafe(self, callback: Callable[[], Any]) -> None:
        self._reactor.callFromThread(callback)

    def _call_later(self, seconds: float, callback: Callable[[], Any]) -> Any:
        return self._reactor.callLater(seconds, callback)

    def _cancel(self, timer: Any) -> None:
        if timer.active():
            timer.cancel()

    def _create_default_executor(self) -> BaseExecutor:
        from apscheduler.executors.twisted import TwistedExecutor

        return TwistedExecutor()
