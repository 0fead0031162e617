"""
What the APScheduler 4.0 variants of the scenarios share: making and stopping its thread-based
scheduler, the counterpart of 3.x's BackgroundScheduler.

4.0's :class:`~apscheduler.Scheduler` runs an event loop in a thread of its own and forwards
every call to it; its jobs run in a thread pool executor. A scenario that gives 3.x a pool of
``n`` threads gives 4.0 ``n`` worker threads and lets it run that many jobs at once.
"""

from __future__ import annotations

import os
from typing import Any


def make_scheduler(
    threads: int | None = None, data_store: Any = None, event_broker: Any = None, **options: Any
) -> Any:
    """A stopped :class:`apscheduler.Scheduler`, with ``threads`` pool threads if given."""
    from apscheduler import Scheduler
    from apscheduler.executors.thread import ThreadPoolJobExecutor

    if threads is not None:
        options["job_executors"] = {"threadpool": ThreadPoolJobExecutor(max_workers=threads)}
        options.setdefault("max_concurrent_jobs", threads)
    if data_store is not None:
        options["data_store"] = data_store
    if event_broker is not None:
        options["event_broker"] = event_broker
    return Scheduler(**options)


def start(scheduler: Any) -> None:
    scheduler.start_in_background()


def shutdown(scheduler: Any) -> None:
    """Stop the scheduler (if it runs), wait for it, and close its event loop and services."""
    from apscheduler import RunState

    if scheduler.state is RunState.started:
        scheduler.stop()
        scheduler.wait_until_stopped()
    scheduler.__exit__(None, None, None)


def sql_data_store(kind: str, folder: str, name: str) -> Any:
    """
    A fresh 4.0 SQLAlchemy data store: a SQLite file in ``folder``, or a PostgreSQL schema of
    its own on ``POSTGRES_URL`` (4.0's table names are fixed; a schema keeps runs apart).

    4.0 makes an asynchronous engine of a URL where the driver has one (psycopg). SQLite's
    driver is synchronous: 4.0 runs its calls in worker threads, and with a pool of several
    connections two of them writing at once fail with "database is locked" (a known issue of
    4.0 with SQLite), so that engine gets one connection, which the threads take in turn.
    """
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore

    if kind == "sqlite":
        import sqlalchemy

        engine = sqlalchemy.create_engine(
            f"sqlite:///{folder}/{name}.sqlite", pool_size=1, max_overflow=0
        )
        return SQLAlchemyDataStore(engine)
    if kind == "postgresql":
        return SQLAlchemyDataStore(os.environ["POSTGRES_URL"], schema=name)
    raise SystemExit(f"APScheduler 4.0 has no {kind} data store")


def drop_schemas(names: list[str]) -> None:
    """Drop the PostgreSQL schemas :func:`sql_data_store` made."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(os.environ["POSTGRES_URL"])
    with engine.begin() as connection:
        for name in names:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()
