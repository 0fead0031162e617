"""
One scheduler process of the multi-process tests (see :mod:`tests.multiprocess.harness`).

Run from the repository root::

    python -m tests.multiprocess.worker --store '{"ref": "module:Class", "options": {...}}' \
        --record path/to/record.log [--clock-offset SECONDS] [--threads N] [--die-on-claim]

It starts a :class:`~apscheduler.schedulers.background.BackgroundScheduler` on the given store
(the jobs are already in it), records every run, missed run and skipped run (see
:mod:`tests.multiprocess.jobs`) and runs until it gets SIGTERM (or SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, tzinfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import datetime_to_utc_timestamp, ref_to_obj
from tests.multiprocess import jobs


class OffsetClock:
    """A clock that runs ``offset`` seconds ahead of the system's (behind if negative)."""

    def __init__(self, offset: float) -> None:
        self.offset = timedelta(seconds=offset)

    def now(self, tz: tzinfo) -> datetime:
        return datetime.now(tz) + self.offset

    def monotonic(self) -> float:
        import time

        return time.monotonic()


class RunTimeTap(logging.Filter):
    """
    Tells each job which of its run times it is running, in the thread that runs it.

    The executor logs "Running job ... (scheduled at <run time>)" in that thread right before
    it calls the job function, so this filter on its logger sees the run time first.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg.startswith("Running job") and len(record.args) == 2:
            jobs.running(datetime_to_utc_timestamp(record.args[1]))
        return record.levelno >= logging.WARNING


def die_on_claim(store) -> None:
    """Make the process kill itself with SIGKILL as soon as it holds claims, before any run."""
    acquire = store.acquire_due_jobs

    def acquire_and_die(now, owner):
        claimed = acquire(now, owner)
        if claimed.jobs:
            os.kill(os.getpid(), signal.SIGKILL)
        return claimed

    store.acquire_due_jobs = acquire_and_die


def on_event(event) -> None:
    if event.code == EVENT_JOB_MISSED:
        jobs.record("missed", event.job_id, datetime_to_utc_timestamp(event.scheduled_run_time))
    else:
        for run_time in event.scheduled_run_times:
            jobs.record("skipped", event.job_id, datetime_to_utc_timestamp(run_time))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, help="JSON: {ref, options}")
    parser.add_argument("--record", required=True, help="file to append records to")
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=10)
    parser.add_argument("--die-on-claim", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    jobs.open_record(args.record)
    spec = json.loads(args.store)
    store = ref_to_obj(spec["ref"])(**spec["options"])
    if args.die_on_claim:
        die_on_claim(store)
    scheduler = BackgroundScheduler(
        timezone="UTC",
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(args.threads)},
        clock=OffsetClock(args.clock_offset) if args.clock_offset else None,
    )
    scheduler.add_listener(on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    executor_logger = logging.getLogger("apscheduler.executors.default")
    executor_logger.setLevel(logging.INFO)
    executor_logger.addFilter(RunTimeTap())

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    scheduler.start()
    jobs.record("ready")
    # woken now and then: the kernel may hand SIGTERM to another thread, and Python then runs
    # the handler only when the main thread next runs bytecode
    while not stopping.wait(0.5):
        pass
    # waits for the running jobs, which keeps their runs alive in the store until they end, as
    # the documentation advises where processes share a store
    scheduler.shutdown()


if __name__ == "__main__":
    main()


def seamed_store(store: dict[str, object], stop_after_claim: bool = False) -> object:
    """
    Build the store ``store`` (``{"ref": ..., "options": ...}``) with test seams around it.

    A test seam for the paused-process tests: a worker given the store ref
    ``tests.multiprocess.worker:seamed_store`` records what its scheduler hears from the store
    (see :mod:`tests.multiprocess.jobs` for the line format), so that a test knows where the
    process stands without sleeping:

    * ``claimed`` for each job a claim handed out (with its due run time);
    * the outcome of each start, as ``started``, ``lost`` or ``max_instances`` (with the first
      run time);
    * ``renewed`` after each renewal of the runs in progress (job id field: how many runs the
      store said are still this process's).

    SIGUSR1 makes the process write the stacks of all its threads to its output, for a test
    that gives up waiting to show where the process stands.

    :param stop_after_claim: the process stops itself with SIGSTOP right after its first claim
        that holds jobs, between the claim and the start of the runs (a SIGCONT resumes it)
    """
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    real = ref_to_obj(store["ref"])(**store["options"])  # type: ignore[operator]
    acquire, start, renew = real.acquire_due_jobs, real.start_claimed_runs, real.renew_runs
    stopped = False

    def acquire_and_record(now, owner):
        nonlocal stopped
        claimed = acquire(now, owner)
        for job in claimed.jobs:
            jobs.record("claimed", job.id, datetime_to_utc_timestamp(job.next_run_time))
        if stop_after_claim and claimed.jobs and not stopped:
            stopped = True
            # sent to this thread, the stop takes it before it returns: sent to the process, a
            # stop may reach this thread only after it has gone on to start the runs
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
        return claimed

    def start_and_record(owner, starts):
        outcomes = start(owner, starts)
        for run_start, outcome in zip(starts, outcomes, strict=True):
            run_time = datetime_to_utc_timestamp(run_start.run_times[0])
            jobs.record(outcome.name.lower(), run_start.job.id, run_time)
        return outcomes

    def renew_and_record(owner):
        held = renew(owner)
        jobs.record("renewed", str(len(held)))
        return held

    real.acquire_due_jobs = acquire_and_record
    real.start_claimed_runs = start_and_record
    real.renew_runs = renew_and_record
    return real
