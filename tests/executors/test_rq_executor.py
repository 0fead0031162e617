"""
The RQ executor with a real ``rq worker`` process on the suite's Redis server: what a
scheduler sees of runs made on the worker, and what the worker does with copies of a message,
with a killed work horse and with a run that takes longer than its timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from tests.services import require_module

require_module("rq")

from redis import Redis  # noqa: E402
from rq import Queue, Worker  # noqa: E402
from rq.job import Job as RQJob, JobStatus  # noqa: E402

from apscheduler.events import (  # noqa: E402
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_TIMED_OUT,
    JobEvent,
)
from apscheduler.executors.base import JobLost, JobTimeout  # noqa: E402
from apscheduler.executors.rq import RUN_JOB, RQExecutor, job_timeout  # noqa: E402
from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from tests.executors import rq_jobs  # noqa: E402

pytestmark = pytest.mark.external_service

UTC = timezone.utc
REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0
EVENT_CODES = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_TIMED_OUT


# ----- the worker and the schedulers


def start_rq_worker(
    redis_url: str, queue_name: str, log_path: Path, *options: str
) -> subprocess.Popen[bytes]:
    """An ``rq worker`` process on ``queue_name``, with this repository importable."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [str(Path(sys.executable).parent / "rq"), "worker", "--url", redis_url, *options]
    command += ["--name", f"{queue_name}-worker", queue_name]
    process = start_logged(command, env, log_path)
    queue = Queue(queue_name, connection=Redis.from_url(redis_url))
    deadline = time.monotonic() + WAIT
    while not Worker.all(queue=queue):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"rq worker did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    return process


def start_logged(
    command: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def queue_name() -> str:
    return f"aps-test-{uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def rq_worker(
    redis_url: str, queue_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    log_path = tmp_path_factory.mktemp("rq") / "worker.log"
    process = start_rq_worker(redis_url, queue_name, log_path)
    yield process
    stop(process)


@pytest.fixture
def redis(redis_url: str) -> Redis:
    return Redis.from_url(redis_url)


@pytest.fixture
def name() -> str:
    """The name under which a test's jobs leave their traces in Redis."""
    return f"aps-test-{uuid4().hex[:10]}"


class Events:
    """The job events a scheduler dispatched, to wait for."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: JobEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, code: int, count: int = 1, timeout: float = WAIT) -> list[Any]:
        def matching() -> list[Any]:
            return [event for event in self.events if event.code == code]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(f"expected {count} events of code {code}: {self.events}")
            return matching()


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def scheduler(
    rq_worker: subprocess.Popen[bytes], redis_url: str, queue_name: str, events: Events
) -> Iterator[BackgroundScheduler]:
    executor = RQExecutor(redis_url=redis_url, queue=queue_name, poll_interval=0.05)
    with running_scheduler(executor, events) as scheduler:
        yield scheduler


@contextmanager
def running_scheduler(executor: RQExecutor, events: Events) -> Iterator[BackgroundScheduler]:
    scheduler = BackgroundScheduler(executors={"default": executor}, timezone=UTC)
    scheduler.add_listener(events, EVENT_CODES)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return value


def rq_jobs_of(
    redis_url: str, queue_name: str, job_id: str, serializer: Any = None
) -> list[RQJob]:
    """The RQ jobs the executor enqueued for the job of ``job_id`` that ended."""
    queue = Queue(queue_name, connection=Redis.from_url(redis_url), serializer=serializer)
    ids = queue.finished_job_registry.get_job_ids() + queue.failed_job_registry.get_job_ids()
    found = RQJob.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)
    return [job for job in found if job is not None and job.args[0]["job_id"] == job_id]


def finished(job: RQJob) -> bool:
    return job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED)


# ----- what the scheduler sees


def test_a_return_value_reaches_the_executed_event(scheduler, events) -> None:
    scheduler.add_job(rq_jobs.returns_sum, args=(2, 3), id="sum")

    [event] = events.wait_for(EVENT_JOB_EXECUTED)

    assert (event.job_id, event.retval) == ("sum", 5)
    assert event.started_at is not None and event.finished_at >= event.started_at
    [run] = scheduler.get_job_runs("sum")
    assert run.state == "succeeded"


def test_an_exception_reaches_the_error_event_with_the_workers_traceback(
    scheduler, events
) -> None:
    scheduler.add_job(rq_jobs.fails, args=("bad input",), id="fails")

    [event] = events.wait_for(EVENT_JOB_ERROR)

    assert type(event.exception) is rq_jobs.JobFailed and str(event.exception) == "bad input"
    assert "raise JobFailed(text)" in event.traceback and "rq_jobs.py" in event.traceback
    assert scheduler.get_job_runs("fails")[0].state == "failed"


def test_max_instances_holds_while_a_slow_run_is_on_the_worker(
    scheduler, events, redis, redis_url, name
) -> None:
    job = scheduler.add_job(
        rq_jobs.waits_for_go, "interval", seconds=0.2, args=(redis_url, name), max_instances=1
    )
    wait_until(lambda: redis.exists(f"{name}:pid"))

    events.wait_for(EVENT_JOB_MAX_INSTANCES, count=3)
    assert int(redis.get(f"{name}:runs")) == 1
    job.pause()
    redis.set(f"{name}:go", 1)

    [event] = events.wait_for(EVENT_JOB_EXECUTED)
    assert event.retval == 1


def test_the_same_message_enqueued_again_runs_once(
    scheduler, events, redis, redis_url, queue_name, name
) -> None:
    scheduler.add_job(rq_jobs.counts_runs, args=(redis_url, name), id=name)
    events.wait_for(EVENT_JOB_EXECUTED)
    [sent] = wait_until(lambda: rq_jobs_of(redis_url, queue_name, name))

    queue = Queue(queue_name, connection=redis)
    copy = queue.enqueue(RUN_JOB, sent.args[0])
    wait_until(lambda: finished(copy))

    [outcome] = copy.return_value(refresh=True)
    assert outcome["outcome"] == "duplicate"
    assert int(redis.get(f"{name}:runs")) == 1


def test_a_work_horse_killed_mid_run_is_reported_lost_and_never_run_again(
    scheduler, events, redis, redis_url, queue_name, name
) -> None:
    scheduler.add_job(rq_jobs.waits_for_go, args=(redis_url, name), id=name)
    pid = int(wait_until(lambda: redis.get(f"{name}:pid")))

    os.kill(pid, signal.SIGKILL)

    [event] = events.wait_for(EVENT_JOB_ERROR)
    assert isinstance(event.exception, JobLost)
    assert "work horse died" in str(event.exception) and "signal 9" in str(event.exception)
    assert scheduler.get_job_runs(name)[0].state == "lost"

    # requeued by hand from RQ's failed job registry, it reaches a worker again: not run twice
    [failed] = rq_jobs_of(redis_url, queue_name, name)
    queue = Queue(queue_name, connection=redis)
    redis.set(f"{name}:go", 1)
    queue.failed_job_registry.requeue(failed.id)
    wait_until(lambda: finished(failed) and failed.return_value(refresh=True))
    [outcome] = failed.return_value()
    assert outcome["outcome"] == "lost" and "not run twice" in outcome["reason"]
    assert int(redis.get(f"{name}:runs")) == 1


def test_a_run_whose_whole_worker_was_killed_is_reported_lost_once_rq_calls_it_abandoned(
    redis, redis_url, events, name, tmp_path
) -> None:
    queue_name = f"aps-test-dies-{uuid4().hex[:10]}"
    worker = start_rq_worker(redis_url, queue_name, tmp_path / "worker.log")
    executor = RQExecutor(
        connection=redis, queue=queue_name, abandoned_check_interval=0.2, poll_interval=0.05
    )
    try:
        with running_scheduler(executor, events) as scheduler:
            scheduler.add_job(rq_jobs.waits_for_go, args=(redis_url, name), id=name)
            horse = int(wait_until(lambda: redis.get(f"{name}:pid")))
            worker.kill()
            worker.wait()
            os.kill(horse, signal.SIGKILL)
            # RQ calls a started job abandoned when its worker's heartbeat lapses (a minute or
            # more): the registry's deadlines are moved to the past to stand for that wait
            registry = Queue(queue_name, connection=redis).started_job_registry
            redis.zadd(registry.key, dict.fromkeys(redis.zrange(registry.key, 0, -1), 1))

            [event] = events.wait_for(EVENT_JOB_ERROR)
            [run] = scheduler.get_job_runs(name)
    finally:
        stop(worker)

    assert isinstance(event.exception, JobLost) and "RQ worker died" in str(event.exception)
    assert run.state == "lost"


def test_a_run_past_its_timeout_is_stopped_by_rq_and_reported_timed_out(scheduler, events) -> None:
    scheduler.add_job(rq_jobs.sleeps, args=(30,), id="sleepy", timeout=1)

    [event] = events.wait_for(EVENT_JOB_TIMED_OUT, timeout=10)

    assert isinstance(event.exception, JobTimeout)
    assert event.finished_at - event.started_at < timedelta(seconds=5)
    assert scheduler.get_job_runs("sleepy")[0].state == "timed_out"
    # the worker is free again
    scheduler.add_job(rq_jobs.returns_sum, args=(1, 1), id="after")
    events.wait_for(EVENT_JOB_EXECUTED)


def test_rq_job_timeout_is_whole_seconds_for_all_run_times() -> None:
    message: Any = {"timeout": 0.3, "run_times": ["a", "b"]}
    assert job_timeout(message) == 1
    assert job_timeout({**message, "timeout": 2.5}) == 5
    assert job_timeout({**message, "timeout": None}) == -1


# ----- configuration


@pytest.mark.parametrize("how", ["class", "type"])
def test_the_executor_is_configured_by_a_dict(
    how, rq_worker, redis_url, queue_name, events
) -> None:
    if how == "type" and "rq" not in entry_points(group="apscheduler.executors").names:
        pytest.skip("the rq entry point is not installed (pip install -e . after adding it)")
    options = {"redis_url": redis_url, "queue": queue_name, "poll_interval": "0.05"}
    if how == "class":
        options["class"] = "apscheduler.executors.rq:RQExecutor"
    else:
        options["type"] = "rq"
    scheduler = BackgroundScheduler({"apscheduler.timezone": "UTC"}, executors={"rq": options})
    scheduler.add_listener(events, EVENT_CODES)
    scheduler.start()
    try:
        scheduler.add_job(rq_jobs.returns_sum, args=(3, 4), executor="rq")
        [event] = events.wait_for(EVENT_JOB_EXECUTED)
        assert event.retval == 7
        assert isinstance(scheduler._lookup_executor("rq"), RQExecutor)
    finally:
        scheduler.shutdown()


@pytest.fixture(scope="module")
def json_queue(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The name of a queue whose ``rq worker`` uses RQ's JSON serializer."""
    queue_name = f"aps-test-json-{uuid4().hex[:10]}"
    log_path = tmp_path_factory.mktemp("rq-json") / "worker.log"
    worker = start_rq_worker(redis_url, queue_name, log_path, "--serializer", "json")
    yield queue_name
    stop(worker)


def test_with_the_json_serializer_on_both_sides_nothing_is_pickled(
    redis, redis_url, json_queue, events
) -> None:
    executor = RQExecutor(
        connection=redis, queue=json_queue, serializer="json", poll_interval=0.05
    )
    with running_scheduler(executor, events) as scheduler:
        scheduler.add_job(rq_jobs.returns_sum, args=(20, 22), id="json")
        [event] = events.wait_for(EVENT_JOB_EXECUTED)

    assert event.retval == 42
    [sent] = wait_until(lambda: rq_jobs_of(redis_url, json_queue, "json", serializer="json"))
    assert json.loads(sent.data)[2][0]["job_id"] == "json"


def test_a_worker_on_another_serializer_is_reported_with_rqs_exception(
    redis, json_queue, events
) -> None:
    executor = RQExecutor(connection=redis, queue=json_queue, poll_interval=0.05)
    with running_scheduler(executor, events) as scheduler:
        scheduler.add_job(rq_jobs.returns_sum, args=(1, 2), id="pickled")
        [event] = events.wait_for(EVENT_JOB_ERROR)

    assert type(event.exception).__name__ == "DeserializationError"
    assert "rq.exceptions.DeserializationError" in event.traceback


def test_either_a_url_or_a_connection_is_needed() -> None:
    with pytest.raises(ValueError, match="either redis_url or connection"):
        RQExecutor()


# ----- two schedulers on one shared store


def test_two_scheduler_processes_on_one_store_send_each_fire_time_once(
    rq_worker, redis, redis_url, queue_name, name, tmp_path
) -> None:
    store = store_options(redis_url, name)
    first_run = datetime.now(UTC) + timedelta(seconds=2)
    add_jobs(store, name, first_run, count=2)
    command = [sys.executable, "-m", "tests.executors.rq_jobs"]
    command += [json.dumps({"store": store, "redis_url": redis_url, "queue": queue_name})]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    logs = [tmp_path / f"scheduler{index}.log" for index in range(2)]
    processes = [start_logged(command, env, log) for log in logs]
    try:
        wait_until(lambda: all("ready" in log.read_text() for log in logs))
        time.sleep(max(0.0, (first_run - datetime.now(UTC)).total_seconds()) + 3.2)
    finally:
        for process in processes:
            stop(process)

    keys = Counter()
    for job_id in (f"{name}-0", f"{name}-1"):
        for sent in rq_jobs_of(redis_url, queue_name, job_id):
            keys.update(sent.args[0]["keys"])
    output = "\n".join(log.read_text() for log in logs)
    assert len(keys) >= 6, output
    assert set(keys.values()) == {1}, [key for key, count in keys.items() if count > 1]
    assert int(redis.get(f"{name}:runs")) == len(keys)
    assert "Traceback" not in output, output


def store_options(redis_url: str, name: str) -> dict[str, Any]:
    url = urlsplit(redis_url)
    return {
        "host": url.hostname,
        "port": url.port,
        "db": int(url.path.strip("/") or 0),
        "jobs_key": f"{name}.jobs",
        "run_times_key": f"{name}.run_times",
    }


def add_jobs(store: dict[str, Any], name: str, first_run: datetime, count: int) -> None:
    from apscheduler.jobstores.redis import RedisJobStore

    scheduler = BackgroundScheduler(jobstores={"default": RedisJobStore(**store)}, timezone=UTC)
    scheduler.start(paused=True)
    for index in range(count):
        scheduler.add_job(
            "tests.executors.rq_jobs:counts_runs",
            "interval",
            seconds=1,
            start_date=first_run,
            args=(rq_jobs_url(store), name),
            id=f"{name}-{index}",
            coalesce=False,
            misfire_grace_time=None,
        )
    scheduler.shutdown()


def rq_jobs_url(store: dict[str, Any]) -> str:
    return f"redis://{store['host']}:{store['port']}/{store['db']}"
