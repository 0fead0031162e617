"""
Scenario: how fast ``add_job`` is on a running BackgroundScheduler as its memory store fills.

The store is filled up to each size, and the last ``window`` additions before the size is
reached are timed, so the figure for 300k is the rate a program sees when it adds jobs to a
scheduler that already holds that many. Each job is an hourly interval job of a module-level
function, so no job becomes due during the run.
"""

from __future__ import annotations

import time

from _common import ZONE_NAME, emit, parse_args, settle


def tick() -> None:
    """The job: never runs during the benchmark."""


def start_scheduler():
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor()},
        timezone=ZONE_NAME,
    )
    scheduler.start()
    return scheduler


def main() -> None:
    options = parse_args(__doc__, {"sizes": [1_000, 10_000, 100_000, 300_000], "window": 1_000})

    # Warm up on a throwaway scheduler, so one-time costs (lazy imports, plugin loading,
    # caches) are not counted against the smallest size.
    warm_up = start_scheduler()
    for _ in range(options.window):
        warm_up.add_job(tick, "interval", hours=1)
    warm_up.shutdown(wait=True)

    scheduler = start_scheduler()
    # let the threads the scheduler just started settle, so they do not compete with the first
    # timed additions
    settle()
    add_job = scheduler.add_job
    rates = {}
    stored = 0
    fill_started = time.perf_counter()
    try:
        for size in sorted(options.sizes):
            while stored < size - options.window:
                add_job(tick, "interval", hours=1)
                stored += 1

            started = time.perf_counter()
            while stored < size:
                add_job(tick, "interval", hours=1)
                stored += 1
            elapsed = time.perf_counter() - started
            rates[str(size)] = options.window / elapsed

        overall_rate = stored / (time.perf_counter() - fill_started)
        stored_count = len(scheduler.get_jobs())
    finally:
        scheduler.shutdown(wait=False)

    smallest, largest = min(options.sizes), max(options.sizes)
    emit(
        {
            "rate_at": rates,
            "flatness": rates[str(largest)] / rates[str(smallest)],
            "overall_rate": overall_rate,
            "stored": stored_count,
        }
    )


if __name__ == "__main__":
    main()
