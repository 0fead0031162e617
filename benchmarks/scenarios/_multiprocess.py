"""
The frame of the multi-process scenario, shared by its 3.x and 4.0 scripts.

For each process count, ``processes`` worker processes (the scenario script again, with
``--role worker``) each run a scheduler on their own instance of one PostgreSQL store. Each
round adds ``jobs`` one-shot jobs due at one instant, through a scheduler that does not run
them, and waits until the store holds none; a first round of 100 jobs warms the workers up
(their connections) and times the additions, so that the measured round's due instant leaves
room for adding all of its jobs. At the end the workers are told to stop (their standard input
closes) and print the (due, start) of every run they made. Figures per process count: jobs
started per second (``jobs`` over the time from the due instant to the last start, median
over rounds), lag p50 and p99 over all runs, the last start after the due instant (median over
rounds), and the runs per round. A round whose jobs did not all run within the time allowed
(two minutes plus a second per 25 jobs) has no throughput or last start (NaN: "n/a").
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _common import percentile

WARM_UP_JOBS = 100


@dataclass(frozen=True)
class Side:
    """What a library's script gives the frame."""

    #: add ``count`` jobs due at ``due`` (a timestamp) to the store called ``name``
    add_jobs: Callable[[str, float, int], None]
    #: how many jobs the store called ``name`` still holds (not yet run)
    remaining: Callable[[str], int]
    #: remove the store called ``name``
    drop: Callable[[str], None]
    #: make the store's tables before the workers start (several of them making the same
    #: schema at once fail on PostgreSQL's unique catalog entries)
    prepare: Callable[[str], None]


def start_workers(script: str, name: str, processes: int, threads: int) -> list[Any]:
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                script,
                "--role",
                "worker",
                "--name",
                name,
                "--threads",
                str(threads),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(processes)
    ]
    for worker in workers:
        line = worker.stdout.readline()
        if line.strip() != "ready":
            for other in workers:
                other.kill()
                other.wait()
            raise RuntimeError(f"a worker did not start (said {line!r})")
    return workers


def stop_workers(workers: list[Any]) -> list[tuple[float, float]]:
    for worker in workers:
        try:
            worker.stdin.close()
        except BrokenPipeError:  # it died; its error output says why
            pass
    runs: list[tuple[float, float]] = []
    for worker in workers:
        output = worker.stdout.read()
        worker.wait(60)
        runs += [tuple(run) for run in json.loads(output.strip().splitlines()[-1])]
    return runs


def wait_until_empty(side: Side, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while side.remaining(name) and time.monotonic() < deadline:
        time.sleep(0.2)


def run_count(
    side: Side, script: str, processes: int, jobs: int, rounds: int, threads: int, lead: float
) -> dict[str, float]:
    name = f"mp_{uuid.uuid4().hex[:8]}"
    side.prepare(name)
    workers = start_workers(script, name, processes, threads)
    dues: list[float] = []
    try:
        due = time.time() + lead
        started = time.perf_counter()
        side.add_jobs(name, due, WARM_UP_JOBS)
        add_rate = WARM_UP_JOBS / (time.perf_counter() - started)
        wait_until_empty(side, name, lead + 60)
        for _ in range(rounds):
            # room for adding every job before the due instant, at the warm-up's pace
            due = time.time() + max(lead, 1.5 * jobs / add_rate + 1)
            dues.append(due)
            side.add_jobs(name, due, jobs)
            time.sleep(max(due - time.time(), 0))
            wait_until_empty(side, name, 120 + jobs / 25)
            time.sleep(0.5)
    finally:
        runs = stop_workers(workers)
        side.drop(name)

    measured = [(due, start) for due, start in runs if due in dues]
    lags = [start - due for due, start in measured]
    # a round whose jobs did not all run in the time allowed has no last start to speak of
    last = [
        max(start for run_due, start in measured if run_due == due) - due
        for due in dues
        if sum(1 for run_due, _ in measured if run_due == due) == jobs
    ]
    return {
        "throughput": jobs / statistics.median(last) if last else float("nan"),
        "p50_ms": percentile(lags, 0.50) * 1000,
        "p99_ms": percentile(lags, 0.99) * 1000,
        "last_s": statistics.median(last) if last else float("nan"),
        "ran": len(measured) / rounds,
    }


def measure(
    side: Side, script: str, counts: list[int], jobs: int, rounds: int, threads: int, lead: float
) -> dict[str, dict[str, float]]:
    """The figures for every process count, as ``{figure: {processes: value}}``."""
    metrics: dict[str, dict[str, float]] = {}
    for processes in counts:
        row = run_count(side, script, processes, jobs, rounds, threads, lead)
        for key, value in row.items():
            metrics.setdefault(key, {})[str(processes)] = value
    return metrics


def serve(run_scheduler: Callable[[], Callable[[], None]]) -> None:
    """
    The worker's life: start its scheduler, say so, run until standard input closes, stop,
    and print the runs it made. ``run_scheduler`` starts it and returns how to stop it.
    """
    import _store_jobs

    stop = run_scheduler()
    print("ready", flush=True)
    sys.stdin.read()
    stop()
    print(json.dumps(_store_jobs.due_and_started), flush=True)
