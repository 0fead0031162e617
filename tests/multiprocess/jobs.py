"""
What the jobs of the multi-process tests run, and the record they leave of each run.

A worker process opens its record file (:func:`open_record`) before its scheduler starts; every
line is appended with one ``write()`` on a file opened with ``O_APPEND``, so a process killed at
any moment leaves whole lines only. Line format::

    <kind> <job id> <scheduled run time, UTC timestamp> <pid> <wall clock time of the record>

Kinds: ``run`` (the job function began), ``end`` (a job that takes time ended), ``missed`` (``EVENT_JOB_MISSED``), ``skipped``
(``EVENT_JOB_MAX_INSTANCES``), and ``ready`` (the scheduler has started; job id and run time
are ``-``).
"""

from __future__ import annotations

import os
import threading
import time

_record_fd: int | None = None
# the run time the executor is about to run in this thread
_current = threading.local()


def open_record(path: str) -> None:
    global _record_fd
    _record_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def record(kind: str, job_id: str = "-", run_time: float | None = None) -> None:
    assert _record_fd is not None, "open_record() first"
    run = "-" if run_time is None else repr(run_time)
    os.write(_record_fd, f"{kind} {job_id} {run} {os.getpid()} {time.time()!r}\n".encode())


def running(run_time: float) -> None:
    """Called in the executor thread right before the job function runs for ``run_time``."""
    _current.run_time = run_time


def tick(job_id: str, seconds: float = 0.0) -> None:
    """The job function: record which run this is; take ``seconds`` and record the end too."""
    run_time = getattr(_current, "run_time", None)
    record("run", job_id, run_time)
    if seconds:
        time.sleep(seconds)
        record("end", job_id, run_time)


def stamp(job_id: str, run_time: float) -> None:
    """A job function that is told its run time (a one-shot job has no next one to go by)."""
    record("run", job_id, run_time)


def hold(job_id: str, gate: str, timeout: float = 60.0) -> None:
    """
    A job function that runs until the file ``gate`` exists (at most ``timeout`` seconds).

    It keeps its executor thread busy for as long as a test wants, so that the runs submitted
    after it wait in the executor's queue: submitted, not yet started.
    """
    run_time = getattr(_current, "run_time", None)
    record("run", job_id, run_time)
    deadline = time.monotonic() + timeout
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    record("end", job_id, run_time)


def flaky(counter_path: str, failures: int) -> int:
    """
    Fail the first ``failures`` calls in any process, then succeed; each call appends its pid
    to ``counter_path`` (under a lock), so a test counts the attempts that really ran.
    """
    import fcntl

    with open(counter_path, "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        number = len(counter.read().split()) + 1
        counter.write(f"{os.getpid()}\n")
    if number <= failures:
        raise RuntimeError(f"attempt {number} fails on purpose")
    return number
