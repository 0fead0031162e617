"""
Scenario, APScheduler 4.0 variant of ``interval_lateness.py``: the start lateness of one
schedule that fires every 100 ms, alone and beside idle schedules.

The same phases as the 3.x script, in one process: the 100 ms schedule alone for ``seconds``,
then beside ``jobs`` idle hourly interval schedules for ``seconds``, on a memory data store.
4.0's memory store slows down as it fills (see ``add_job_rate_v4.py``), so the idle schedules
stop at what ``budget_seconds`` allows (``idle_stored`` says how many).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import _v4
from _common import emit, parse_args, settle
from interval_lateness import PERIOD, figures, idle, lateness_ms, started_at


def record_start() -> None:
    """The 100 ms task: note when it started."""
    started_at.append(time.time())


def measure(scheduler, seconds: float) -> list[float]:
    from apscheduler.triggers.interval import IntervalTrigger

    del started_at[:]
    start = round(time.time() + 0.5, 3)
    trigger = IntervalTrigger(
        seconds=PERIOD, start_time=datetime.fromtimestamp(start, timezone.utc)
    )
    scheduler.add_schedule(record_start, trigger, id="every_100_ms")
    time.sleep(0.5 + seconds)
    runs = list(started_at)
    # removing a schedule that the loop holds at that moment crashes 4.0's loop (its memory
    # store's release_schedules looks the schedule up by id): pause it first, so that the
    # loop lets go of it, then remove it
    scheduler.pause_schedule("every_100_ms")
    time.sleep(3 * PERIOD)
    scheduler.remove_schedule("every_100_ms")
    return lateness_ms(start, runs)


def main() -> None:
    options = parse_args(__doc__, {"jobs": 100_000, "seconds": 10.0, "budget_seconds": 30.0})

    from apscheduler.datastores.memory import MemoryDataStore
    from apscheduler.triggers.interval import IntervalTrigger

    scheduler = _v4.make_scheduler(data_store=MemoryDataStore())
    _v4.start(scheduler)
    measure(scheduler, 0.5)
    settle()
    alone = measure(scheduler, options.seconds)
    add_schedule = scheduler.add_schedule
    filling_since = time.perf_counter()
    stored = 0
    while stored < options.jobs:
        add_schedule(idle, IntervalTrigger(hours=1))
        stored += 1
        if stored % 100 == 0 and time.perf_counter() - filling_since > options.budget_seconds:
            break
    settle()
    beside = measure(scheduler, options.seconds)
    _v4.shutdown(scheduler)

    metrics = {**figures("alone", alone), **figures("beside", beside)}
    metrics["beside_minus_alone_p99_ms"] = metrics["beside_p99_ms"] - metrics["alone_p99_ms"]
    metrics["runs"] = len(alone) + len(beside)
    metrics["idle_stored"] = stored
    emit(metrics)


if __name__ == "__main__":
    main()
