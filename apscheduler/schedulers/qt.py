"""A scheduler that lives on the event loop of a Qt application."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from apscheduler.schedulers._processing import process_jobs_or_retry
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.util import _with_note

# The first binding found wins; PySide6 (the one Qt itself maintains) comes first.
for _binding in ("PySide6", "PyQt6", "PySide2", "PyQt5"):
    try:
        QtCore = import_module(f"{_binding}.QtCore")
        break
    except ImportError:
        continue
else:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("QtScheduler requires either PySide/PyQt (v6 to v2) installed"),
        "looked for PySide6, PyQt6, PySide2 and PyQt5: pip install APScheduler[qt]",
    )

# a name of this module in APScheduler 3; the scheduler's timer is made through it
QTimer = QtCore.QTimer

_Signal = getattr(QtCore, "Signal", None) or QtCore.pyqtSignal
_Slot: Callable[[], Callable[[Callable[[_Driver], None]], Callable[[_Driver], None]]] = (
    getattr(QtCore, "Slot", None) or QtCore.pyqtSlot
)

# Longest interval a QTimer takes (milliseconds in a signed 32-bit int); a longer wait simply
# ends with a processing pass that finds nothing due and sets the timer again.
_MAX_WAIT_MS = 2**31 - 1


# the binding is chosen at import time, so its classes are untyped here
class _Driver(QtCore.QObject):  # type: ignore[misc, name-defined]
    """Owns the timer in the application's thread; the signals carry calls from other threads."""

    wake = _Signal()
    stop = _Signal()

    def __init__(self, scheduler: QtScheduler) -> None:
        super().__init__()
        self._scheduler = scheduler
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.process)
        self.wake.connect(self.process)
        self.stop.connect(self._timer.stop)

    @_Slot()
    def process(self) -> None:
        scheduler = self._scheduler
        self._timer.stop()
        # a wakeup queued before shutdown() must not process jobs in stores already shut down
        if scheduler.state == STATE_STOPPED:
            return

        wait_seconds = process_jobs_or_retry(scheduler)
        if wait_seconds is not None and scheduler.state != STATE_STOPPED:
            self._timer.start(min(int(wait_seconds * 1000), _MAX_WAIT_MS))


class QtScheduler(BaseScheduler):
    """
    A scheduler that runs on the event loop of a Qt application (PySide6, PyQt6, PySide2 or
    PyQt5, whichever is found first, in that order).

    It works in the thread of the application object, so create the ``QApplication`` (or
    ``QCoreApplication``) before calling :meth:`~.BaseScheduler.start`. Its methods may be
    called from any thread. Jobs run in a thread pool by default, so they don't freeze the user
    interface; a job must not touch widgets directly (send them a signal instead).
    """

    _driver: _Driver | None = None

    def start(self, *args: Any, **kwargs: Any) -> None:
        if self._driver is None:
            self._driver = _Driver(self)
            app = QtCore.QCoreApplication.instance()
            if app is not None:  # start() may be called from another thread than the app's
                self._driver.moveToThread(app.thread())
        super().start(*args, **kwargs)

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        super().shutdown(*args, **kwargs)
        assert self._driver is not None  # the scheduler was started (else shutdown() raised)
        self._driver.stop.emit()

    def wakeup(self) -> None:
        # None only before start(): wakeup() called then raises AttributeError, as it did
        self._driver.wake.emit()  # type: ignore[union-attr]
