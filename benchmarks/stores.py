"""
How fast the persistent job stores are at what the scheduler asks of them.

Measures, for a SQLite file (and Redis / PostgreSQL when a server is at hand):

* adding jobs one ``add_job()`` call at a time, as the scheduler does;
* fetching 200 due jobs out of 2,000 with ``get_due_jobs()``;
* loading 2,000 jobs with ``get_all_jobs()``;
* starting on a store that already holds 10,000 jobs: ``start()`` plus the first processing
  pass (``get_due_jobs()`` and ``get_next_run_time()``).

Run it from the repository root with ``python -m benchmarks.stores``. It uses only the
public API, so running it under another APScheduler 3 release (installed in a separate
virtualenv) gives a baseline to compare with. Redis and PostgreSQL: ``REDIS_URL`` and
``POSTGRES_URL`` (a SQLAlchemy URL), or throwaway servers where they are installed
(``benchmarks/servers.py``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

try:
    from benchmarks import servers
except ImportError:  # run as a script from this folder
    import servers

from apscheduler.job import Job
from apscheduler.triggers.interval import IntervalTrigger

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def noop(*args: object, **kwargs: object) -> None:
    """The job function of every benchmark job."""


class StandInScheduler:
    """What a store and a job need from a scheduler."""

    timezone = timezone.utc

    def _dispatch_event(self, event: object) -> None:
        pass


SCHEDULER = StandInScheduler()


def make_jobs(count: int, due: int = 0) -> list[Job]:
    """``count`` jobs, the first ``due`` of them due at NOW, the others an hour later or more."""
    jobs = []
    for index in range(count):
        run_time = (
            NOW - timedelta(seconds=index)
            if index < due
            else NOW + timedelta(hours=1, seconds=index)
        )
        trigger = IntervalTrigger(minutes=5, start_date=run_time)
        jobs.append(Job(SCHEDULER, id=f"job{index:05}", func=noop, trigger=trigger, executor="default",
                        args=(index,), kwargs={"label": "benchmark"}, misfire_grace_time=60,
                        coalesce=True, max_instances=1, next_run_time=run_time))  # fmt: skip
    return jobs


def timed(operation: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs of ``operation``, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - started)
    return best


def run_suite(name: str, make_store: Callable[[], Any]) -> None:
    store = make_store()
    store.start(SCHEDULER, "default")
    jobs = make_jobs(2000, due=200)
    seconds = timed(lambda: [store.add_job(job) for job in jobs])
    print(f"{name:<11} add_job            {len(jobs) / seconds:>9,.0f} jobs/s")

    due = timed(lambda: store.get_due_jobs(NOW), repeat=5)
    assert len(store.get_due_jobs(NOW)) == 200
    print(f"{name:<11} get_due_jobs(200)  {due * 1000:>9.1f} ms")
    every = timed(store.get_all_jobs, repeat=3)
    print(f"{name:<11} get_all_jobs(2000) {every * 1000:>9.1f} ms")

    for job in make_jobs(10_000)[2000:]:
        store.add_job(job)
    store.shutdown()

    def start_on_10000() -> None:
        fresh = make_store()
        fresh.start(SCHEDULER, "default")
        fresh.get_due_jobs(NOW)
        fresh.get_next_run_time()
        fresh.shutdown()

    startup = timed(start_on_10000, repeat=3)
    print(f"{name:<11} start, 10000 jobs  {startup * 1000:>9.1f} ms")
    cleaner = make_store()
    cleaner.start(SCHEDULER, "default")
    cleaner.remove_all_jobs()
    cleaner.shutdown()


def main() -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    folder = tempfile.mkdtemp()
    url = f"sqlite:///{folder}/jobs.sqlite"
    try:
        run_suite("sqlite", lambda: SQLAlchemyJobStore(url=url))
        with servers.servers({"postgresql", "redis"}) as urls:
            if "POSTGRES_URL" in urls:
                table = f"bench_{uuid4().hex[:8]}"
                postgres_url = urls["POSTGRES_URL"]
                run_suite("postgresql", lambda: SQLAlchemyJobStore(postgres_url, tablename=table))
            if "REDIS_URL" in urls:
                from apscheduler.jobstores.redis import RedisJobStore

                parts = urlsplit(urls["REDIS_URL"])
                run_suite("redis", lambda: RedisJobStore(host=parts.hostname, port=parts.port))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
