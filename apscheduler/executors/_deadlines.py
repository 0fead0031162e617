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
import weakref
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio


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


class JobLost(BaseException):
    """
    The outcome of a run handed to another machine that never reported its end: the worker
    running it died (its engine says so, or redelivered the message after the death). Never
    raised inside a job; it stands as the exception of the run's error event, and the run is
    recorded ``lost``. A ``BaseException``, so that ``retry_on=Exception`` does not retry it: the
    task queue's own settings decide whether a lost message runs again.

    .. versionadded:: 3.12.0
    """


# documented, and unpickled in worker processes, as apscheduler.executors.base names
JobTimeout.__module__ = JobCancelled.__module__ = JobLost.__module__ = "apscheduler.executors.base"


class Deadline:
    """One armed deadline; :meth:`cancel` it when the run ends in time."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        # the entry stays in the heap until its time; what the callback holds (a run's guard
        # and its job) need not stay with it
        self.callback = _ignore


def _ignore() -> None:
    """What a cancelled deadline calls: nothing."""


#: the heap is swept of cancelled deadlines once it holds this many entries or more
_SWEEP_FLOOR = 1024


class DeadlineWatcher:
    """Fires deadlines from one daemon thread, started on first use (again after a fork)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._sweep_at = _SWEEP_FLOOR
        self._new_thread_state()
        if hasattr(os, "register_at_fork"):  # where it is missing, nothing forks (Windows)
            os.register_at_fork(after_in_child=partial(_after_fork, weakref.ref(self)))

    def _new_thread_state(self) -> None:
        """No thread yet, and a fresh lock (a forked child may get its parent's held)."""
        # watch() takes the plain lock: entering it costs less than entering the condition
        self._lock = threading.Lock()
        self._condition = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, callback: Callable[[], None]) -> Deadline:
        """Call ``callback`` (in the watcher's thread) in ``seconds`` unless cancelled first."""
        deadline = Deadline(time.monotonic() + seconds, callback)
        with self._lock:
            heap = self._heap
            heapq.heappush(heap, (deadline.when, next(self._order), deadline))
            if len(heap) >= self._sweep_at:
                self._sweep()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._fire_when_due, name="APScheduler timeouts", daemon=True
                )
                self._thread.start()
            elif heap[0][2] is deadline:
                self._condition.notify()
        return deadline

    def _sweep(self) -> None:
        """
        Drop the cancelled deadlines, which runs that end in time leave behind until their
        time: with a long timeout they would pile up. Hold the condition.

        The next sweep waits until the heap has doubled, so sweeping costs each deadline
        little, however many are armed.
        """
        heap = self._heap
        heap[:] = [entry for entry in heap if not entry[2].cancelled]
        heapq.heapify(heap)
        self._sweep_at = max(_SWEEP_FLOOR, 2 * len(heap))

    def _fire_when_due(self) -> None:
        # The thread sleeps until the earliest entry is due, cancelled or not: dropping the
        # cancelled ones as soon as it wakes would leave it sleeping with nothing to wait for,
        # and the next watch() would have to wake it. A run that ends in time (cancelling its
        # deadline) would then wake this thread every time, and its wake-up competes for the
        # interpreter with the jobs starting then.
        while True:
            with self._condition:
                while True:
                    heap = self._heap
                    if not heap:
                        self._condition.wait()
                        continue
                    remaining = heap[0][0] - time.monotonic()
                    if remaining > 0:
                        self._condition.wait(remaining)
                        continue
                    deadline = heapq.heappop(heap)[2]
                    if not deadline.cancelled:
                        break
            try:
                deadline.callback()
            except Exception:  # a failing callback must not stop the other deadlines
                import logging

                logging.getLogger("apscheduler.executors").exception("A job timeout failed")


def _after_fork(watcher_ref: weakref.ref[DeadlineWatcher]) -> None:
    """In a forked child: the watcher's thread stayed in the parent; the next watch starts one."""
    forked = watcher_ref()
    if forked is not None:
        forked._new_thread_state()


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

    def runs_the_caller(self) -> bool:
        """Tell whether the calling code runs in the thread of the run going on."""
        return self._thread_id == threading.get_ident()

    def _expire(self) -> None:
        with self._lock:
            thread_id = self._thread_id
            if thread_id is None:
                return  # ended just in time
            self._fired = True
            _raise_in_thread(thread_id, JobTimeout)
            run_time = self._run_time
        self._on_expiry(run_time)


class TaskRunGuard:
    """
    Lets the runs of a coroutine job be stopped for a newer run (``overlap="cancel"``): cancels
    the asyncio task they run in, from whichever thread asks.

    The job gets :exc:`~asyncio.CancelledError` at the ``await`` it waits on; :meth:`disarm`
    takes that cancellation back and tells that the run was stopped, so that it is reported as
    stopped, not as a timeout or a cancellation from outside (an executor shutting down).

    :param loop: the event loop the runs go on
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._task: asyncio.Task[Any] | None = None
        # counts the runs, so that a stop that arrives late leaves the next run alone
        self._run = 0
        self._stopped = False
        self._stop_pending: str | None = None
        #: why the run was stopped for another, if it was
        self.cancel_reason: str | None = None

    def arm(self) -> None:
        """A run starts, in its task; a stop asked for before keeps it from starting."""
        import asyncio  # a coroutine job runs on an asyncio loop: already imported

        with self._lock:
            if self._stop_pending is not None:
                self.cancel_reason, self._stop_pending = self._stop_pending, None
                raise JobCancelled(self.cancel_reason)
            self._task = asyncio.current_task()
            self._run += 1
            self._stopped = False
            self.cancel_reason = None

    def disarm(self) -> bool:
        """The run ended, in its task: take back the stop's cancellation; tell if it came."""
        with self._lock:
            task, self._task = self._task, None
        # Task.uncancel() arrived in Python 3.11; before, a task keeps no count to correct
        uncancel = getattr(task, "uncancel", None)
        if self._stopped and uncancel is not None:
            uncancel()
        return self._stopped

    def stop(self, reason: str) -> bool:
        """Cancel the run going on now (or keep the next one from starting)."""
        with self._lock:
            if self._task is None:
                self._stop_pending = reason
                return True
            run = self._run
        try:
            self._loop.call_soon_threadsafe(self._cancel, run, reason)
        except RuntimeError:  # the loop is closed: no run is left to stop
            return False
        return True

    def _cancel(self, run: int, reason: str) -> None:
        # in the loop's thread, as arm() and disarm() are: the run cannot end meanwhile
        if self._task is None or self._run != run:
            return  # that run ended before the stop arrived
        self._stopped = True
        self.cancel_reason = reason
        self._task.cancel(reason)

    def runs_the_caller(self) -> bool:
        """Tell whether the code calling this is the run's own task."""
        import asyncio

        try:
            current = asyncio.current_task()
        except RuntimeError:  # no loop runs in the calling thread
            return False
        return current is not None and current is self._task


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
    "TaskRunGuard",
    "ThreadRunGuard",
    "watcher",
]
