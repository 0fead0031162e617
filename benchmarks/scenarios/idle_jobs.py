"""
Scenario: a running scheduler that stores many idle jobs.

``--measure rss`` adds the jobs, then reports the growth of the resident set size per job,
the CPU time the process uses while nothing is due, and with ``--lateness-seconds`` the start
lateness of a job that runs every 100 ms beside the idle ones (``interval_lateness.py``
measures that against the same job alone). ``--measure tracemalloc`` reports the Python memory
allocated per job instead, in a process of its own, since tracing inflates the resident size.

The idle jobs are hourly interval jobs (nothing is due during the run), added to a running
BackgroundScheduler with a memory store.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import datetime
from zoneinfo import ZoneInfo

from _common import ZONE_NAME, emit, parse_args, percentile, rss_bytes, settle

started_at: list[float] = []


def idle() -> None:
    """The idle jobs' function: never runs during the benchmark."""


def record_start() -> None:
    """The 100 ms job: note when it started."""
    started_at.append(time.time())


def add_idle_jobs(scheduler, count: int) -> None:
    add_job = scheduler.add_job
    for _ in range(count):
        add_job(idle, "interval", hours=1)


def idle_cpu_fraction(seconds: float) -> float:
    """Return the CPU time the whole process used per second of wall time while we slept."""
    cpu_before, wall_before = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return (time.process_time() - cpu_before) / (time.monotonic() - wall_before)


def interval_job_lateness(scheduler, period: float, seconds: float) -> dict[str, float]:
    """Run a job every ``period`` seconds for ``seconds`` and measure its start lateness."""
    zone = ZoneInfo(ZONE_NAME)
    # whole milliseconds, so both libraries see exactly the same start instant
    start = round(time.time() + 0.5, 3)
    scheduler.add_job(
        record_start,
        "interval",
        seconds=period,
        start_date=datetime.fromtimestamp(start, zone),
        id="every_100_ms",
    )
    time.sleep(0.5 + seconds)
    scheduler.remove_job("every_100_ms")
    runs = list(started_at)
    lateness_ms = []
    for started in runs:
        # the run time this start belongs to: the last period boundary at or before it
        periods = int((started - start) / period + 1e-6)
        lateness_ms.append((started - (start + periods * period)) * 1000)

    return {
        "p50_ms": percentile(lateness_ms, 0.50),
        "p99_ms": percentile(lateness_ms, 0.99),
        "max_ms": max(lateness_ms, default=float("nan")),
        "runs": len(runs),
        "expected_runs": int(seconds / period),
    }


def main() -> None:
    options = parse_args(
        __doc__,
        {"jobs": 100_000, "measure": "rss", "idle_seconds": 3.0, "lateness_seconds": 0.0},
    )

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor()},
        timezone=ZONE_NAME,
    )
    scheduler.start()
    # one job first, so lazily created structures are not counted against the idle jobs
    add_idle_jobs(scheduler, 1)
    settle()
    metrics: dict[str, object] = {}
    if options.measure == "tracemalloc":
        tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
        add_idle_jobs(scheduler, options.jobs)
        settle()
        traced_after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        metrics["tracemalloc_bytes_per_job"] = (traced_after - traced_before) / options.jobs
    else:
        rss_before = rss_bytes()
        add_job_started = time.perf_counter()
        add_idle_jobs(scheduler, options.jobs)
        metrics["fill_seconds"] = time.perf_counter() - add_job_started
        settle()
        metrics["rss_bytes_per_job"] = (rss_bytes() - rss_before) / options.jobs
        metrics["idle_cpu_percent"] = idle_cpu_fraction(options.idle_seconds) * 100
        if options.lateness_seconds:
            lateness = interval_job_lateness(scheduler, 0.1, options.lateness_seconds)
            metrics.update({f"job_100ms_{key}": value for key, value in lateness.items()})

    scheduler.shutdown(wait=True)
    emit(metrics)


if __name__ == "__main__":
    main()
