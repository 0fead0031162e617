"""
The Celery app of the Celery executor's tests: the module a ``celery worker`` loads, with the
jobs it runs, and the scheduler process of the test with two schedulers.

Its broker and result backend are the Redis server at ``$APSCHEDULER_CELERY_TEST_URL`` (the
test fixtures set it). With ``APSCHEDULER_CELERY_TEST_ACKS_LATE=1``, tasks are acknowledged
after they end and a task whose worker child died is delivered again.

As the scheduler process (from the repository root)::

    python -m tests.executors.celery_app --store '{"host": ..., "jobs_key": ...}' \
        --record submitted.log --queue QUEUE

it runs a BackgroundScheduler on that Redis job store with a :class:`CeleryExecutor`, writes
one line ``job_id scheduled_timestamp`` per run time it submits, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from typing import Any

import redis
from celery import Celery  # type: ignore[import-untyped]
from celery.exceptions import SoftTimeLimitExceeded  # type: ignore[import-untyped]

from apscheduler.executors.celery import install

URL_VARIABLE = "APSCHEDULER_CELERY_TEST_URL"
ACKS_LATE_VARIABLE = "APSCHEDULER_CELERY_TEST_ACKS_LATE"
URL = os.environ.get(URL_VARIABLE, "redis://127.0.0.1:6379/12")

app = Celery("apscheduler_tests", broker=URL, backend=URL)
app.conf.update(
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
if os.environ.get(ACKS_LATE_VARIABLE) == "1":
    app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True)

install(app)

_client: redis.Redis | None = None


def client() -> redis.Redis:
    """The jobs' own connection to the test Redis server (made in the process that runs them)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(URL)
    return _client


# ----- the jobs


def add(a: int, b: int) -> int:
    return a + b


def fail(text: str) -> None:
    raise ValueError(text)


def count_run(counter: str) -> int:
    """Count this run in the Redis key ``counter``."""
    return int(client().incr(counter))


def fail_once(counter: str) -> int:
    """Fail the first run that ``counter`` counts, succeed after."""
    runs = count_run(counter)
    if runs == 1:
        raise ConnectionError("the first try fails")
    return runs


def hold(pid_key: str, release_key: str, limit: float = 20.0) -> int:
    """
    Write this process's pid to ``pid_key``, then wait until ``release_key`` exists (at most
    ``limit`` seconds): a run that stays on the worker as long as a test needs.
    """
    client().set(pid_key, os.getpid())
    deadline = time.monotonic() + limit
    while not client().exists(release_key) and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.getpid()


def sleep_for(seconds: float) -> None:
    time.sleep(seconds)


def ignore_soft_limit(seconds: float) -> str:
    """Sleep, and go on sleeping when the soft time limit strikes: only the hard one stops it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            pass
    return "slept"


def tick() -> None:
    """The job of the two-scheduler test; its runs are counted from the submissions."""


# ----- the scheduler process


def run_scheduler(store_options: dict[str, Any], record_path: str, queue: str) -> None:
    from apscheduler.events import EVENT_JOB_SUBMITTED
    from apscheduler.executors.celery import CeleryExecutor
    from apscheduler.jobstores.redis import RedisJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    record = open(record_path, "a", buffering=1)
    lock = threading.Lock()

    def on_submitted(event: Any) -> None:
        with lock:
            for run_time in event.scheduled_run_times:
                record.write(f"{event.job_id} {run_time.timestamp()!r}\n")

    scheduler = BackgroundScheduler(
        timezone="UTC",
        jobstores={"default": RedisJobStore(**store_options)},
        executors={"default": CeleryExecutor(app, queue=queue, poll_interval=0.05)},
    )
    scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    scheduler.start()
    record.write("ready\n")
    while not stopping.wait(0.2):
        pass
    scheduler.shutdown()
    record.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, help="JSON: RedisJobStore options")
    parser.add_argument("--record", required=True, help="file to append submissions to")
    parser.add_argument("--queue", required=True, help="the queue the workers listen to")
    args = parser.parse_args()
    run_scheduler(json.loads(args.store), args.record, args.queue)


if __name__ == "__main__":
    main()
