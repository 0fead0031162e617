"""
Scenario, APScheduler 4.0 variant of ``store_operations.py``: adding schedules to a persistent
data store, listing them, starting a scheduler on the stored ones, and shutting it down.

The same steps and figures as the 3.x script, with 4.0's calls: ``add_schedule`` of ``jobs``
hourly interval schedules into a running scheduler (``add_rate``); then ``repeats`` cycles of
a new scheduler on a new data store instance over the same tables: starting it in the
background (``start_ms``: its services and its loop), the second ``get_schedules()``
(``get_jobs_ms``), and stopping it and closing its services (``shutdown_ms``). Stores:
``--store sqlite`` and ``--store postgresql`` (a schema of its own, dropped at the end).

The schedules are added before the scheduler's loop starts (its services are up): into a
running 4.0 scheduler every addition wakes the loop, which then queries the store, and the
2,000 additions took a minute on SQLite. So 4.0's ``add_rate`` is measured in conditions
that favour it.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import _v4
from _common import emit, parse_args
from store_operations import idle


def cycle(make_store: Callable[[], Any]) -> dict[str, float]:
    scheduler = _v4.make_scheduler(data_store=make_store())
    started = time.perf_counter()
    _v4.start(scheduler)
    start_ms = (time.perf_counter() - started) * 1000
    scheduler.get_schedules()
    started = time.perf_counter()
    listed = len(scheduler.get_schedules())
    get_jobs_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    _v4.shutdown(scheduler)
    shutdown_ms = (time.perf_counter() - started) * 1000
    return {"start_ms": start_ms, "get_jobs_ms": get_jobs_ms, "shutdown_ms": shutdown_ms,
            "stored": listed}  # fmt: skip


def main() -> None:
    options = parse_args(__doc__, {"store": "sqlite", "jobs": 2_000, "repeats": 5})
    from apscheduler.triggers.interval import IntervalTrigger

    folder = tempfile.mkdtemp(prefix="store-operations-")
    name = f"ops_{uuid.uuid4().hex[:8]}"

    def make_store() -> Any:
        return _v4.sql_data_store(options.store, folder, name)

    try:
        scheduler = _v4.make_scheduler(data_store=make_store())
        scheduler.add_schedule(idle, IntervalTrigger(hours=1))
        add_schedule = scheduler.add_schedule
        started = time.perf_counter()
        for _ in range(options.jobs - 1):
            add_schedule(idle, IntervalTrigger(hours=1))
        add_rate = (options.jobs - 1) / (time.perf_counter() - started)
        _v4.shutdown(scheduler)

        cycle(make_store)
        cycles = [cycle(make_store) for _ in range(options.repeats)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if options.store == "postgresql":
            _v4.drop_schemas([name])

    metrics: dict[str, Any] = {"add_rate": add_rate}
    for key in ("start_ms", "get_jobs_ms", "shutdown_ms", "stored"):
        metrics[key] = statistics.median(figures[key] for figures in cycles)
    emit(metrics)


if __name__ == "__main__":
    main()
