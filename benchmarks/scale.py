"""
How the scheduler's costs grow with the number of jobs it holds: 10k, 100k and 1M jobs.

For each size and store, in a fresh process of its own (so the memory figures are clean):

* add rate: ``add_job`` calls per second for the last 1,000 additions, on a running
  BackgroundScheduler, and the time the whole fill took;
* memory: resident set size growth per job, and (memory store, in yet another process, since
  tracing slows the fill and inflates the resident size) Python allocations per job; for
  PostgreSQL the scheduler process's resident size, which must not grow with the jobs, as
  they live in the database;
* an idle pass: one wake-up of the scheduler with nothing due, both the store's
  ``get_due_jobs()`` + ``get_next_run_time()`` and the scheduler's own processing pass
  (``_process_jobs()``, what its loop runs at each wake-up);
* start-up: ``start()`` of a new scheduler on a store that holds the jobs, and the first pass
  after it (PostgreSQL: the first start in the process, and the median of five more, which
  find the dialect set up and the statements compiled). A memory store cannot outlive its scheduler, so there the jobs are added before
  ``start()``, which files them into the store: that cost is linear by nature.

The jobs are hourly interval jobs with distinct start times, spread over an hour that begins
two hours from now, so nothing is due while the script runs; their function is a module-level
function. PostgreSQL: ``POSTGRES_URL`` (a SQLAlchemy URL, psycopg driver) or a throwaway server
on a free loopback port, stopped at the end; each size gets a table of its own, dropped
afterwards. All but the last 1,000 jobs are added through the public API by paused schedulers
(``start(paused=True)``, then ``add_job``), ``--fill-processes`` of them side by side, each
adding its share of the jobs; the last 1,000 go to the running scheduler that is measured.

Run from the repository root::

    python benchmarks/scale.py
    python benchmarks/scale.py --sizes 10000,100000 --stores postgresql --json scale.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

import servers

REPO_ROOT = Path(__file__).resolve().parent.parent
LAST_ADDS = 1000
#: the first job's start, from the script's start: nothing falls due during a run
FIRST_START = timedelta(hours=2)
SPREAD = timedelta(hours=1)


def idle() -> None:
    """The function of every job: never runs during the benchmark."""


def rss_bytes() -> int:
    """The resident set size of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> None:
    """Collect garbage and let other threads finish, before reading a memory figure."""
    gc.collect()
    time.sleep(0.3)
    gc.collect()


def start_times(base: datetime, total: int, first: int, count: int) -> Iterator[datetime]:
    """Distinct start times for jobs ``first`` to ``first + count`` of ``total``."""
    step = SPREAD / total
    for index in range(first, first + count):
        yield base + step * index


def add_jobs(scheduler: Any, base: datetime, total: int, first: int, count: int) -> None:
    add_job = scheduler.add_job
    for index, start in enumerate(start_times(base, total, first, count), first):
        add_job(idle, "interval", hours=1, start_date=start, id=f"job{index:07}")


def median_seconds(operation: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` runs of ``operation``, after one unmeasured run."""
    operation()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def idle_pass_seconds(scheduler: Any, store: Any, repeats: int) -> dict[str, float]:
    """The store's look for due jobs and the scheduler's whole pass, with nothing due."""

    def store_look() -> None:
        if store.get_due_jobs(datetime.now(timezone.utc)):
            raise RuntimeError("a job fell due: the benchmark's start times are too early")
        store.get_next_run_time()

    return {
        "store_look_s": median_seconds(store_look, repeats),
        "scheduler_pass_s": median_seconds(scheduler._process_jobs, repeats),
    }


def new_scheduler(store: Any) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(jobstores={"default": store}, timezone=timezone.utc)


def timed_last_adds(scheduler: Any, base: datetime, total: int) -> float:
    """Add the last 1,000 jobs; return the rate in jobs per second."""
    started = time.perf_counter()
    add_jobs(scheduler, base, total, total - LAST_ADDS, LAST_ADDS)
    return LAST_ADDS / (time.perf_counter() - started)


# --- the measuring processes --------------------------------------------------------------


def measure_memory_store(size: int, base: datetime, repeats: int) -> dict[str, Any]:
    from apscheduler.jobstores.memory import MemoryJobStore

    store = MemoryJobStore()
    scheduler = new_scheduler(store)
    scheduler.start()
    # one job first, so that structures made on first use do not count against the others
    scheduler.add_job(idle, "interval", hours=1, start_date=base - SPREAD, id="warm-up")
    settle()
    rss_before = rss_bytes()
    started = time.perf_counter()
    add_jobs(scheduler, base, size, 0, size - LAST_ADDS)
    rate = timed_last_adds(scheduler, base, size)
    fill = time.perf_counter() - started
    settle()
    metrics = {
        "add_rate": rate,
        "fill_s": fill,
        "rss_bytes_per_job": (rss_bytes() - rss_before) / size,
        "rss_mb": rss_bytes() / 1e6,
        **idle_pass_seconds(scheduler, store, repeats),
    }
    scheduler.shutdown()
    return metrics


def measure_memory_tracemalloc(size: int, base: datetime) -> dict[str, Any]:
    from apscheduler.jobstores.memory import MemoryJobStore

    scheduler = new_scheduler(MemoryJobStore())
    scheduler.start()
    scheduler.add_job(idle, "interval", hours=1, start_date=base - SPREAD, id="warm-up")
    settle()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    add_jobs(scheduler, base, size, 0, size)
    settle()
    traced = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    scheduler.shutdown()
    return {"tracemalloc_bytes_per_job": traced / size}


def measure_memory_startup(size: int, base: datetime) -> dict[str, Any]:
    from apscheduler.jobstores.memory import MemoryJobStore

    store = MemoryJobStore()
    scheduler = new_scheduler(store)
    add_jobs(scheduler, base, size, 0, size)  # pending until start() files them in the store
    started = time.perf_counter()
    scheduler.start(paused=True)
    startup = time.perf_counter() - started
    first_pass = _first_pass(scheduler)
    if len(store.get_all_jobs()) != size:
        raise RuntimeError("start() did not file every pending job")
    scheduler.shutdown()
    return {"startup_s": startup, "first_pass_s": first_pass}


def _first_pass(scheduler: Any) -> float:
    """Time the pass a paused scheduler's loop runs first once resumed (its loop sleeps)."""
    started = time.perf_counter()
    scheduler._process_jobs_once()
    return time.perf_counter() - started


def fill_postgresql(
    url: str, table: str, base: datetime, total: int, first: int, count: int
) -> None:
    """A paused scheduler adds its share of the jobs, as a user's bulk load would."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    scheduler = new_scheduler(SQLAlchemyJobStore(url=url, tablename=table))
    scheduler.start(paused=True)
    add_jobs(scheduler, base, total, first, count)
    scheduler.shutdown()


RESTARTS = 5


def timed_start(scheduler: Any) -> tuple[float, float]:
    """Start ``scheduler`` paused; return the time of ``start()`` and of the first pass."""
    started = time.perf_counter()
    scheduler.start(paused=True)
    return time.perf_counter() - started, _first_pass(scheduler)


def measure_postgresql(
    url: str, table: str, size: int, base: datetime, repeats: int
) -> dict[str, Any]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    settle()
    rss_before = rss_bytes()
    # The first start in a process also pays for what any later one finds ready (the
    # dialect's set-up, statements compiled once per process): both are reported.
    cold = timed_start(scheduler := new_scheduler(SQLAlchemyJobStore(url=url, tablename=table)))
    scheduler.shutdown()
    restarts = []
    for _ in range(RESTARTS):
        scheduler = new_scheduler(SQLAlchemyJobStore(url=url, tablename=table))
        restarts.append(timed_start(scheduler))
        scheduler.shutdown()

    store = SQLAlchemyJobStore(url=url, tablename=table)
    scheduler = new_scheduler(store)
    scheduler.start()
    rss_started = rss_bytes()
    metrics = {
        "cold_startup_s": cold[0],
        "cold_first_pass_s": cold[1],
        "startup_s": statistics.median(startup for startup, _ in restarts),
        "first_pass_s": statistics.median(first_pass for _, first_pass in restarts),
        "add_rate": timed_last_adds(scheduler, base, size),
        **idle_pass_seconds(scheduler, store, repeats),
    }
    settle()
    metrics["rss_mb"] = rss_bytes() / 1e6
    metrics["rss_growth_mb"] = (rss_bytes() - rss_before) / 1e6
    metrics["rss_growth_after_start_mb"] = (rss_bytes() - rss_started) / 1e6
    scheduler.shutdown()
    return metrics


def child_main(arguments: argparse.Namespace) -> None:
    base = datetime.fromisoformat(arguments.base)
    size = arguments.size
    if arguments.child == "memory":
        metrics = measure_memory_store(size, base, arguments.repeats)
    elif arguments.child == "memory-tracemalloc":
        metrics = measure_memory_tracemalloc(size, base)
    elif arguments.child == "memory-startup":
        metrics = measure_memory_startup(size, base)
    elif arguments.child == "postgresql-fill":
        first, count = arguments.share
        fill_postgresql(arguments.url, arguments.table, base, size, first, count)
        metrics = {}
    else:
        metrics = measure_postgresql(arguments.url, arguments.table, size, base, arguments.repeats)
    print(json.dumps(metrics), flush=True)


# --- the runner -----------------------------------------------------------------------------


def run_child(
    mode: str, size: int, base: datetime, repeats: int, *extra: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable, __file__, "--child", mode, "--size", str(size), "--base",
        base.isoformat(), "--repeats", str(repeats), *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)


def result_of(process: subprocess.Popen[str]) -> dict[str, Any]:
    output, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a measuring process failed ({process.returncode}): {process.args!r}")
    return dict(json.loads(output.strip().splitlines()[-1]))


def memory_figures(size: int, base: datetime, repeats: int) -> dict[str, Any]:
    figures = result_of(run_child("memory", size, base, repeats))
    figures.update(result_of(run_child("memory-tracemalloc", size, base, repeats)))
    figures.update(result_of(run_child("memory-startup", size, base, repeats)))
    return figures


def postgresql_figures(
    url: str, size: int, base: datetime, repeats: int, fillers: int
) -> dict[str, Any]:
    table = f"scale_{size}_{uuid4().hex[:8]}"
    link = ["--url", url, "--table", table]
    try:
        to_fill = size - LAST_ADDS
        started = time.perf_counter()
        shares = [(to_fill * i // fillers, to_fill * (i + 1) // fillers) for i in range(fillers)]
        processes = [
            run_child("postgresql-fill", size, base, repeats, *link, "--share", str(first), str(end - first))
            for first, end in shares
        ]  # fmt: skip
        for process in processes:
            result_of(process)
        fill = time.perf_counter() - started
        figures = result_of(run_child("postgresql", size, base, repeats, *link))
        figures["fill_s"] = fill
        figures["fill_rate"] = to_fill / fill
        return figures
    finally:
        drop_table(url, table)


def drop_table(url: str, table: str) -> None:
    """Drop the jobs table and the tables the store keeps beside it (``<table>_runs``, ...)."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    with engine.begin() as connection:
        names = inspect(connection).get_table_names()
        # the jobs table last: the others may refer to it
        for name in sorted((n for n in names if n.startswith(f"{table}_")), reverse=True):
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()


ROWS = [
    # (label, key, unit, scale)
    ("add rate, last 1,000 (jobs/s)", "add_rate", "{:,.0f}", 1),
    ("fill time (s)", "fill_s", "{:,.1f}", 1),
    ("fill rate, paused schedulers (jobs/s)", "fill_rate", "{:,.0f}", 1),
    ("RSS growth per job (B)", "rss_bytes_per_job", "{:,.0f}", 1),
    ("tracemalloc per job (B)", "tracemalloc_bytes_per_job", "{:,.0f}", 1),
    ("process RSS (MB)", "rss_mb", "{:,.1f}", 1),
    ("RSS growth from before start (MB)", "rss_growth_mb", "{:,.1f}", 1),
    ("RSS growth after start (MB)", "rss_growth_after_start_mb", "{:,.1f}", 1),
    ("idle pass: store look (ms)", "store_look_s", "{:,.3f}", 1000),
    ("idle pass: scheduler pass (ms)", "scheduler_pass_s", "{:,.3f}", 1000),
    ("start-up: start() (ms)", "startup_s", "{:,.1f}", 1000),
    ("start-up: first pass (ms)", "first_pass_s", "{:,.3f}", 1000),
    ("start-up, first in the process: start() (ms)", "cold_startup_s", "{:,.1f}", 1000),
    ("start-up, first in the process: first pass (ms)", "cold_first_pass_s", "{:,.3f}", 1000),
]


def format_table(store: str, sizes: list[int], results: dict[int, dict[str, Any]]) -> str:
    headers = [store, *(f"{size:,}" for size in sizes)]
    ratio = len(sizes) > 1
    if ratio:
        headers.append(f"{sizes[-1]:,} / {sizes[0]:,}")
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for label, key, form, scale in ROWS:
        values = [results[size].get(key) for size in sizes]
        if all(value is None for value in values):
            continue
        cells = [label, *("" if v is None else form.format(v * scale) for v in values)]
        if ratio:
            first, last = values[0], values[-1]
            cells.append(f"{last / first:.2f}" if first and last is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_arguments() -> argparse.Namespace:
    def sizes(text: str) -> list[int]:
        return [int(part) for part in text.split(",")]

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=sizes, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stores", default="memory,postgresql", help="memory and/or postgresql")
    parser.add_argument("--repeats", type=int, default=0, help="idle passes timed (default 200 for memory, 50 for PostgreSQL)")  # fmt: skip
    parser.add_argument("--fill-processes", type=int, default=2, help="paused schedulers filling a PostgreSQL table side by side")  # fmt: skip
    parser.add_argument("--json", help="also write the figures to this file")
    # for the measuring processes
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--share", type=int, nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    if arguments.child:
        child_main(arguments)
        return

    base = (datetime.now(timezone.utc) + FIRST_START).replace(microsecond=0)
    stores = [name.strip() for name in arguments.stores.split(",") if name.strip()]
    everything: dict[str, dict[int, dict[str, Any]]] = {}
    if "memory" in stores:
        repeats = arguments.repeats or 200
        everything["memory"] = {}
        for size in arguments.sizes:
            started = time.perf_counter()
            everything["memory"][size] = memory_figures(size, base, repeats)
            print(f"memory, {size:,} jobs: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        print(format_table("memory", arguments.sizes, everything["memory"]), flush=True)
    if "postgresql" in stores:
        repeats = arguments.repeats or 50
        everything["postgresql"] = {}
        with servers.server_url("postgresql") as url:
            for size in arguments.sizes:
                started = time.perf_counter()
                figures = postgresql_figures(url, size, base, repeats, arguments.fill_processes)
                everything["postgresql"][size] = figures
                print(f"postgresql, {size:,} jobs: {time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
        print(format_table("postgresql", arguments.sizes, everything["postgresql"]), flush=True)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
