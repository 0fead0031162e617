"""
Scenario, APScheduler 4.0 variant of ``multiprocess_store.py``: several scheduler processes
sharing one PostgreSQL data store, many one-shot schedules due at once.

Each worker is a 4.0 scheduler with ``threads`` pool threads (and as many jobs at once) on its
own SQLAlchemyDataStore instance over one schema on ``POSTGRES_URL``, with a PsycopgEventBroker
(PostgreSQL's NOTIFY) so that the processes hear of each other's changes, as 4.0's
documentation has it for schedulers sharing a store. The schedules (``DateTrigger``, no
misfire limit) are added through a scheduler whose loop does not run. The frame and the
figures are those of ``_multiprocess``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone

import _multiprocess
import _store_jobs
import _v4
from _common import emit, parse_args
from multiprocess_store import count_sql


def services(name: str) -> dict:
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
    from apscheduler.eventbrokers.psycopg import PsycopgEventBroker

    url = os.environ["POSTGRES_URL"]
    conninfo = "postgresql://" + url.split("://", 1)[1]
    return {
        "data_store": SQLAlchemyDataStore(url, schema=name),
        "event_broker": PsycopgEventBroker(conninfo),
    }


def add_jobs(name: str, due: float, count: int) -> None:
    from apscheduler.triggers.date import DateTrigger

    scheduler = _v4.make_scheduler(**services(name))
    trigger_time = datetime.fromtimestamp(due, timezone.utc)
    try:
        for _ in range(count):
            scheduler.add_schedule(
                _store_jobs.record_due, DateTrigger(trigger_time), args=[due],
                misfire_grace_time=None,
            )  # fmt: skip
    finally:
        _v4.shutdown(scheduler)


def prepare(name: str) -> None:
    """Make the schema and its tables: starting the services (any call does) makes them."""
    scheduler = _v4.make_scheduler(**services(name))
    try:
        scheduler.get_schedules()
    finally:
        _v4.shutdown(scheduler)


def remaining(name: str) -> int:
    """Schedules still to fire and jobs still to run (4.0 keeps fired one-shot schedules
    until its clean-up, with no next fire time; a job's row goes once it has run)."""
    return count_sql(
        f'SELECT (SELECT count(*) FROM "{name}".schedules WHERE next_fire_time IS NOT NULL)'
        f' + (SELECT count(*) FROM "{name}".jobs)'
    )


def run_worker(name: str, threads: int) -> Callable[[], None]:
    scheduler = _v4.make_scheduler(threads, **services(name))
    _v4.start(scheduler)
    return lambda: _v4.shutdown(scheduler)


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
        remaining=remaining,
        drop=lambda name: _v4.drop_schemas([name]),
        prepare=prepare,
    )
    metrics = _multiprocess.measure(
        side, __file__, options.processes, options.jobs, options.rounds, options.threads,
        options.lead_time,
    )  # fmt: skip
    emit(metrics)


if __name__ == "__main__":
    main()
