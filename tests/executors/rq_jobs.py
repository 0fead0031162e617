"""
Jobs that the RQ executor tests send to a real ``rq worker``.

The worker imports this module by the jobs' text references. Each job that the tests watch
leaves its traces in Redis under a name the test chooses: ``<name>:runs`` counts its runs,
``<name>:pid`` holds the process id of the work horse running it, and setting ``<name>:go``
lets a waiting run finish.

Run as a program (``python -m tests.executors.rq_jobs OPTIONS``), it is one scheduler process
of the test with two schedulers on one store.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from redis import Redis


class JobFailed(ValueError):
    """The exception of :func:`fails`, imported by the scheduler's process too."""


def returns_sum(a: int, b: int) -> int:
    return a + b


def fails(text: str) -> None:
    raise JobFailed(text)


def counts_runs(redis_url: str, name: str) -> int:
    """Count this run; return how many runs of ``name`` there have been."""
    return int(Redis.from_url(redis_url).incr(f"{name}:runs"))


def waits_for_go(redis_url: str, name: str, limit: float = 20.0) -> int:
    """
    Count this run and write the work horse's pid, then wait until ``<name>:go`` is set (or
    ``limit`` seconds pass); return the number of runs.
    """
    client = Redis.from_url(redis_url)
    runs = int(client.incr(f"{name}:runs"))
    client.set(f"{name}:pid", os.getpid())
    deadline = time.monotonic() + limit
    while not client.exists(f"{name}:go") and time.monotonic() < deadline:
        time.sleep(0.02)
    return runs


def sleeps(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


def run_scheduler(options: dict[str, Any]) -> None:
    """
    One scheduler process on a shared Redis job store, sending the runs of the jobs in it to
    an RQ queue, until SIGTERM.
    """
    from apscheduler.executors.rq import RQExecutor
    from apscheduler.jobstores.redis import RedisJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    scheduler = BackgroundScheduler(
        jobstores={"default": RedisJobStore(**options["store"])},
        executors={"default": RQExecutor(options["redis_url"], queue=options["queue"])},
        timezone="UTC",
    )
    scheduler.start()
    print("ready", flush=True)
    while not stopping.wait(0.1):
        pass
    scheduler.shutdown()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    run_scheduler(json.loads(sys.argv[1]))
