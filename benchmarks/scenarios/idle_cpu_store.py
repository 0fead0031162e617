"""
Scenario: the CPU an idle scheduler uses on a persistent job store.

A running BackgroundScheduler holds ``jobs`` hourly interval jobs in the store, so nothing is
due; after a second to settle, the process's CPU time (all its threads) over ``seconds`` of
wall time is the figure, as a percentage of one core, with the voluntary context switches
per second (how often its threads wake up). The database server's own CPU is not counted.
Stores: ``--store postgresql`` (a table of its own on ``POSTGRES_URL``) and ``--store redis``
(keys of their own on ``REDIS_URL``), removed at the end.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
import uuid

from _common import emit, parse_args
from store_operations import clean_up, idle, new_scheduler, store_factory


def idle_figures(seconds: float) -> dict[str, float]:
    """CPU (% of one core) and voluntary context switches per second while we sleep."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.monotonic()
    time.sleep(seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - wall_before
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "cpu_percent": cpu / wall * 100,
        # the main thread sleeps through the measurement: one switch, not counted
        "wakeups_per_s": max(after.ru_nvcsw - before.ru_nvcsw - 1, 0) / wall,
    }


def main() -> None:
    options = parse_args(__doc__, {"store": "postgresql", "jobs": 100, "seconds": 20.0})
    folder = tempfile.mkdtemp(prefix="idle-cpu-")
    name = f"idle_{uuid.uuid4().hex[:8]}"
    make_store = store_factory(options.store, folder, name)
    try:
        scheduler = new_scheduler(make_store)
        scheduler.start()
        for _ in range(options.jobs):
            scheduler.add_job(idle, "interval", hours=1)
        time.sleep(1.0)
        metrics = idle_figures(options.seconds)
        scheduler.shutdown(wait=True)
        clean_up(options.store, make_store, name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    emit(metrics)


if __name__ == "__main__":
    main()
