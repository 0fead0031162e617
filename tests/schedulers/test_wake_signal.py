"""The signal the scheduler's thread sleeps on answers as threading.Event does."""

from __future__ import annotations

import threading
import time

from apscheduler.schedulers.blocking import WakeSignal


def test_a_new_signal_is_clear_and_a_wait_on_it_times_out():
    signal = WakeSignal()

    assert not signal.is_set()
    assert signal.wait(0.01) is False
    assert signal.wait(0) is False


def test_a_set_signal_stays_set_through_waits_until_cleared():
    signal = WakeSignal()
    signal.set()
    signal.set()  # setting twice is harmless

    assert signal.wait(0) is True
    assert signal.wait(1) is True
    assert signal.wait() is True
    assert signal.is_set()

    signal.clear()
    signal.clear()  # so is clearing twice
    assert not signal.is_set()
    assert signal.wait(0) is False


def test_a_set_from_another_thread_ends_a_wait():
    signal = WakeSignal()
    timer = threading.Timer(0.05, signal.set)
    started = time.monotonic()
    timer.start()

    assert signal.wait(10) is True
    assert time.monotonic() - started < 5
    timer.join()
