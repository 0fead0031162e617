"""
What recording the run history costs: each scenario with the history off and on.

Every scenario runs in a fresh process, with ``run_history=0`` (off) and with the default
history (on), alternately off, on, off, on..., so that a busy spell of the machine hits both
alike. The table gives the median and the spread (min-max) of every figure, and the ratio
on/off of the medians; the goal is on within 10% of off.

* ``add_job``: ``add_job`` on a running BackgroundScheduler with a memory store, µs per call
  over the last 1,000 additions up to 1k and up to 10k hourly interval jobs.
* ``pool_burst``: 500 date jobs due at one instant, added to a running scheduler with a memory
  store and a 20-thread pool: start lateness (p50, p99, max) and the time from the instant to
  the end of the last job (its ``EVENT_JOB_EXECUTED`` event).
* ``inline_burst``: 2,000 date jobs due at one instant, run by an executor that runs them in
  the processing pass itself (``DebugExecutor``): µs per run, the time from the first job's
  start to the last one's end over the number of jobs.
* ``sqlite_burst``: 200 date jobs due 2 s after they are added to a running scheduler with a
  SQLite store and a 20-thread pool: start lateness (p50, p99, max) and the time the 200
  ``add_job`` calls take.

Usage::

    python benchmarks/history_overhead.py [--rounds 5] [--only add_job,pool_burst]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS / "scenarios"))

import _store_jobs  # noqa: E402
from _common import ZONE_NAME, percentile, settle, wait_until  # noqa: E402
from plan import Metric, Scenario  # noqa: E402
from report import format_table, summarise  # noqa: E402

#: the two sides, in the order of the ratio (on/off)
SIDES: tuple[str, str] = ("on", "off")
#: the ``run_history`` option of each side (``None``: the default)
RUN_HISTORY: dict[str, int | None] = {"on": None, "off": 0}
GOAL_TEXT = "on <= 1.10x off"


def within_ten_percent(on: float, off: float) -> bool:
    return on <= 1.10 * off


def _metric(key: str, label: str, unit: str, digits: int = 1) -> Metric:
    return Metric(key, label, unit, goal=within_ten_percent, goal_text=GOAL_TEXT, digits=digits)


SCENARIOS = (
    Scenario(
        "add_job",
        "add_job into a running scheduler, memory store",
        "",
        (
            _metric("add_us_at_1k", "add_job, last 1k up to 1k jobs", "µs"),
            _metric("add_us_at_10k", "add_job, last 1k up to 10k jobs", "µs"),
        ),
    ),
    Scenario(
        "pool_burst",
        "500 date jobs due at one instant, 20-thread pool, memory store",
        "",
        (
            _metric("p50_ms", "lateness p50", "ms"),
            _metric("p99_ms", "lateness p99", "ms"),
            _metric("max_ms", "lateness max", "ms"),
            _metric("last_ended_ms", "last job ended", "ms"),
        ),
    ),
    Scenario(
        "inline_burst",
        "2,000 date jobs due at one instant, run inline (DebugExecutor), memory store",
        "",
        (_metric("us_per_run", "per run", "µs"),),
    ),
    Scenario(
        "sqlite_burst",
        "200 date jobs due 2 s after adding, 20-thread pool, SQLite store",
        "",
        (
            _metric("p50_ms", "lateness p50", "ms"),
            _metric("p99_ms", "lateness p99", "ms"),
            _metric("max_ms", "lateness max", "ms"),
            _metric("add_ms", "200 add_job calls", "ms"),
        ),
    ),
)


# ----- the scenarios, run in the worker process


def tick() -> None:
    """A job that never runs during the benchmark."""


def make_scheduler(history: str, store: Any = None, executor: Any = None) -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    options: dict[str, Any] = {}
    if RUN_HISTORY[history] is not None:
        options["run_history"] = RUN_HISTORY[history]
    return BackgroundScheduler(
        jobstores={"default": store if store is not None else MemoryJobStore()},
        executors={"default": executor if executor is not None else ThreadPoolExecutor(20)},
        timezone=ZONE_NAME,
        **options,
    )


def due_in(seconds: float) -> datetime:
    """An instant ahead, in whole milliseconds."""
    return datetime.fromtimestamp(round(time.time() + seconds, 3), ZoneInfo(ZONE_NAME))


def recorded_runs(scheduler: Any) -> int:
    """How many runs the history holds (checks that the side is what it says)."""
    return len(scheduler.get_job_runs(limit=100_000))


def add_job_rate(history: str) -> dict[str, Any]:
    window = 1_000
    warm_up = make_scheduler(history)
    warm_up.start()
    for _ in range(window):
        warm_up.add_job(tick, "interval", hours=1)
    warm_up.shutdown(wait=True)

    scheduler = make_scheduler(history)
    scheduler.start()
    settle()
    metrics: dict[str, Any] = {}
    stored = 0
    try:
        for size in (1_000, 10_000):
            while stored < size - window:
                scheduler.add_job(tick, "interval", hours=1)
                stored += 1
            started = time.perf_counter()
            while stored < size:
                scheduler.add_job(tick, "interval", hours=1)
                stored += 1
            elapsed = time.perf_counter() - started
            metrics[f"add_us_at_{size // 1000}k"] = elapsed / window * 1e6
    finally:
        scheduler.shutdown(wait=True)
    return metrics


class Stamps:
    """When each job started and when its ``EVENT_JOB_EXECUTED`` event came."""

    def __init__(self) -> None:
        self.started: list[float] = []
        self.ended: list[float] = []

    def record_start(self) -> None:
        self.started.append(time.time())

    def record_end(self, event: Any) -> None:
        self.ended.append(time.time())


def memory_burst(
    history: str, jobs: int, executor: Callable[[], Any]
) -> tuple[Stamps, float, int]:
    """Run ``jobs`` date jobs due at one instant; return the stamps, the instant, runs recorded."""
    from apscheduler.events import EVENT_JOB_EXECUTED

    stamps = Stamps()
    scheduler = make_scheduler(history, executor=executor())
    scheduler.add_listener(stamps.record_end, EVENT_JOB_EXECUTED)
    scheduler.start()
    settle()
    due = due_in(1.0)
    for _ in range(jobs):
        scheduler.add_job(stamps.record_start, "date", run_date=due, misfire_grace_time=None)
    if not wait_until(lambda: len(stamps.ended) >= jobs, 20):
        raise RuntimeError(f"only {len(stamps.ended)} of {jobs} jobs ran")
    runs = recorded_runs(scheduler)
    scheduler.shutdown(wait=True)
    return stamps, due.timestamp(), runs


def thread_pool() -> Any:
    from apscheduler.executors.pool import ThreadPoolExecutor

    return ThreadPoolExecutor(20)


def inline_executor() -> Any:
    from apscheduler.executors.debug import DebugExecutor

    return DebugExecutor()


def lateness_figures(started: list[float], due: float) -> dict[str, float]:
    lateness_ms = [(start - due) * 1000 for start in started]
    return {
        "p50_ms": percentile(lateness_ms, 0.50),
        "p99_ms": percentile(lateness_ms, 0.99),
        "max_ms": max(lateness_ms),
    }


def pool_burst(history: str) -> dict[str, Any]:
    memory_burst(history, 20, thread_pool)  # warm-up
    stamps, due, runs = memory_burst(history, 500, thread_pool)
    return {
        **lateness_figures(stamps.started, due),
        "last_ended_ms": (max(stamps.ended) - due) * 1000,
        "runs_recorded": runs,
    }


def inline_burst(history: str) -> dict[str, Any]:
    jobs = 2_000
    memory_burst(history, 20, inline_executor)  # warm-up
    stamps, due, runs = memory_burst(history, jobs, inline_executor)
    return {
        "us_per_run": (max(stamps.ended) - min(stamps.started)) / jobs * 1e6,
        "runs_recorded": runs,
    }


def sqlite_pass(history: str, path: str, jobs: int, lead_time: float) -> dict[str, Any]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    started_at = _store_jobs.started_at
    del started_at[:]
    scheduler = make_scheduler(history, store=SQLAlchemyJobStore(url=f"sqlite:///{path}"))
    scheduler.start()
    due = due_in(lead_time)
    adding_from = time.perf_counter()
    for _ in range(jobs):
        scheduler.add_job(_store_jobs.record_start, "date", run_date=due, misfire_grace_time=None)
    add_seconds = time.perf_counter() - adding_from
    added_before_due = time.time() < due.timestamp()
    if not wait_until(lambda: len(started_at) >= jobs, lead_time + 30):
        raise RuntimeError(f"only {len(started_at)} of {jobs} jobs ran")
    time.sleep(0.1)  # let the last jobs end before the history is read
    runs = recorded_runs(scheduler)
    scheduler.shutdown(wait=True)
    return {
        **lateness_figures(started_at, due.timestamp()),
        "add_ms": add_seconds * 1000,
        "added_before_due": added_before_due,
        "runs_recorded": runs,
    }


def sqlite_burst(history: str) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="history-overhead-")
    try:
        sqlite_pass(history, f"{folder}/warm_up.sqlite", 20, 0.5)
        return sqlite_pass(history, f"{folder}/measured.sqlite", 200, 2.0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


WORKERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "add_job": add_job_rate,
    "pool_burst": pool_burst,
    "inline_burst": inline_burst,
    "sqlite_burst": sqlite_burst,
}


# ----- the runner


def run_worker(name: str, history: str) -> dict[str, Any]:
    """Run one scenario on one side in a fresh process; return its figures."""
    command = [sys.executable, __file__, "--worker", name, "--history", history]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=environment
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr}")
    metrics: dict[str, Any] = json.loads(lines[-1])
    check_side(name, history, metrics)
    return metrics


def check_side(name: str, history: str, metrics: dict[str, Any]) -> None:
    """Refuse a run whose history was not what its side says (a wrong option name, say)."""
    runs = metrics.get("runs_recorded")
    if runs is None:
        return
    if (history == "off") != (runs == 0):
        raise RuntimeError(f"{name} with the history {history} recorded {runs} runs")


def run_rounds(names: list[str], rounds: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {side: [] for side in SIDES} for name in names
    }
    for round_number in range(1, rounds + 1):
        for name in names:
            for side in ("off", "on"):
                print(f"round {round_number}/{rounds}: {name}, history {side}", file=sys.stderr)
                runs[name][side].append(run_worker(name, side))
    return runs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="off/on pairs per scenario")
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(WORKERS),
        help=f"comma-separated scenarios out of {', '.join(WORKERS)}",
    )
    parser.add_argument("--output", type=Path, help="also write every run's figures here")
    parser.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--history", choices=list(RUN_HISTORY), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    options = parse_args()
    if options.worker:
        print(json.dumps(WORKERS[options.worker](options.history)), flush=True)
        return

    unknown = sorted(set(options.only) - set(WORKERS))
    if unknown:
        raise SystemExit(f"unknown scenario {unknown[0]!r}; choose from {', '.join(WORKERS)}")
    names = [name for name in WORKERS if name in options.only]
    started = time.monotonic()
    runs = run_rounds(names, options.rounds)
    scenarios = [scenario for scenario in SCENARIOS if scenario.name in names]
    summaries = {
        scenario.name: summarise(scenario, runs[scenario.name], SIDES) for scenario in scenarios
    }
    print(format_table(scenarios, summaries, SIDES))
    print(f"\n{options.rounds} rounds, {time.monotonic() - started:.0f} s", file=sys.stderr)
    if options.output:
        options.output.write_text(json.dumps({"runs": runs, "summaries": summaries}, indent=2))


if __name__ == "__main__":
    main()
