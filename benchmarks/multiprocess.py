"""
Several scheduler processes on one shared store: how fast due jobs start, and how late.

For 1, 2 and 4 processes (each a BackgroundScheduler with a 10-thread pool on its own instance
of the store), each round adds 100 one-shot jobs due at the same instant, two seconds ahead,
and records when each job starts. A first round, not counted, warms the processes up (their
connection pools fill in it). It prints, per store and process count:

* throughput: jobs started per second, from the due time to the last start of a round
  (100 divided by the round's duration);
* fire lag: how late each job started after its due time, p50, p99 and max over all rounds,
  and the median over the rounds of each round's p99 (the lag of its 99th job of 100);
* how the starts were spread over the processes.

Run it from the repository root with ``python -m benchmarks.multiprocess``. PostgreSQL: set
``POSTGRES_URL`` (a SQLAlchemy URL), or have PostgreSQL installed and a throwaway server is
started. ``--stores`` picks the stores (see ``STORES``); ``--rounds`` the number of rounds;
``--json PATH`` also writes the rows to a file, with the ``apscheduler`` that was measured.
A store is added to ``STORES`` as a function that returns a
:class:`tests.multiprocess.harness.StoreSpec` (or ``None`` when it cannot run here) and a
function that removes its data afterwards.

The chaos scenario of the test suite at full size (100 jobs every second for 30 seconds, a
process killed every 5 seconds) runs with ``APSCHEDULER_CHAOS=full python -m pytest
tests/multiprocess/test_chaos.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

from benchmarks import servers
from tests.multiprocess.harness import ChaosConfig, StoreSpec, Worker, read

JOBS = 100
PROCESS_COUNTS = (1, 2, 4)
#: seconds between adding a round's jobs and their due time
LEAD_TIME = 2.0


@contextlib.contextmanager
def postgres() -> Iterator[StoreSpec | None]:
    """A table on ``POSTGRES_URL``, or on a throwaway server if PostgreSQL is installed."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(servers.server_url("postgresql"))
        except servers.ServerUnavailable:
            yield None
            return
        spec = StoreSpec(
            "apscheduler.jobstores.sqlalchemy:SQLAlchemyJobStore",
            {"url": url, "tablename": f"bench_{uuid4().hex[:8]}"},
        )
        try:
            yield spec
        finally:
            store = spec.make()
            store.start(None, "cleanup")
            store.jobs_t.metadata.drop_all(store.engine, checkfirst=True)
            store.shutdown()


@contextlib.contextmanager
def sqlite() -> Iterator[StoreSpec | None]:
    """A SQLite file in a temporary folder (the processes poll it every half second)."""
    folder = tempfile.mkdtemp(prefix="aps-bench-sqlite-")
    try:
        yield StoreSpec(
            "apscheduler.jobstores.sqlalchemy:SQLAlchemyJobStore",
            {"url": f"sqlite:///{folder}/jobs.sqlite"},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[StoreSpec | None]:
    """Keys on ``REDIS_URL``, or on a throwaway server if ``redis-server`` is installed."""
    from urllib.parse import urlsplit

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(servers.server_url("redis"))
        except servers.ServerUnavailable:
            yield None
            return
        parts = urlsplit(url)
        prefix = f"bench_{uuid4().hex[:8]}"
        spec = StoreSpec(
            "apscheduler.jobstores.redis:RedisJobStore",
            {
                "host": parts.hostname,
                "port": parts.port or 6379,
                "jobs_key": f"{prefix}.jobs",
                "run_times_key": f"{prefix}.run_times",
            },
        )
        try:
            yield spec
        finally:
            store = spec.make()
            store.start(None, "cleanup")
            store.remove_all_jobs()
            store.shutdown()


STORES: dict[str, Callable[[], contextlib.AbstractContextManager[StoreSpec | None]]] = {
    "postgresql": postgres,
    "redis": redis,
    "sqlite": sqlite,
}


def add_round(spec: StoreSpec, round_index: int, due: float) -> None:
    """Add the round's jobs through a paused scheduler (it shares the store like any other)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": spec.make()})
    scheduler.start(paused=True)
    try:
        run_date = datetime.fromtimestamp(due, timezone.utc)
        for index in range(JOBS):
            job_id = f"r{round_index}-{index:03}"
            scheduler.add_job(
                "tests.multiprocess.jobs:stamp", "date", run_date=run_date, id=job_id,
                args=[job_id, due], misfire_grace_time=60,
            )  # fmt: skip
    finally:
        scheduler.shutdown(wait=False)


def wait_ready(workdir: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ready = sum(
            1 for path in workdir.glob("*.record") for r in read(path) if r.kind == "ready"
        )
        if ready >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {ready} of {count} workers started; see {workdir}")
        time.sleep(0.05)


def percentile(ordered: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the (sorted) values lie, nearest rank."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(spec: StoreSpec, processes: int, rounds: int) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="aps-bench-"))
    workers = [Worker(index, spec, ChaosConfig(), workdir) for index in range(processes)]
    try:
        for worker in workers:
            worker.start()
        wait_ready(workdir, processes)
        dues = []
        # the first round is a warm-up: each process opens its pool's connections in it
        for round_index in range(rounds + 1):
            due = time.time() + LEAD_TIME
            add_round(spec, round_index, due)
            assert time.time() < due - 0.2, "adding the jobs took too long"
            dues.append(due)
            time.sleep(max(0.0, due - time.time()) + 1.0)

        deadline = time.monotonic() + 30
        while True:
            runs = [r for path in workdir.glob("*.record") for r in read(path) if r.kind == "run"]
            if len(runs) >= (rounds + 1) * JOBS or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        # all at once: a worker stopped while the others run would leave them its last runs
        for worker in workers:
            worker.ask_to_stop()
        for worker in workers:
            worker.wait_stopped()
        shutil.rmtree(workdir, ignore_errors=True)

    warm_up, dues = dues[0], dues[1:]
    runs = [r for r in runs if r.run_time != warm_up]
    lags = sorted(r.wall_time - r.run_time for r in runs)
    durations = [
        max(r.wall_time for r in runs if r.run_time == due) - due
        for due in dues
        if any(r.run_time == due for r in runs)
    ]
    per_process = Counter(r.pid for r in runs)
    round_p99 = [
        percentile(sorted(r.wall_time - due for r in runs if r.run_time == due), 0.99)
        for due in dues
        if any(r.run_time == due for r in runs)
    ]
    return {
        "round_p99": statistics.median(round_p99),
        "runs": len(runs),
        "expected": rounds * JOBS,
        "throughput": JOBS / statistics.median(durations),
        "p50": percentile(lags, 0.50),
        "p99": percentile(lags, 0.99),
        "max": lags[-1],
        "spread": "/".join(str(count) for count in sorted(per_process.values(), reverse=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []

    print(f"{JOBS} jobs due at once, {args.rounds} rounds per row")
    print(
        f"{'store':<11} {'procs':>5} {'runs':>9} {'jobs/s':>8} {'lag p50':>9} {'p99':>9} "
        f"{'max':>9} {'round p99':>10}  starts per process"
    )
    for name in args.stores.split(","):
        with STORES[name]() as spec:
            if spec is None:
                print(f"{name:<11} (not available here)")
                continue
            for processes in PROCESS_COUNTS:
                row = measure(spec, processes, args.rounds)
                rows.append({"store": name, "processes": processes, **row})
                print(
                    f"{name:<11} {processes:>5} {row['runs']:>4}/{row['expected']:<4} "
                    f"{row['throughput']:>8,.0f} {row['p50'] * 1000:>7.1f}ms "
                    f"{row['p99'] * 1000:>7.1f}ms {row['max'] * 1000:>7.1f}ms "
                    f"{row['round_p99'] * 1000:>8.1f}ms  {row['spread']}"
                )
    if args.json:
        import apscheduler

        library = {
            "version": apscheduler.version,
            "location": os.path.dirname(apscheduler.__file__),
        }
        args.json.write_text(json.dumps({"library": library, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
