"""
Scenario: many date jobs due at the same instant, run by a 20-thread pool.

Lateness is the time a job's function starts minus the instant it was scheduled for; the
figures are its 99th percentile and its maximum over all jobs. The jobs are added either
before the scheduler starts (``--added before_start``) or to the running scheduler.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from _common import ZONE_NAME, emit, lateness_figures, parse_args, wait_until

started_at: list[float] = []


def record_start() -> None:
    """The job: note when it started (list.append is atomic, no lock needed)."""
    started_at.append(time.time())


def run(jobs: int, threads: int, added: str, lead_time: float) -> dict[str, float]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    del started_at[:]
    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(threads)},
        timezone=ZONE_NAME,
    )
    zone = ZoneInfo(ZONE_NAME)
    # whole milliseconds, so the instant is the same whichever way either library rounds
    due = datetime.fromtimestamp(round(time.time() + lead_time, 3), zone)
    if added == "while_running":
        scheduler.start()

    for _ in range(jobs):
        scheduler.add_job(record_start, "date", run_date=due)

    if added == "before_start":
        scheduler.start()

    all_ran = wait_until(lambda: len(started_at) >= jobs, lead_time + 15)
    scheduler.shutdown(wait=True)
    due_timestamp = due.timestamp()
    return {
        **lateness_figures(started_at, due_timestamp, all_ran),
    }


def main() -> None:
    options = parse_args(
        __doc__, {"jobs": 500, "threads": 20, "added": "while_running", "lead_time": 1.0}
    )
    # A first, unmeasured pass warms up the code paths (imports, thread start-up), as a
    # long-running program's scheduler would be.
    run(20, options.threads, options.added, 0.2)
    emit(run(options.jobs, options.threads, options.added, options.lead_time))


if __name__ == "__main__":
    main()
