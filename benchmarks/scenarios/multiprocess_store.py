"""
Scenario: several scheduler processes sharing one PostgreSQL job store, many jobs due at once.

For 1, 2 and 4 processes (``--processes``), each a BackgroundScheduler with a ``threads``-thread
pool on its own SQLAlchemyJobStore instance over one table on ``POSTGRES_URL``, ``jobs`` date
jobs due at the same instant are added and run (``_multiprocess`` has the frame and says what
each figure is). APScheduler 3.11 cannot share a store between processes (each would run every
job), so the runner runs this script for this library only; ``multiprocess_store_v4.py`` is
APScheduler 4.0's side.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone

import _multiprocess
import _store_jobs
from _common import emit, parse_args


def store(name: str):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(url=os.environ["POSTGRES_URL"], tablename=name)


def add_jobs(name: str, due: float, count: int) -> None:
    """Add the jobs through a paused scheduler (it shares the store like any other)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": store(name)})
    scheduler.start(paused=True)
    run_date = datetime.fromtimestamp(due, timezone.utc)
    try:
        for _ in range(count):
            scheduler.add_job(
                _store_jobs.record_due, "date", run_date=run_date, args=[due],
                misfire_grace_time=None,
            )  # fmt: skip
    finally:
        scheduler.shutdown(wait=False)


def count_sql(statement: str) -> int:
    import sqlalchemy

    engine = _engine()
    with engine.connect() as connection:
        return int(connection.execute(sqlalchemy.text(statement)).scalar() or 0)


_engines: list = []


def _engine():
    if not _engines:
        import sqlalchemy

        _engines.append(sqlalchemy.create_engine(os.environ["POSTGRES_URL"]))
    return _engines[0]


def drop(name: str) -> None:
    import sqlalchemy

    with _engine().begin() as connection:
        connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {name}"))


def run_worker(name: str, threads: int) -> Callable[[], None]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        timezone="UTC",
        jobstores={"default": store(name)},
        executors={"default": ThreadPoolExecutor(threads)},
    )
    scheduler.start()
    return lambda: scheduler.shutdown(wait=True)


def main() -> None:
    options = parse_args(
        __doc__,
        {"role": "main", "name": "", "jobs": 100, "rounds": 3, "processes": [1, 2, 4],
         "threads": 10, "lead_time": 2.0},
    )  # fmt: skip
    if options.role == "worker":
        _multiprocess.serve(lambda: run_worker(options.name, options.threads))
        return

    side = _multiprocess.Side(
        add_jobs=add_jobs,
        remaining=lambda name: count_sql(f"SELECT count(*) FROM {name}"),
        drop=drop,
        prepare=lambda name: add_jobs(name, 0.0, 0),  # starting a store makes its table
    )
    metrics = _multiprocess.measure(
        side, __file__, options.processes, options.jobs, options.rounds, options.threads,
        options.lead_time,
    )  # fmt: skip
    emit(metrics)


if __name__ == "__main__":
    main()
