"""
Scenario, APScheduler 4.0 variant of ``idle_jobs.py``: a running scheduler that stores many
idle schedules in its memory data store.

``--measure rss`` adds the schedules, then reports the growth of the resident set size per
schedule and the CPU time the process uses while nothing is due; ``--measure tracemalloc``
the Python memory allocated per schedule, in a process of its own. The schedules are hourly
interval schedules. 4.0's memory store slows down as it fills (see ``add_job_rate_v4.py``), so
the fill stops at what ``budget_seconds`` allows; the figures are per schedule stored
(``stored`` says how many).
"""

from __future__ import annotations

import time
import tracemalloc

import _v4
from _common import emit, parse_args, rss_bytes, settle
from idle_jobs import idle, idle_cpu_fraction


def add_idle_schedules(scheduler, count: int, budget_seconds: float) -> int:
    from apscheduler.triggers.interval import IntervalTrigger

    add_schedule = scheduler.add_schedule
    started = time.perf_counter()
    for stored in range(1, count + 1):
        add_schedule(idle, IntervalTrigger(hours=1))
        if stored % 100 == 0 and time.perf_counter() - started > budget_seconds:
            return stored
    return count


def wait_for_quiet(timeout: float = 10.0) -> None:
    """
    Wait until the process has been nearly idle for 0.2 s: after the fill, 4.0 is still at
    work on the notifications of the additions for a while, and that is not idle time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and idle_cpu_fraction(0.2) > 0.05:
        pass


def main() -> None:
    options = parse_args(
        __doc__,
        {"jobs": 100_000, "measure": "rss", "idle_seconds": 3.0, "lateness_seconds": 0.0,
         "budget_seconds": 30.0},
    )  # fmt: skip

    from apscheduler.datastores.memory import MemoryDataStore

    scheduler = _v4.make_scheduler(data_store=MemoryDataStore())
    _v4.start(scheduler)
    # one schedule first, so lazily created structures are not counted against the others
    add_idle_schedules(scheduler, 1, options.budget_seconds)
    settle()
    metrics: dict[str, object] = {}
    if options.measure == "tracemalloc":
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
        stored = add_idle_schedules(scheduler, options.jobs, options.budget_seconds)
        settle()
        traced_after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        metrics["tracemalloc_bytes_per_job"] = (traced_after - traced_before) / stored
    else:
        rss_before = rss_bytes()
        add_started = time.perf_counter()
        stored = add_idle_schedules(scheduler, options.jobs, options.budget_seconds)
        metrics["fill_seconds"] = time.perf_counter() - add_started
        settle()
        wait_for_quiet()
        metrics["rss_bytes_per_job"] = (rss_bytes() - rss_before) / stored
        metrics["idle_cpu_percent"] = idle_cpu_fraction(options.idle_seconds) * 100

    metrics["stored"] = stored
    _v4.shutdown(scheduler)
    emit(metrics)


if __name__ == "__main__":
    main()
