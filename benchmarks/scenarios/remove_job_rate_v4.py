"""
Scenario, APScheduler 4.0 variant of ``remove_job_rate.py``: how fast ``remove_schedule`` is
on a running scheduler with a memory data store.

The same fill (``jobs`` hourly interval schedules) and the same random picks (a fixed seed) as
the 3.x script; the ``removed`` calls to ``remove_schedule`` are timed.
"""

from __future__ import annotations

import random
import time

import _v4
from _common import emit, parse_args, settle


def tick() -> None:
    """The task: never runs during the benchmark."""


def main() -> None:
    options = parse_args(__doc__, {"jobs": 10_000, "removed": 2_000})

    from apscheduler.datastores.memory import MemoryDataStore
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = _v4.make_scheduler(data_store=MemoryDataStore())
    _v4.start(scheduler)
    ids = [f"job-{index}" for index in range(options.jobs)]
    for job_id in ids:
        scheduler.add_schedule(tick, IntervalTrigger(hours=1), id=job_id)
    scheduler.add_schedule(tick, IntervalTrigger(hours=1), id="warm-up")
    scheduler.remove_schedule("warm-up")
    picked = random.Random(16).sample(ids, options.removed)
    settle()

    remove_schedule = scheduler.remove_schedule
    started = time.perf_counter()
    for schedule_id in picked:
        remove_schedule(schedule_id)
    elapsed = time.perf_counter() - started
    left = len(scheduler.get_schedules())
    _v4.shutdown(scheduler)
    emit({"rate": options.removed / elapsed, "left": left})


if __name__ == "__main__":
    main()
