"""
Scenario: what a program waits for on a persistent job store: adding jobs, listing them,
starting the scheduler on a store that already holds them, and shutting it down.

A running BackgroundScheduler gets ``jobs`` hourly interval jobs, one ``add_job`` call at a
time (timed: ``add_rate``). Then, ``repeats`` times, a new scheduler with a new store instance
on the same table or keys is started (``start_ms``: the ``start()`` call), lists the jobs
(``get_jobs_ms``: the second ``get_jobs()`` call, once the first has opened the connections)
and is shut down (``shutdown_ms``); the figures are the medians. A first such cycle is not
counted. Stores: ``--store sqlite`` (a file in a temporary folder), ``postgresql`` (a table of
its own on ``POSTGRES_URL``, dropped at the end) and ``redis`` (keys of their own on
``REDIS_URL``, deleted at the end).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from _common import ZONE_NAME, emit, parse_args


def idle() -> None:
    """The jobs' function: never runs during the benchmark."""


def store_factory(kind: str, folder: str, name: str) -> Callable[[], Any]:
    """A function that makes a new instance of the same store each time it is called."""
    if kind == "sqlite":
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        return lambda: SQLAlchemyJobStore(url=f"sqlite:///{folder}/jobs.sqlite")
    if kind == "postgresql":
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        url = os.environ["POSTGRES_URL"]
        return lambda: SQLAlchemyJobStore(url=url, tablename=name)
    if kind == "redis":
        from apscheduler.jobstores.redis import RedisJobStore

        parts = urlsplit(os.environ["REDIS_URL"])
        keys = {"jobs_key": f"{name}.jobs", "run_times_key": f"{name}.run_times"}
        return lambda: RedisJobStore(host=parts.hostname, port=parts.port or 6379, **keys)
    raise SystemExit(f"unknown store {kind!r}")


def new_scheduler(make_store: Callable[[], Any]) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": make_store()},
        executors={"default": ThreadPoolExecutor()},
        timezone=ZONE_NAME,
    )


def cycle(make_store: Callable[[], Any]) -> dict[str, float]:
    """Start a scheduler on the stored jobs, list them, shut it down; the times in ms."""
    scheduler = new_scheduler(make_store)
    started = time.perf_counter()
    scheduler.start()
    start_ms = (time.perf_counter() - started) * 1000
    scheduler.get_jobs()
    started = time.perf_counter()
    listed = len(scheduler.get_jobs())
    get_jobs_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    scheduler.shutdown(wait=True)
    shutdown_ms = (time.perf_counter() - started) * 1000
    return {"start_ms": start_ms, "get_jobs_ms": get_jobs_ms, "shutdown_ms": shutdown_ms,
            "stored": listed}  # fmt: skip


def clean_up(kind: str, make_store: Callable[[], Any], name: str) -> None:
    if kind == "sqlite":
        return
    scheduler = new_scheduler(make_store)
    scheduler.start(paused=True)
    scheduler.remove_all_jobs()
    scheduler.shutdown(wait=False)
    if kind == "postgresql":
        import sqlalchemy

        engine = sqlalchemy.create_engine(os.environ["POSTGRES_URL"])
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()


def main() -> None:
    options = parse_args(__doc__, {"store": "sqlite", "jobs": 2_000, "repeats": 5})
    folder = tempfile.mkdtemp(prefix="store-operations-")
    name = f"ops_{uuid.uuid4().hex[:8]}"
    make_store = store_factory(options.store, folder, name)
    try:
        scheduler = new_scheduler(make_store)
        scheduler.start()
        # one job first, so the store's one-time work (table, connections) is not counted
        scheduler.add_job(idle, "interval", hours=1)
        add_job = scheduler.add_job
        started = time.perf_counter()
        for _ in range(options.jobs - 1):
            add_job(idle, "interval", hours=1)
        add_rate = (options.jobs - 1) / (time.perf_counter() - started)
        scheduler.shutdown(wait=True)

        cycle(make_store)  # not counted: warms up the code paths
        cycles = [cycle(make_store) for _ in range(options.repeats)]
        clean_up(options.store, make_store, name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    metrics: dict[str, Any] = {"add_rate": add_rate}
    for key in ("start_ms", "get_jobs_ms", "shutdown_ms", "stored"):
        metrics[key] = statistics.median(figures[key] for figures in cycles)
    emit(metrics)


if __name__ == "__main__":
    main()
