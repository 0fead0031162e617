"""
How long SQLAlchemyJobStore takes to read one job's latest runs out of a million-row history.

Fills the history table of a store on SQLite (and on PostgreSQL with ``--postgres-url``) with
``--rows`` runs spread over ``--jobs`` jobs, then times ``get_job_runs(job_id, limit=100)``
for random jobs and prints the median of ``--queries`` calls (goal: under 50 ms), with a few
other reads for context. ``--prune`` also times one pruning down to 100 runs per job.

    python benchmarks/history_query.py [--postgres-url postgresql+psycopg://user@host/db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import insert, text

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.runs import FAILED, RUNNING, SKIPPED, SUCCEEDED, RetentionPolicy

#: the first scheduled run time of the history
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)
#: rows per executemany call while filling the table
CHUNK = 20_000
GOAL_MS = 50.0


def history_rows(rows: int, jobs: int) -> Iterator[dict[str, Any]]:
    """Runs as the history table keeps them: each job once a minute, a few failing."""
    start = EPOCH.timestamp()
    runs_per_job = -(-rows // jobs)
    made = 0
    for position in range(runs_per_job):
        for job in range(jobs):
            if made == rows:
                return
            scheduled = start + position * 60.0 + job * 0.001
            failed = (position + job) % 20 == 0
            running = position == runs_per_job - 1 and job % 10 == 0
            state = RUNNING if running else FAILED if failed else SUCCEEDED
            if (position + job) % 50 == 1:
                state = SKIPPED
            yield {
                "run_id": f"{job:04d}-{position:07d}",
                "job_id": f"job-{job:04d}",
                "jobstore": "default",
                "scheduled_run_time": scheduled,
                "state": state,
                "submitted_at": scheduled + 0.002,
                "started_at": scheduled + 0.003,
                "finished_at": None if state == RUNNING else scheduled + 0.5,
                "reason": "max_instances=1 reached" if state == SKIPPED else None,
                "exception_type": "builtins.ValueError" if failed else None,
                "exception": "bad input" if failed else None,
                "traceback": "Traceback (most recent call last):\n  ...\n" if failed else None,
                "host": "worker-1",
                "pid": 4242,
            }
            made += 1


def fill(store: SQLAlchemyJobStore, rows: int, jobs: int) -> float:
    """Insert the rows straight into the table, in chunks; return the seconds it took."""
    began = time.perf_counter()
    statement = insert(store.history_t)
    chunk: list[dict[str, Any]] = []
    with store.engine.begin() as connection:
        for row in history_rows(rows, jobs):
            chunk.append(row)
            if len(chunk) == CHUNK:
                connection.execute(statement, chunk)
                chunk = []
        if chunk:
            connection.execute(statement, chunk)
    with store.engine.begin() as connection:
        # the statistics a long-lived database has; PostgreSQL's autovacuum would make them
        connection.execute(text(f"ANALYZE {store.history_t.name}"))
    return time.perf_counter() - began


def median_ms(call: Callable[[], object], times: int) -> tuple[float, float]:
    """The median and the slowest of ``times`` calls, in milliseconds."""
    durations = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        durations.append((time.perf_counter() - began) * 1000)
    return statistics.median(durations), max(durations)


def benchmark(label: str, store: SQLAlchemyJobStore, args: argparse.Namespace) -> bool:
    store.get_job_runs(limit=1)  # sets the tables up
    print(f"{label}: filling {args.rows:,} rows over {args.jobs:,} jobs …", flush=True)
    seconds = fill(store, args.rows, args.jobs)
    print(f"  filled in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s)")

    picker = random.Random(1)

    def one_job(**options: Any) -> Callable[[], object]:
        def call() -> object:
            job_id = f"job-{picker.randrange(args.jobs):04d}"
            runs = store.get_job_runs(job_id, **options)
            assert runs, job_id
            return runs

        return call

    store.get_job_runs("job-0000", limit=100)  # the first call compiles the statement
    main, slowest = median_ms(one_job(limit=100), args.queries)
    met = main < GOAL_MS
    print(
        f"  get_job_runs(job_id, limit=100): median {main:.2f} ms, slowest {slowest:.2f} ms "
        f"over {args.queries} calls ({'meets' if met else 'misses'} the {GOAL_MS:.0f} ms goal)"
    )
    # the last tenth of each job's runs
    since = EPOCH + timedelta(minutes=0.9 * args.rows / args.jobs)
    others = {
        "get_job_runs(limit=100), every job": lambda: store.get_job_runs(limit=100),
        "get_job_runs(job_id, states={'failed'}, limit=100)": one_job(states={FAILED}),
        "get_job_runs(job_id, since=<its last tenth>, limit=10)": one_job(since=since, limit=10),
    }
    for name, call in others.items():
        median, slowest = median_ms(call, args.queries)
        print(f"  {name}: median {median:.2f} ms, slowest {slowest:.2f} ms")

    if args.prune:
        began = time.perf_counter()
        store.prune_runs(RetentionPolicy(max_runs=100, max_age=None), datetime.now(timezone.utc))
        left = len(store.get_job_runs(limit=args.rows))
        print(
            f"  prune_runs(max_runs=100): {time.perf_counter() - began:.1f} s, {left:,} runs left"
        )
        began = time.perf_counter()
        store.prune_runs(RetentionPolicy(max_runs=100, max_age=None), datetime.now(timezone.utc))
        print(f"  prune_runs again, nothing to drop: {time.perf_counter() - began:.2f} s")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--postgres-url", help="also run on this PostgreSQL database")
    parser.add_argument("--prune", action="store_true", help="also time one pruning")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as folder:
        store = SQLAlchemyJobStore(url=f"sqlite:///{Path(folder) / 'history.sqlite'}")
        try:
            results.append(benchmark("SQLite", store, args))
        finally:
            store.shutdown()

    if args.postgres_url:
        store = SQLAlchemyJobStore(url=args.postgres_url, tablename=f"bench_{uuid4().hex[:8]}")
        try:
            results.append(benchmark("PostgreSQL", store, args))
        finally:
            store.jobs_t.metadata.drop_all(store.engine)
            store.shutdown()

    raise SystemExit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
