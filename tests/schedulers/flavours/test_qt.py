"""QtScheduler: the binding it picks, the thread it works in, and waits longer than a QTimer."""

from __future__ import annotations

import sys
import threading
import types
from datetime import datetime, timedelta, timezone

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from tests.schedulers.flavours.conftest import import_afresh, require_for_module
from tests.schedulers.flavours.harnesses import TIMEOUT

require_for_module("PySide6")

pytestmark = pytest.mark.flavours("qt")


def test_pyside6_is_the_first_choice(harness, scheduler):
    from apscheduler.schedulers import qt

    assert qt.QtCore.__name__ == "PySide6.QtCore"


def test_the_next_binding_is_used_when_pyside6_is_missing(monkeypatch):
    """Stands PySide6's QtCore in for PyQt6's, under PyQt6's names for signals and slots."""
    import PySide6.QtCore

    fake_qtcore = types.ModuleType("PyQt6.QtCore")
    fake_qtcore.QObject = PySide6.QtCore.QObject
    fake_qtcore.QTimer = PySide6.QtCore.QTimer
    fake_qtcore.QCoreApplication = PySide6.QtCore.QCoreApplication
    fake_qtcore.pyqtSignal = PySide6.QtCore.Signal
    fake_qtcore.pyqtSlot = PySide6.QtCore.Slot
    monkeypatch.setitem(sys.modules, "PyQt6", types.ModuleType("PyQt6"))
    monkeypatch.setitem(sys.modules, "PyQt6.QtCore", fake_qtcore)

    qt = import_afresh(monkeypatch, "apscheduler.schedulers.qt", ["PySide6"])

    assert qt.QtCore is fake_qtcore


def test_start_from_another_thread_still_works_in_the_application_thread(
    harness, scheduler, event_log, qt_app
):
    starter = threading.Thread(target=scheduler.start)
    starter.start()
    starter.join(TIMEOUT)

    job = scheduler.add_job(print, args=["hello from a job"])

    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, job.id))
    assert scheduler._driver.thread() is qt_app.thread()


def test_a_job_months_away_sets_the_longest_timer_qt_allows(harness, scheduler, event_log):
    scheduler.start()
    far_away = datetime.now(timezone.utc) + timedelta(days=60)

    scheduler.add_job(print, "date", run_date=far_away)
    harness.flush()

    assert scheduler._driver._timer.isActive()
    assert scheduler._driver._timer.interval() == 2**31 - 1
    soon = scheduler.add_job(print, args=["still working"])
    assert harness.wait_until(event_log.has(EVENT_JOB_EXECUTED, soon.id))
