"""
Scenario: a burst of date jobs due at the same instant, kept in a persistent job store.

The jobs are added to a running BackgroundScheduler with a 20-thread pool, all due at one
instant a couple of seconds ahead. Lateness is the time a job's function starts minus that
instant; the figures are its median, 99th percentile and maximum over all jobs, and how many
jobs ran. Stores: ``--store sqlite`` (a file in a temporary folder), ``--store redis`` (a
throwaway ``redis-server`` started on a free loopback port and stopped at the end) and
``--store postgresql`` (the SQLAlchemy URL in ``POSTGRES_URL``, in a table of its own that is
dropped at the end).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import _store_jobs
from _common import ZONE_NAME, emit, parse_args, percentile, wait_until

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


STORES = {"sqlite": sqlite_stores, "redis": redis_stores, "postgresql": postgresql_stores}


def run(store: Any, jobs: int, threads: int, lead_time: float) -> dict[str, Any]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    started_at = _store_jobs.started_at
    del started_at[:]
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(threads)},
        timezone=ZONE_NAME,
    )
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
    lateness_ms = [(start - due_timestamp) * 1000 for start in started_at]
    return {
        "p50_ms": percentile(lateness_ms, 0.50),
        "p99_ms": percentile(lateness_ms, 0.99),
        "max_ms": max(lateness_ms, default=float("nan")),
        "ran": len(started_at),
        "all_ran": all_ran,
        "early": sum(1 for value in lateness_ms if value < 0),
        "add_seconds": added_at - adding_from,
        # adds that overran the due instant would inflate lateness: say so
        "added_before_due": added_at < due_timestamp,
    }


def main() -> None:
    options = parse_args(
        __doc__, {"store": "sqlite", "jobs": 200, "threads": 20, "lead_time": 2.0}
    )
    if options.store not in STORES:
        raise SystemExit(f"--store must be one of {', '.join(STORES)}, not {options.store!r}")

    folder = tempfile.mkdtemp(prefix="store-burst-")
    try:
        with STORES[options.store](folder) as make_store:
            # A first, unmeasured pass in a namespace of its own warms up the code paths
            # (imports, connections, thread start-up), as a long-running program's would be.
            run(make_store("warm_up"), 20, options.threads, 0.5)
            metrics = run(make_store("measured"), options.jobs, options.threads, options.lead_time)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    emit(metrics)


if __name__ == "__main__":
    main()
