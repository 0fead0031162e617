"""
Scenario, APScheduler 4.0 variant of ``store_burst.py``: a burst of one-shot schedules due
at the same instant, kept in a persistent data store.

The schedules (``DateTrigger``, no misfire limit) are added to a running scheduler with 20
pool threads, all due at one instant a couple of seconds ahead; lateness is the time a
function starts minus that instant. Stores: ``--store sqlite`` (a file in a temporary folder)
and ``--store postgresql`` (a schema of its own on ``POSTGRES_URL``, dropped at the end); 4.0
has no Redis data store. A single scheduler needs no event broker, so it has 4.0's default
local one. The store's round trips are not counted on this side (4.0's store methods are
coroutines, which the counter cannot tag), so those rows say "n/a".
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import _store_jobs
import _v4
from _common import emit, lateness_figures, parse_args, wait_until


def run(store: Any, jobs: int, threads: int, lead_time: float) -> dict[str, Any]:
    from apscheduler.triggers.date import DateTrigger

    started_at = _store_jobs.started_at
    del started_at[:]
    scheduler = _v4.make_scheduler(threads, data_store=store)
    _v4.start(scheduler)
    due = datetime.fromtimestamp(round(time.time() + lead_time, 3), timezone.utc)
    adding_from = time.time()
    for _ in range(jobs):
        scheduler.add_schedule(_store_jobs.record_start, DateTrigger(due), misfire_grace_time=None)
    added_at = time.time()

    all_ran = wait_until(lambda: len(started_at) >= jobs, lead_time + 30)
    _v4.shutdown(scheduler)
    due_timestamp = due.timestamp()
    return {
        **lateness_figures(started_at, due_timestamp, all_ran),
        "add_seconds": added_at - adding_from,
        "added_before_due": added_at < due_timestamp,
    }


def main() -> None:
    options = parse_args(
        __doc__, {"store": "sqlite", "jobs": 200, "threads": 20, "lead_time": 2.0}
    )
    folder = tempfile.mkdtemp(prefix="store-burst-")
    prefix = f"burst_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_warm_up", f"{prefix}_measured"]
    try:
        # an unmeasured pass in a namespace of its own warms up the code paths
        run(_v4.sql_data_store(options.store, folder, names[0]), 20, options.threads, 0.5)
        metrics = run(
            _v4.sql_data_store(options.store, folder, names[1]),
            options.jobs,
            options.threads,
            options.lead_time,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if options.store == "postgresql":
            _v4.drop_schemas(names)

    emit(metrics)


if __name__ == "__main__":
    main()
