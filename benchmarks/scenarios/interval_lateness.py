"""
Scenario: the start lateness of one job that runs every 100 ms, alone and beside idle jobs.

A running BackgroundScheduler with a memory store runs the 100 ms job for ``seconds`` on its
own, then holds ``jobs`` idle hourly interval jobs as well and runs it for ``seconds`` again,
in the same process, so the two figures differ only by the idle jobs. Lateness is a start's
time minus the period boundary it belongs to; p99 over ~10 starts a second. The difference
of the two p99s says whether the idle jobs make the due one later.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from _common import ZONE_NAME, emit, parse_args, percentile, settle

PERIOD = 0.1
started_at: list[float] = []


def idle() -> None:
    """The idle jobs' function: never runs during the benchmark."""


def record_start() -> None:
    """The 100 ms job: note when it started."""
    started_at.append(time.time())


def lateness_ms(start: float, runs: list[float]) -> list[float]:
    """Each start's lateness after the period boundary (from ``start``) it belongs to."""
    late = []
    for started in runs:
        periods = int((started - start) / PERIOD + 1e-6)
        late.append((started - (start + periods * PERIOD)) * 1000)
    return late


def measure(scheduler, seconds: float) -> list[float]:
    """Run the 100 ms job for ``seconds`` and return the lateness of its starts."""
    del started_at[:]
    # whole milliseconds, so every library sees exactly the same start instant
    start = round(time.time() + 0.5, 3)
    scheduler.add_job(
        record_start,
        "interval",
        seconds=PERIOD,
        start_date=datetime.fromtimestamp(start, ZoneInfo(ZONE_NAME)),
        id="every_100_ms",
    )
    time.sleep(0.5 + seconds)
    scheduler.remove_job("every_100_ms")
    return lateness_ms(start, list(started_at))


def figures(prefix: str, late: list[float]) -> dict[str, float]:
    return {
        f"{prefix}_p50_ms": percentile(late, 0.50),
        f"{prefix}_p99_ms": percentile(late, 0.99),
        f"{prefix}_max_ms": max(late, default=float("nan")),
        f"{prefix}_runs": len(late),
    }


def main() -> None:
    options = parse_args(__doc__, {"jobs": 100_000, "seconds": 10.0})

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor()},
        timezone=ZONE_NAME,
    )
    scheduler.start()
    # a short unmeasured pass warms up the run path (thread pool start-up, imports)
    measure(scheduler, 0.5)
    settle()
    alone = measure(scheduler, options.seconds)
    add_job = scheduler.add_job
    for _ in range(options.jobs):
        add_job(idle, "interval", hours=1)
    settle()
    beside = measure(scheduler, options.seconds)
    scheduler.shutdown(wait=True)

    metrics = {**figures("alone", alone), **figures("beside", beside)}
    metrics["beside_minus_alone_p99_ms"] = metrics["beside_p99_ms"] - metrics["alone_p99_ms"]
    metrics["runs"] = len(alone) + len(beside)
    emit(metrics)


if __name__ == "__main__":
    main()
