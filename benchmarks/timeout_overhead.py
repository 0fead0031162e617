"""
What the ``timeout`` job option costs: each scenario with no timeout and with one on every job.

Every scenario runs in a fresh process, without a timeout (off) and with ``timeout=60`` on
every job (on), alternately off, on, off, on..., as in ``history_overhead.py``, whose helpers
this reuses. The table gives the median and the spread (min-max) of every figure, and the
ratio on/off of the medians; the goal is on within 10% of off. No job comes near its timeout:
the figures are what arming and disarming a deadline costs a run that ends in time.

* ``pool_burst``: 500 date jobs due at one instant, added to a running scheduler with a memory
  store and a 20-thread pool: start lateness (p50, p99, max), the time from the instant to the
  end of the last job (its ``EVENT_JOB_EXECUTED`` event), and the most threads alive while the
  jobs ran (``threading.active_count()`` read by every job): with a timeout, one more than
  without, the process-wide deadline watcher, and never a thread per run.
* ``inline_burst``: 2,000 date jobs due at one instant, run in the processing pass itself
  (``DebugExecutor``): µs per run, the time from the first job's start to the last one's end
  over the number of jobs.
* ``process_burst``: 200 date jobs due at one instant, run by a pool of 4 worker processes
  (started by a warm-up batch first): the time from the instant to the end of the last job.

Usage::

    python benchmarks/timeout_overhead.py [--rounds 5] [--only pool_burst,inline_burst]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS / "scenarios"))

import _store_jobs  # noqa: E402
import history_overhead as shared  # noqa: E402
from _common import settle, wait_until  # noqa: E402
from plan import Metric, Scenario  # noqa: E402
from report import format_table, summarise  # noqa: E402

#: the two sides, in the order of the ratio (on/off)
SIDES: tuple[str, str] = ("on", "off")
#: the ``timeout`` option every job of a side gets
TIMEOUT: dict[str, float | None] = {"on": 60.0, "off": None}
#: what the deadline watcher's thread is called (see apscheduler.executors._deadlines)
WATCHER_THREAD = "APScheduler timeouts"
GOAL_TEXT = shared.GOAL_TEXT


def _metric(key: str, label: str, unit: str, digits: int = 1) -> Metric:
    return Metric(
        key, label, unit, goal=shared.within_ten_percent, goal_text=GOAL_TEXT, digits=digits
    )


def one_thread_more(on: float, off: float) -> bool:
    return on <= off + 1


SCENARIOS = (
    Scenario(
        "pool_burst",
        "500 date jobs due at one instant, 20-thread pool, memory store",
        "",
        (
            _metric("p50_ms", "lateness p50", "ms"),
            _metric("p99_ms", "lateness p99", "ms"),
            _metric("max_ms", "lateness max", "ms"),
            _metric("last_ended_ms", "last job ended", "ms"),
            Metric(
                "threads_max",
                "threads alive, max",
                "",
                goal=one_thread_more,
                goal_text="on <= off + 1",
                digits=0,
            ),
        ),
    ),
    Scenario(
        "inline_burst",
        "2,000 date jobs due at one instant, run inline (DebugExecutor), memory store",
        "",
        (_metric("us_per_run", "per run", "µs"),),
    ),
    Scenario(
        "process_burst",
        "200 date jobs due at one instant, pool of 4 worker processes, memory store",
        "",
        (_metric("last_ended_ms", "last job ended", "ms"),),
    ),
)


# ----- the scenarios, run in the worker process


class ThreadCensus:
    """The most threads alive at the start of any job, and who they were then."""

    def __init__(self) -> None:
        self.most = 0
        self.names: list[str] = []

    def take(self) -> None:
        alive = threading.active_count()
        if alive > self.most:
            self.most = alive
            self.names = [thread.name for thread in threading.enumerate()]

    def by_kind(self) -> dict[str, int]:
        """Count the threads by name, pool threads together (``ThreadPoolExecutor-0_7``)."""
        return dict(Counter(name.split("-")[0].split("_")[0] for name in self.names))


def burst(
    side: str, jobs: int, executor: Callable[[], Any], census: ThreadCensus | None = None
) -> tuple[shared.Stamps, float]:
    """Run ``jobs`` date jobs due at one instant; return the stamps and the instant."""
    from apscheduler.events import EVENT_JOB_EXECUTED

    stamps = shared.Stamps()

    def record_start() -> None:
        stamps.record_start()
        if census is not None:
            census.take()

    scheduler = shared.make_scheduler("off", executor=executor())
    scheduler.add_listener(stamps.record_end, EVENT_JOB_EXECUTED)
    scheduler.start()
    settle()
    due = shared.due_in(1.0)
    for _ in range(jobs):
        scheduler.add_job(
            record_start, "date", run_date=due, misfire_grace_time=None, timeout=TIMEOUT[side]
        )
    if not wait_until(lambda: len(stamps.ended) >= jobs, 20):
        raise RuntimeError(f"only {len(stamps.ended)} of {jobs} jobs ran")
    scheduler.shutdown(wait=True)
    return stamps, due.timestamp()


def watcher_threads() -> int:
    return sum(thread.name == WATCHER_THREAD for thread in threading.enumerate())


def pool_burst(side: str) -> dict[str, Any]:
    burst(side, 20, shared.thread_pool)  # warm-up
    census = ThreadCensus()
    stamps, due = burst(side, 500, shared.thread_pool, census)
    return {
        **shared.lateness_figures(stamps.started, due),
        "last_ended_ms": (max(stamps.ended) - due) * 1000,
        "threads_max": census.most,
        "threads_by_kind": census.by_kind(),
        "watcher_threads": watcher_threads(),
    }


def inline_burst(side: str) -> dict[str, Any]:
    jobs = 2_000
    burst(side, 20, shared.inline_executor)  # warm-up
    stamps, _ = burst(side, jobs, shared.inline_executor)
    return {
        "us_per_run": (max(stamps.ended) - min(stamps.started)) / jobs * 1e6,
        "watcher_threads": watcher_threads(),
    }


def process_pass(scheduler: Any, side: str, jobs: int, ended: list[float]) -> float:
    """Add ``jobs`` jobs due in a second and wait for them; return their instant."""
    del ended[:]
    due = shared.due_in(1.0)
    for _ in range(jobs):
        scheduler.add_job(
            _store_jobs.record_start,
            "date",
            run_date=due,
            misfire_grace_time=None,
            timeout=TIMEOUT[side],
        )
    if not wait_until(lambda: len(ended) >= jobs, 60):
        raise RuntimeError(f"only {len(ended)} of {jobs} jobs ran")
    return due.timestamp()


def process_burst(side: str) -> dict[str, Any]:
    from apscheduler.events import EVENT_JOB_EXECUTED
    from apscheduler.executors.pool import ProcessPoolExecutor

    ended: list[float] = []
    # the pool's worker processes live as long as the scheduler: one scheduler for both passes
    scheduler = shared.make_scheduler("off", executor=ProcessPoolExecutor(4))
    scheduler.add_listener(lambda event: ended.append(time.time()), EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        process_pass(scheduler, side, 16, ended)  # warm-up: starts the worker processes
        settle()
        due = process_pass(scheduler, side, 200, ended)
    finally:
        scheduler.shutdown(wait=True)
    return {"last_ended_ms": (max(ended) - due) * 1000}


WORKERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "pool_burst": pool_burst,
    "inline_burst": inline_burst,
    "process_burst": process_burst,
}


# ----- the runner


def run_worker(name: str, side: str) -> dict[str, Any]:
    """Run one scenario on one side in a fresh process; return its figures."""
    command = [sys.executable, __file__, "--worker", name, "--side", side]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=environment
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr}")
    metrics: dict[str, Any] = json.loads(lines[-1])
    check_side(name, side, metrics)
    return metrics


def check_side(name: str, side: str, metrics: dict[str, Any]) -> None:
    """Refuse a run whose jobs had no timeout when they should (or one when they shouldn't)."""
    watchers = metrics.get("watcher_threads")
    if watchers is None:
        return
    expected = 1 if TIMEOUT[side] is not None else 0
    if watchers != expected:
        raise RuntimeError(f"{name} with the timeout {side} had {watchers} watcher threads")


def run_rounds(names: list[str], rounds: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {side: [] for side in SIDES} for name in names
    }
    for round_number in range(1, rounds + 1):
        for name in names:
            for side in ("off", "on"):
                print(f"round {round_number}/{rounds}: {name}, timeout {side}", file=sys.stderr)
                runs[name][side].append(run_worker(name, side))
    return runs


def thread_census(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Say which threads were alive at the peak of the thread-pool burst, per side."""
    lines = ["\nthreads alive at the peak of the 20-thread pool burst (last round):"]
    for side in SIDES:
        if runs[side]:
            kinds = runs[side][-1]["threads_by_kind"]
            listed = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
            lines.append(f"  timeout {side}: {listed}")
    return "\n".join(lines)


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
    parser.add_argument("--side", choices=list(TIMEOUT), help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    options = parse_args()
    if options.worker:
        print(json.dumps(WORKERS[options.worker](options.side)), flush=True)
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
    if "pool_burst" in runs:
        print(thread_census(runs["pool_burst"]))
    print(f"\n{options.rounds} rounds, {time.monotonic() - started:.0f} s", file=sys.stderr)
    if options.output:
        options.output.write_text(json.dumps({"runs": runs, "summaries": summaries}, indent=2))


if __name__ == "__main__":
    main()
