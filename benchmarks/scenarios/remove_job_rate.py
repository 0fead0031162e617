"""
Scenario: how fast ``remove_job`` is on a running BackgroundScheduler with a memory store.

The store is filled with ``jobs`` hourly interval jobs, then ``removed`` of them, picked at
random (the same picks on every side: a fixed seed), are removed one call at a time, and
those calls are timed. Nothing becomes due during the run.
"""

from __future__ import annotations

import random
import time

from _common import ZONE_NAME, emit, parse_args, settle


def tick() -> None:
    """The job: never runs during the benchmark."""


def main() -> None:
    options = parse_args(__doc__, {"jobs": 10_000, "removed": 2_000})

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor()},
        timezone=ZONE_NAME,
    )
    scheduler.start()
    ids = [f"job-{index}" for index in range(options.jobs)]
    for job_id in ids:
        scheduler.add_job(tick, "interval", hours=1, id=job_id)
    # warm up the removal path on a job of its own
    scheduler.add_job(tick, "interval", hours=1, id="warm-up")
    scheduler.remove_job("warm-up")
    picked = random.Random(16).sample(ids, options.removed)
    settle()

    remove_job = scheduler.remove_job
    started = time.perf_counter()
    for job_id in picked:
        remove_job(job_id)
    elapsed = time.perf_counter() - started
    left = len(scheduler.get_jobs())
    scheduler.shutdown(wait=True)
    emit({"rate": options.removed / elapsed, "left": left})


if __name__ == "__main__":
    main()
