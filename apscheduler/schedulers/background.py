"""A scheduler that runs in a thread of its own, beside the rest of the program."""

from __future__ import annotations

from threading import Thread, current_thread
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler, WakeSignal
from apscheduler.util import asbool


class BackgroundScheduler(BlockingScheduler):
    """
    A scheduler that runs in the background using a separate thread
    (:meth:`~apscheduler.schedulers.base.BaseScheduler.start` will return immediately).

    Extra options:

    ========== =============================================================================
    ``daemon`` Set the ``daemon`` option in the background thread (defaults to ``True``, see
               `the documentation
               <https://docs.python.org/3/library/threading.html#thread-objects>`_
               for further details)
    ========== =============================================================================
    """

    _thread: Thread | None = None

    def _configure(self, config: dict[str, Any]) -> None:
        self._daemon = asbool(config.pop("daemon", True))
        super()._configure(config)

    def start(self, *args: Any, **kwargs: Any) -> None:
        if self._event is None or self._event.is_set():
            self._event = WakeSignal()

        BaseScheduler.start(self, *args, **kwargs)
        self._thread = Thread(target=self._main_loop, name="APScheduler", daemon=self._daemon)
        self._thread.start()

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        super().shutdown(*args, **kwargs)
        thread, self._thread = self._thread, None
        # a job or listener may shut the scheduler down from the scheduler's own thread
        if thread is not None and thread is not current_thread():
            thread.join()
