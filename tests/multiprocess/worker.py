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
        if claimed:
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
    stopping.wait()
    # waits for the running jobs, which keeps their runs alive in the store until they end, as
    # the documentation advises where processes share a store
    scheduler.shutdown()


if __name__ == "__main__":
    main()
