"""
Deadlines of runs with a ``timeout``: one watcher thread per process, and the guards that stop
a run when its deadline passes.

A job with a timeout costs one heap entry per run, not a thread or a timer object: the watcher
sleeps until the earliest deadline and fires the ones that passed. A guard arms a deadline when
the job function is called and disarms it when it returns; what firing does depends on where
the job runs (see :class:`ThreadRunGuard` and :class:`AlarmRunGuard`).
"""

from __future__ import annotations

import heapq
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any


class JobTimeout(BaseException):
    """
    Raised inside a job that has run for longer than its ``timeout``.

    A :exc:`BaseException`, as :exc:`KeyboardInterrupt` is, so that the ``except Exception``
    blocks of the job's own code do not swallow it and let the run go on.

    .. versionadded:: 3.12.0
    """


class JobCancelled(BaseException):
    """
    Raised inside a running job that a newer run of the same job replaces (``overlap="cancel"``).

    .. versionadded:: 3.12.0
    """


# both are documented, and unpickled in worker processes, as apscheduler.executors.base names
JobTimeout.__module__ = JobCancelled.__module__ = "apscheduler.executors.base"


class Deadline:
    """One armed deadline; :meth:`cancel` it when the run ends in time."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class DeadlineWatcher:
    """Fires deadlines from one daemon thread, started on first use (again after a fork)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def watch(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        """Call ``callback`` (in the watcher's thread) in ``seconds`` unless cancelled first."""
        deadline = Deadline(time.monotonic() + seconds, callback)
        with self._condition:
            heapq.heappush(self._heap, (deadline.when, next(self._order), deadline))
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._fire_when_due, name="APScheduler timeouts", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._condition.notify()
        return deadline

    def _fire_when_due(self) -> None:
        while True:
            with self._condition:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._condition.wait()
                        continue
                    remaining = self._heap[0][0] - time.monotonic()
                    if remaining <= 0:
                        deadline = heapq.heappop(self._heap)[2]
                        break
                    self._condition.wait(remaining)
            try:
                deadline.callback()
            except Exception:  # a failing callback must not stop the other deadlines
                import logging

                logging.getLogger("apscheduler.executors").exception("A job timeout failed")


#: the watcher of this process
watcher = DeadlineWatcher()


def _raise_in_thread(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Make ``exc_type`` be raised in the thread ``thread_id`` (``None``: take it back)."""
    import ctypes  # only jobs with a timeout need it

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )


class ThreadRunGuard:
    """
    Stops a run in a thread of this process when its deadline passes.

    At the deadline it raises :exc:`JobTimeout` in the job's thread (Python code is interrupted
    at once; a blocking call into C finishes first) and calls ``on_expiry`` with the run time:
    the run is reported timed out then, whether or not the thread has stopped yet.

    :param timeout: seconds each run may take
    :param on_expiry: called in the watcher's thread with the run time that timed out
    """

    def __init__(self, timeout: float | None, on_expiry: Callable[[Any], None]) -> None:
        self.timeout = timeout
        self._on_expiry = on_expiry
        self._lock = threading.Lock()
        self._thread_id: int | None = None
        self._run_time: Any = None
        self._deadline: Deadline | None = None
        self._fired = False
        #: why the run was stopped for another (``overlap="cancel"``), if it was
        self.cancel_reason: str | None = None
        # a stop asked for before the run started: it does not start
        self._stop_pending: str | None = None
        self._ended = False

    def arm(self, run_time: Any) -> None:
        with self._lock:
            if self._stop_pending is not None:
                self.cancel_reason, self._stop_pending = self._stop_pending, None
                raise JobCancelled
            self._thread_id = threading.get_ident()
            self._run_time = run_time
            self._fired = False
            self.cancel_reason = None
            if self.timeout is not None:
                self._deadline = watcher.watch(self.timeout, self._expire)

    def disarm(self) -> bool:
        """End the run's watch, in the job's thread; tell whether its deadline had passed."""
        with self._lock:
            thread_id, self._thread_id = self._thread_id, None
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            fired = self._fired
            if (fired or self.cancel_reason) and thread_id is not None:
                _raise_in_thread(thread_id, None)  # not raised yet: it must not be any more
        return fired

    def stop(self, reason: str) -> bool:
        """
        Stop the run going on now with :exc:`JobCancelled`, as a timeout would; tell whether
        one was going on.
        """
        with self._lock:
            thread_id = self._thread_id
            if self._fired or self._ended:
                return False
            if thread_id is None:  # submitted, not started yet
                self._stop_pending = reason
                return True
            self.cancel_reason = reason
            _raise_in_thread(thread_id, JobCancelled)
            return True

    def end(self) -> None:
        """The submission is over (every run of it): nothing is left to stop."""
        with self._lock:
            self._ended = True

    def _expire(self) -> None:
        with self._lock:
            thread_id = self._thread_id
            if thread_id is None:
                return  # ended just in time
            self._fired = True
            _raise_in_thread(thread_id, JobTimeout)
            run_time = self._run_time
        self._on_expiry(run_time)


class AlarmRunGuard:
    """
    Stops a run in the main thread of a worker process with ``SIGALRM`` at its deadline.

    The signal interrupts blocking calls that can be interrupted (``time.sleep``, socket reads)
    as well as Python code; the handler raises :exc:`JobTimeout`.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._fired = False

    def arm(self, run_time: Any) -> None:
        self._fired = False
        signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)

    def disarm(self) -> bool:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return self._fired

    def _expire(self, signum: int, frame: Any) -> None:
        self._fired = True
        raise JobTimeout


__all__ = [
    "AlarmRunGuard",
    "DeadlineWatcher",
    "JobCancelled",
    "JobTimeout",
    "ThreadRunGuard",
    "watcher",
]
