"""
One scheduler through a remote executor to a pool of workers, next to the thread pool.

Two scenarios, for each engine asked for (``--engines``; ``threadpool`` is a 20-thread pool in
the scheduler's process, the others hand the runs to worker processes on the same machine):

* ``burst``: ``--jobs`` date jobs due at one instant, added to a running scheduler: jobs per
  second (the number of jobs over the time from the instant to the last
  ``EVENT_JOB_EXECUTED``) and the fire lag (from the scheduled time to the start of the job on
  its worker) p50 and p99.
* ``trickle``: up to 100 date jobs due one after another, 20 ms apart, fewer than the workers
  can take: the fire lag p50 and p99 of runs that do not wait for each other.

The job returns the wall time at which it started; the lag is that minus its scheduled time.
Redis (broker and result backend) comes from ``REDIS_URL`` or is a throwaway ``redis-server``
without persistence.

An engine is a function in :data:`ENGINES`: given the Redis URL, the number of worker
processes and a queue name, it starts the workers and yields a function that makes a fresh
executor for each round (see :func:`celery_engine`).

Usage::

    python benchmarks/remote_executors.py [--engines celery,threadpool] [--jobs 300]
        [--workers 2] [--rounds 3] [--poll-interval 0.2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

BENCHMARKS = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS.parent
MODULE = Path(__file__).stem
UTC = timezone.utc
#: seconds between the jobs of the trickle
TRICKLE_STEP = 0.02
#: the most jobs of the trickle
TRICKLE_JOBS = 100
#: the Redis URL of the workers' Celery app (the worker processes read it from here)
CELERY_URL_VARIABLE = "BENCH_CELERY_URL"

ExecutorFactory = Callable[[], Any]
Engine = Callable[[str, int, str, float], AbstractContextManager[ExecutorFactory]]


def started_at() -> float:
    """The job: the wall time it started at."""
    return time.time()


# ----- the engines


@contextmanager
def threadpool_engine(
    redis_url: str, workers: int, queue: str, poll_interval: float
) -> Iterator[ExecutorFactory]:
    """A 20-thread pool in the scheduler's process (the other arguments are not used)."""
    from apscheduler.executors.pool import ThreadPoolExecutor

    yield lambda: ThreadPoolExecutor(20)


@contextmanager
def celery_engine(
    redis_url: str, workers: int, queue: str, poll_interval: float
) -> Iterator[ExecutorFactory]:
    """One ``celery worker`` (prefork pool of ``workers`` children) on the Redis broker."""
    from celery import Celery  # type: ignore[import-untyped]

    from apscheduler.executors.celery import CeleryExecutor

    log = Path(tempfile.mkdtemp(prefix="bench-celery-")) / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", f"{MODULE}:celery_app", "worker",
        "--pool", "prefork", "--concurrency", str(workers), "--queues", queue,
        "--hostname", f"{queue}@%h", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(BENCHMARKS)])}
    env[CELERY_URL_VARIABLE] = redis_url
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    app = Celery("bench-scheduler", broker=redis_url, backend=redis_url)
    try:
        wait_for(lambda: _answers(app, queue), 30, f"the celery worker did not start: {log}")
        yield lambda: CeleryExecutor(app, queue=queue, poll_interval=poll_interval)
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(log.parent, ignore_errors=True)


def _answers(app: Any, queue: str) -> bool:
    return bool(app.control.ping(destination=[f"{queue}@{socket.gethostname()}"], timeout=0.5))


_celery_app: Any = None


def __getattr__(name: str) -> Any:
    """``celery_app``: the workers' app, made on first use (only worker processes use it)."""
    global _celery_app
    if name != "celery_app":
        raise AttributeError(name)
    if _celery_app is None:
        from celery import Celery

        from apscheduler.executors.celery import install

        url = os.environ[CELERY_URL_VARIABLE]
        _celery_app = Celery("bench-workers", broker=url, backend=url)
        _celery_app.conf.worker_hijack_root_logger = False
        install(_celery_app)
    return _celery_app


@contextmanager
def rq_engine(
    redis_url: str, workers: int, queue: str, poll_interval: float
) -> Iterator[ExecutorFactory]:
    """
    ``workers`` ``rq worker`` processes on the queue. RQ forks a work horse per job, which
    imports again what its worker had not: each worker imports ``apscheduler.executors.rq``
    and this module first (as the documentation advises), then runs RQ's command line.
    """
    from redis import Redis
    from rq import Queue, Worker

    from apscheduler.executors.rq import RQExecutor

    preload = f"import apscheduler.executors.rq, {MODULE}; from rq.cli import main; main()"
    command = [sys.executable, "-c", preload, "worker", "--url", redis_url, "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(BENCHMARKS)])}
    processes = [
        subprocess.Popen(
            [*command, "--name", f"{queue}-{index}", queue], env=env, stdout=subprocess.DEVNULL
        )
        for index in range(workers)
    ]
    connection = Redis.from_url(redis_url)
    rq_queue = Queue(queue, connection=connection)
    try:
        ready = lambda: len(Worker.all(queue=rq_queue)) == workers  # noqa: E731
        wait_for(ready, 30, "the rq workers did not start")
        yield lambda: RQExecutor(redis_url=redis_url, queue=queue, poll_interval=poll_interval)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
        connection.close()


#: the Redis URL, namespace and queue of the Dramatiq workers (they read them from here)
DRAMATIQ_VARIABLE = "BENCH_DRAMATIQ"


@contextmanager
def dramatiq_engine(
    redis_url: str, workers: int, queue: str, poll_interval: float
) -> Iterator[ExecutorFactory]:
    """One ``dramatiq`` command with ``workers`` worker processes of one thread each."""
    from redis import Redis

    from apscheduler.executors.dramatiq import DramatiqExecutor

    namespace = f"bench-{queue}"
    command = [sys.executable, "-m", "dramatiq", f"{MODULE}:dramatiq_worker_broker"]
    command += ["--processes", str(workers), "--threads", "1", "--queues", queue]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(BENCHMARKS)])}
    env[DRAMATIQ_VARIABLE] = json.dumps([redis_url, namespace, queue])
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    connection = Redis.from_url(redis_url)
    try:
        heartbeats = f"{namespace}:__heartbeats__"
        ready = lambda: connection.zcard(heartbeats) >= workers  # noqa: E731
        wait_for(ready, 30, "the dramatiq workers did not start")
        broker = _dramatiq_broker(redis_url, namespace)
        yield lambda: DramatiqExecutor(broker, queue_name=queue, poll_interval=poll_interval)
    finally:
        process.terminate()
        process.wait()
        connection.close()


def _dramatiq_broker(redis_url: str, namespace: str) -> Any:
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    broker = RedisBroker(url=redis_url, namespace=namespace)
    broker.add_middleware(Results(backend=RedisBackend(client=broker.client)))
    return broker


def dramatiq_worker_broker() -> None:
    """What the ``dramatiq`` command loads in each worker process: the broker, with the actor."""
    import dramatiq

    from apscheduler.executors.dramatiq import install

    redis_url, namespace, queue = json.loads(os.environ[DRAMATIQ_VARIABLE])
    broker = _dramatiq_broker(redis_url, namespace)
    install(broker, queue_name=queue)
    dramatiq.set_broker(broker)


#: the engines by name; another engine adds its function here
ENGINES: dict[str, Engine] = {
    "threadpool": threadpool_engine,
    "celery": celery_engine,
    "rq": rq_engine,
    "dramatiq": dramatiq_engine,
}


# ----- Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed: set REDIS_URL")
    port, folder = free_port(), tempfile.mkdtemp(prefix="bench-redis-")
    command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    command += ["--appendonly", "no", "--dir", folder, "--logfile", ""]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    from redis import Redis

    client = Redis(port=port)
    wait_for(lambda: _pings(client), 10, "redis-server did not start")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(failure)
        time.sleep(0.05)


# ----- the scenarios


def run_scenario(scenario: str, make_executor: ExecutorFactory, jobs: int) -> dict[str, Any]:
    """Add the jobs to a running scheduler, wait for all of them; the figures."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(executors={"default": make_executor()}, timezone=UTC)
    lags: list[float] = []
    errors: list[Any] = []
    done = threading.Event()
    last_event_at = [0.0]

    def on_event(event: Any) -> None:
        if event.code == EVENT_JOB_ERROR:
            errors.append(event.exception)
        else:
            lags.append(event.retval - event.scheduled_run_time.timestamp())
        last_event_at[0] = time.time()
        if len(lags) + len(errors) == jobs:
            done.set()

    scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    first = datetime.now(UTC) + timedelta(seconds=1.5)
    step = timedelta(seconds=TRICKLE_STEP if scenario == "trickle" else 0)
    for index in range(jobs):
        scheduler.add_job(
            f"{MODULE}:started_at", "date", run_date=first + index * step, misfire_grace_time=None
        )
    finished = done.wait(120)
    scheduler.shutdown(wait=False)
    if not finished or errors:
        raise SystemExit(f"{scenario}: {len(lags)} of {jobs} ran, errors: {errors[:3]}")
    span = last_event_at[0] - first.timestamp()
    ordered = sorted(lags)
    return {
        "jobs_per_s": jobs / span if scenario == "burst" else None,
        "lag_p50_ms": 1000 * ordered[len(ordered) // 2],
        "lag_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        key: None if rounds[0][key] is None else statistics.median(r[key] for r in rounds)
        for key in rounds[0]
    }


def measure(engine: Engine, args: argparse.Namespace, redis_url: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    queue = f"bench-{uuid4().hex[:8]}"
    with engine(redis_url, args.workers, queue, args.poll_interval) as make_executor:
        run_scenario("burst", make_executor, min(args.jobs, 20))  # warm-up: imports, pools
        for scenario in ("burst", "trickle"):
            jobs = args.jobs if scenario == "burst" else min(args.jobs, TRICKLE_JOBS)
            rounds = [run_scenario(scenario, make_executor, jobs) for _ in range(args.rounds)]
            figures[scenario] = median_of(rounds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="celery,threadpool", help=f"of {sorted(ENGINES)}")
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2, help="worker processes per engine")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    args = parser.parse_args()
    names = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENGINES]
    if unknown:
        parser.error(f"unknown engines {unknown}: choose among {sorted(ENGINES)}")
    sys.path[:0] = [str(REPO_ROOT), str(BENCHMARKS)]

    results: dict[str, dict[str, Any]] = {}
    with redis_server() as redis_url:
        for name in names:
            for scenario, row in measure(ENGINES[name], args, redis_url).items():
                results[f"{scenario}/{name}"] = row

    print(f"{'scenario':<22}{'jobs/s':>10}{'lag p50 ms':>12}{'lag p99 ms':>12}")
    for name, row in sorted(results.items()):
        rate = "-" if row["jobs_per_s"] is None else f"{row['jobs_per_s']:.0f}"
        print(f"{name:<22}{rate:>10}{row['lag_p50_ms']:>12.1f}{row['lag_p99_ms']:>12.1f}")
    settings = {"workers": args.workers, "jobs": args.jobs, "poll_interval": args.poll_interval}
    print(json.dumps({**settings, "figures": results}))


if __name__ == "__main__":
    main()
