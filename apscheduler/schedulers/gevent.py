"""A scheduler whose loop runs in a greenlet, for programs built on gevent."""

from __future__ import annotations

from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.util import _with_note

try:
    import gevent
    from gevent.event import Event
    from gevent.lock import RLock
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("GeventScheduler requires gevent installed"), "pip install APScheduler[gevent]"
    ) from exc

from apscheduler.executors.gevent import (  # noqa: E402  (after the check that gevent exists)
    GeventExecutor,
    _may_wait_for_greenlets_of,
    _thread_id,
)


class GeventScheduler(BlockingScheduler):
    """
    A scheduler that runs as a greenlet.

    :meth:`~.BaseScheduler.start` returns that greenlet at once; the program must then let
    gevent switch to it (by waiting on anything gevent provides, or joining the greenlet). The
    other methods may be called from greenlets and from other threads alike.
    """

    _greenlet: gevent.Greenlet | None = None

    def start(self, *args: Any, **kwargs: Any) -> gevent.Greenlet:
        if not self.running:  # (else start() raises, and the running loop keeps its event)
            self._event = Event()
        BaseScheduler.start(self, *args, **kwargs)
        self._greenlet = gevent.spawn(self._main_loop)
        self._greenlet_thread = _thread_id()
        return self._greenlet

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        super().shutdown(*args, **kwargs)
        greenlet, self._greenlet = self._greenlet, None
        # A listener may shut the scheduler down from the scheduler's own greenlet, or from
        # another thread; the loop then ends on its own, without being waited for.
        if (
            greenlet is not None
            and greenlet is not gevent.getcurrent()
            and _may_wait_for_greenlets_of(self._greenlet_thread)
        ):
            greenlet.join()

    def _create_lock(self) -> RLock:
        return RLock()

    def _create_default_executor(self) -> BaseExecutor:
        return GeventExecutor()
