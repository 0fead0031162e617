"""
Scenario, APScheduler 4.0 variant of ``add_job_rate.py``: how fast ``add_schedule`` is on a
running scheduler as its memory data store fills.

The same sizes and window as the 3.x script: the last ``window`` additions before each size
is reached are timed. Each schedule is an hourly interval schedule of a module-level function,
so none becomes due during the run.

4.0's memory store slows down as it fills (about 300 additions per second at 10,000
schedules on the machine this was written on), so the fill stops once it has taken
``budget_seconds``; the sizes it did not reach have no figure ("n/a" in the table, and
``reached`` says how far it got).
"""

from __future__ import annotations

import time

import _v4
from _common import emit, parse_args, settle


def tick() -> None:
    """The task: never runs during the benchmark."""


def start_scheduler():
    from apscheduler.datastores.memory import MemoryDataStore

    scheduler = _v4.make_scheduler(data_store=MemoryDataStore())
    _v4.start(scheduler)
    return scheduler


def main() -> None:
    options = parse_args(
        __doc__,
        {"sizes": [1_000, 10_000, 100_000, 300_000], "window": 1_000, "budget_seconds": 25.0},
    )
    from apscheduler.triggers.interval import IntervalTrigger

    warm_up = start_scheduler()
    for _ in range(options.window):
        warm_up.add_schedule(tick, IntervalTrigger(hours=1))
    _v4.shutdown(warm_up)

    scheduler = start_scheduler()
    settle()
    add_schedule = scheduler.add_schedule
    rates = {}
    stored = 0
    fill_started = time.perf_counter()

    def over_budget(stored: int) -> bool:
        # looked at every 100 additions, so the clock does not slow the fill down
        return stored % 100 == 0 and time.perf_counter() - fill_started > options.budget_seconds

    try:
        for size in sorted(options.sizes):
            while stored < size - options.window and not over_budget(stored):
                add_schedule(tick, IntervalTrigger(hours=1))
                stored += 1
            if over_budget(stored):
                break

            started = time.perf_counter()
            while stored < size:
                add_schedule(tick, IntervalTrigger(hours=1))
                stored += 1
            elapsed = time.perf_counter() - started
            rates[str(size)] = options.window / elapsed

        overall_rate = stored / (time.perf_counter() - fill_started)
        stored_count = len(scheduler.get_schedules())
    finally:
        _v4.shutdown(scheduler)

    smallest, largest = min(options.sizes), max(options.sizes)
    emit(
        {
            "rate_at": rates,
            "reached": stored,
            "flatness": rates[str(largest)] / rates[str(smallest)]
            if str(largest) in rates
            else None,
            "overall_rate": overall_rate,
            "stored": stored_count,
        }
    )


if __name__ == "__main__":
    main()
