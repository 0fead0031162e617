"""
Scenario: a burst of date jobs due at the same instant, kept in a persistent job store.

The jobs are added to a running BackgroundScheduler with a 20-thread pool, all due at one
instant a couple of seconds ahead. Lateness is the time a job's function starts minus that
instant; the figures are its median, 99th percentile and maximum over all jobs, and how many
jobs ran. Stores: ``--store sqlite`` (a file in a temporary folder), ``--store redis`` (a
throwaway ``redis-server`` started on a free loopback port and stopped at the end),
``--store postgresql`` (the SQLAlchemy URL in ``POSTGRES_URL``, in a table of its own that is
dropped at the end) and ``--store mongodb`` (the server at ``MONGODB_URL``, in a database of
its own that is dropped at the end).

It also counts the store's round trips to its database (``_round_trips`` says what one is):
over the whole run (start, adds, burst, shutdown), per ``add_job`` call, per second of waiting for
the due instant, and in the burst: from the first claim that returned jobs to the end of the
shutdown, the round trips of everything but ``start``, ``shutdown`` and ``add_job``, in all and
per claimed batch (a call looking for due jobs that returned at least one). Round trips made
outside any store method (a change listener's own requests) are counted apart.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import _round_trips
import _store_jobs
from _common import ZONE_NAME, emit, lateness_figures, parse_args, wait_until

# makes a fresh store; each pass gets its own namespace (file, database number, table)
StoreFactory = Callable[[str], Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sqlite_stores(folder: str) -> Iterator[StoreFactory]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    yield lambda name: SQLAlchemyJobStore(url=f"sqlite:///{folder}/{name}.sqlite")


@contextmanager
def redis_stores(folder: str) -> Iterator[StoreFactory]:
    import redis

    from apscheduler.jobstores.redis import RedisJobStore

    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        if not wait_until(lambda: _answers(client), 10):
            raise RuntimeError(f"redis-server on port {port} did not answer")
        client.close()
        databases = {"warm_up": 1, "measured": 0}
        yield lambda name: RedisJobStore(db=databases[name], host="127.0.0.1", port=port)
    finally:
        server.terminate()
        server.wait()


def _answers(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@contextmanager
def postgresql_stores(folder: str) -> Iterator[StoreFactory]:
    import sqlalchemy

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = os.environ["POSTGRES_URL"]
    prefix = f"burst_{uuid.uuid4().hex[:8]}"
    try:
        yield lambda name: SQLAlchemyJobStore(url=url, tablename=f"{prefix}_{name}")
    finally:
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as connection:
            for name in ("warm_up", "measured"):
                connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {prefix}_{name}"))
        engine.dispose()


@contextmanager
def mongodb_stores(folder: str) -> Iterator[StoreFactory]:
    import pymongo

    from apscheduler.jobstores.mongodb import MongoDBJobStore

    url = os.environ["MONGODB_URL"]
    prefix = f"burst_{uuid.uuid4().hex[:8]}"
    try:
        yield lambda name: MongoDBJobStore(database=f"{prefix}_{name}", host=url)
    finally:
        client: Any = pymongo.MongoClient(url)
        for name in ("warm_up", "measured"):
            client.drop_database(f"{prefix}_{name}")
        client.close()


STORES = {
    "sqlite": sqlite_stores,
    "redis": redis_stores,
    "postgresql": postgresql_stores,
    "mongodb": mongodb_stores,
}
# how each store's client library is watched for round trips
COUNTERS = {
    "sqlite": _round_trips.count_sqlalchemy,
    "postgresql": _round_trips.count_sqlalchemy,
    "redis": _round_trips.count_redis,
    "mongodb": _round_trips.count_pymongo,
}


def run(
    store: Any,
    jobs: int,
    threads: int,
    lead_time: float,
    counter: _round_trips.RoundTripCounter | None = None,
) -> dict[str, Any]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    started_at = _store_jobs.started_at
    del started_at[:]
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(threads)},
        timezone=ZONE_NAME,
    )
    if counter is not None:
        counter.watch_store(store)
        counter.counting = True
    scheduler.start()
    # whole milliseconds, so the instant is the same whichever way either library rounds
    due = datetime.fromtimestamp(round(time.time() + lead_time, 3), ZoneInfo(ZONE_NAME))
    adding_from = time.time()
    for _ in range(jobs):
        # no misfire limit: a very late job still runs and counts, rather than vanishing
        scheduler.add_job(_store_jobs.record_start, "date", run_date=due, misfire_grace_time=None)
    added_at = time.time()

    all_ran = wait_until(lambda: len(started_at) >= jobs, lead_time + 30)
    scheduler.shutdown(wait=True)
    due_timestamp = due.timestamp()
    counted: dict[str, Any] = {}
    if counter is not None:
        counter.counting = False
        counted = round_trip_figures(counter, jobs, added_at, due_timestamp)
    return {
        **lateness_figures(started_at, due_timestamp, all_ran),
        "add_seconds": added_at - adding_from,
        # adds that overran the due instant would inflate lateness: say so
        "added_before_due": added_at < due_timestamp,
        **counted,
    }


# the methods that are not the scheduler working through due jobs
NOT_BURST_WORK = {"start", "shutdown", "add_job"}


def round_trip_figures(
    counter: _round_trips.RoundTripCounter,
    jobs: int,
    added_at: float,
    due: float,
) -> dict[str, Any]:
    """The round trips of one run: in all, per add, while waiting, and in the burst."""
    trips = counter.round_trips
    adding = [trip for trip in trips if trip.method == "add_job"]
    waiting = [trip for trip in trips if added_at <= trip.at < due]
    batches = [claim for claim in counter.claims if claim.jobs and claim.at >= added_at]
    burst_from = min((claim.at for claim in batches), default=due)
    burst = [trip for trip in trips if trip.at >= burst_from and trip.method not in NOT_BURST_WORK]
    # a store's own threads (a change stream's getMore calls) work beside the batches
    outside = [trip for trip in burst if trip.method == _round_trips.OUTSIDE]
    burst = [trip for trip in burst if trip.method != _round_trips.OUTSIDE]
    burst_calls = [name for at, name in counter.calls if at >= burst_from]
    return {
        "round_trips": len(trips),
        "round_trips_per_add": len(adding) / jobs,
        "idle_round_trips_per_s": len(waiting) / (due - added_at) if due > added_at else None,
        "claimed_batches": len(batches),
        "claimed_jobs": sum(claim.jobs for claim in batches),
        "burst_round_trips": len(burst),
        "round_trips_per_batch": len(burst) / len(batches) if batches else None,
        "burst_round_trips_outside_store_methods": len(outside),
        "burst_round_trips_by_method": _round_trips.by_method(burst),
        "burst_round_trips_by_kind": _round_trips.by_kind(burst),
        "burst_calls_by_method": dict(Counter(burst_calls).most_common()),
        "round_trips_by_method": _round_trips.by_method(trips),
    }


def main() -> None:
    options = parse_args(
        __doc__, {"store": "sqlite", "jobs": 200, "threads": 20, "lead_time": 2.0}
    )
    if options.store not in STORES:
        raise SystemExit(f"--store must be one of {', '.join(STORES)}, not {options.store!r}")

    folder = tempfile.mkdtemp(prefix="store-burst-")
    try:
        # the client library is watched before any store exists (pymongo needs it so)
        counter = _round_trips.RoundTripCounter()
        COUNTERS[options.store](counter)
        with STORES[options.store](folder) as make_store:
            # A first, unmeasured pass in a namespace of its own warms up the code paths
            # (imports, connections, thread start-up), as a long-running program's would be.
            run(make_store("warm_up"), 20, options.threads, 0.5)
            metrics = run(
                make_store("measured"), options.jobs, options.threads, options.lead_time, counter
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    emit(metrics)


if __name__ == "__main__":
    main()
