"""
A QtScheduler running a job every second in a Qt application.

Jobs run in a thread pool, so they never freeze the user interface; a job that has something
to show sends it with a signal, which Qt delivers in the application's thread. The demo stops
by itself after three ticks. To run it without a display, set ``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import sys
from datetime import datetime

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication

from apscheduler.schedulers.qt import QtScheduler

TICKS = 3


class Clock(QObject):
    ticked = Signal(str)

    def tick(self) -> None:
        """The job: runs in a worker thread, so it only emits a signal."""
        self.ticked.emit(f"{datetime.now():%H:%M:%S}")


class Display(QObject):
    """Lives in the application's thread, where widgets may be touched."""

    def __init__(self, app: QApplication) -> None:
        super().__init__()
        self.app = app
        self.ticks = 0

    @Slot(str)
    def show_time(self, text: str) -> None:
        print(f"Tick! The time is: {text}")
        self.ticks += 1
        if self.ticks == TICKS:
            self.app.quit()


def main() -> None:
    app = QApplication(sys.argv)
    clock, display = Clock(), Display(app)
    clock.ticked.connect(display.show_time)

    scheduler = QtScheduler()
    scheduler.add_job(clock.tick, "interval", seconds=1, next_run_time=datetime.now().astimezone())
    scheduler.start()
    app.exec()
    scheduler.shutdown()


if __name__ == "__main__":
    main()
