"""
Scenario, APScheduler 4.0 variant of ``simultaneous_jobs.py``: many one-shot schedules
(``DateTrigger``) due at the same instant, run by a 20-thread pool.

4.0 turns each due schedule into a job and runs it in its thread pool executor, given 20
worker threads and at most 20 jobs at once, like 3.x's 20-thread pool. Lateness is measured
the same way: the time the function starts minus the instant it was scheduled for. The
schedules are added to the running scheduler (``--added while_running``) or to one whose
services are up but whose loop has not started (``before_start``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import _v4
from _common import emit, lateness_figures, parse_args, wait_until

started_at: list[float] = []


def record_start() -> None:
    """The task: note when it started (list.append is atomic, no lock needed)."""
    started_at.append(time.time())


def run(jobs: int, threads: int, added: str, lead_time: float) -> dict[str, float]:
    from apscheduler.datastores.memory import MemoryDataStore
    from apscheduler.triggers.date import DateTrigger

    del started_at[:]
    scheduler = _v4.make_scheduler(threads, data_store=MemoryDataStore())
    # whole milliseconds, as in the 3.x script
    due = datetime.fromtimestamp(round(time.time() + lead_time, 3), timezone.utc)
    if added == "while_running":
        _v4.start(scheduler)

    for _ in range(jobs):
        scheduler.add_schedule(record_start, DateTrigger(due))

    if added == "before_start":
        _v4.start(scheduler)

    all_ran = wait_until(lambda: len(started_at) >= jobs, lead_time + 15)
    _v4.shutdown(scheduler)
    due_timestamp = due.timestamp()
    return {
        **lateness_figures(started_at, due_timestamp, all_ran),
    }


def main() -> None:
    options = parse_args(
        __doc__, {"jobs": 500, "threads": 20, "added": "while_running", "lead_time": 1.0}
    )
    run(20, options.threads, options.added, 0.2)
    emit(run(options.jobs, options.threads, options.added, options.lead_time))


if __name__ == "__main__":
    main()
