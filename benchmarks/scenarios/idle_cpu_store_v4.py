"""
Scenario, APScheduler 4.0 variant of ``idle_cpu_store.py``: the CPU an idle scheduler uses on
a persistent data store.

A running 4.0 scheduler holds ``jobs`` hourly interval schedules in a PostgreSQL schema of its
own (``--store postgresql``, dropped at the end; 4.0 has no Redis data store); one scheduler
needs no event broker, so it has 4.0's default local one. The figures are those of the 3.x
script: the process's CPU over ``seconds``, and its voluntary context switches per second.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid

import _v4
from _common import emit, parse_args
from idle_cpu_store import idle_figures
from store_operations import idle


def main() -> None:
    options = parse_args(__doc__, {"store": "postgresql", "jobs": 100, "seconds": 20.0})
    from apscheduler.triggers.interval import IntervalTrigger

    folder = tempfile.mkdtemp(prefix="idle-cpu-")
    name = f"idle_{uuid.uuid4().hex[:8]}"
    try:
        scheduler = _v4.make_scheduler(data_store=_v4.sql_data_store(options.store, folder, name))
        _v4.start(scheduler)
        for _ in range(options.jobs):
            scheduler.add_schedule(idle, IntervalTrigger(hours=1))
        time.sleep(1.0)
        metrics = idle_figures(options.seconds)
        _v4.shutdown(scheduler)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if options.store == "postgresql":
            _v4.drop_schemas([name])

    emit(metrics)


if __name__ == "__main__":
    main()
