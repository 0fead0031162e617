"""
The Celery executor with real ``celery worker`` processes on the suite's Redis server.

The workers load :mod:`tests.executors.celery_app`; the schedulers here use an app of their
own with the same broker and result backend, which knows nothing of the task module, as a
scheduler on another machine would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import pytest

from tests.services import require_module, unavailable

require_module("celery")

from celery import Celery  # noqa: E402

from apscheduler.events import (  # noqa: E402
    EVENT_ALL,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_TIMED_OUT,
    JobEvent,
)
from apscheduler.executors.base import JobLost, JobTimeout  # noqa: E402
from apscheduler.executors.celery import TASK_NAME, CeleryExecutor, install  # noqa: E402
from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402

pytestmark = pytest.mark.external_service

UTC = timezone.utc
REPO_ROOT = Path(__file__).resolve().parents[2]
JOBS = "tests.executors.celery_app"
#: the Redis database of these tests (the store tests use others)
CELERY_DB = 12
#: the longest a test waits for a worker to get somewhere
DEADLINE = 20.0
FAILURES = (EVENT_JOB_ERROR, EVENT_JOB_TIMED_OUT)


# ----- the workers


class Worker:
    """A ``celery worker`` process on its own queue, with its output in a file."""

    def __init__(self, url: str, queue: str, log: Path, **env: str) -> None:
        self.queue = queue
        self.log = log
        command = [
            sys.executable, "-m", "celery", "-A", JOBS, "worker", "--pool", "prefork",
            "--concurrency", "2", "--queues", queue, "--hostname", f"{queue}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        environment = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "APSCHEDULER_CELERY_TEST_URL": url,
            **env,
        }
        self.output = log.open("wb")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=self.output, stderr=subprocess.STDOUT
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while b" ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the celery worker did not start:\n{self.text()}")
            time.sleep(0.05)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        # a cold shutdown: nothing the tests leave running is worth waiting for
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.close()


def _celery_url(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(path=f"/{CELERY_DB}"))


@pytest.fixture(scope="module")
def celery_url(redis_url: str) -> Iterator[str]:
    """The broker and result backend; the jobs module reads it when it is first imported."""
    require_module("redis")
    url = _celery_url(redis_url)
    previous = os.environ.get("APSCHEDULER_CELERY_TEST_URL")
    os.environ["APSCHEDULER_CELERY_TEST_URL"] = url
    yield url
    if previous is None:
        del os.environ["APSCHEDULER_CELERY_TEST_URL"]
    else:
        os.environ["APSCHEDULER_CELERY_TEST_URL"] = previous


@pytest.fixture(scope="module")
def redis_client(celery_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(celery_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def worker(celery_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    worker = Worker(celery_url, f"apscheduler-tests-{uuid4().hex[:8]}", log)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def acks_late_worker(
    celery_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    log = tmp_path_factory.mktemp("celery") / "acks-late-worker.log"
    queue = f"apscheduler-tests-late-{uuid4().hex[:8]}"
    worker = Worker(celery_url, queue, log, APSCHEDULER_CELERY_TEST_ACKS_LATE="1")
    yield worker
    worker.stop()


# ----- the schedulers


class RecordingCeleryExecutor(CeleryExecutor):
    """Keeps the messages it sends, for the tests that publish one again by hand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: list[dict[str, Any]] = []

    def _send(self, message: Any, job: Any) -> str:
        self.messages.append(dict(message))
        return super()._send(message, job)


class Events:
    """The events a scheduler dispatched, waited for by condition."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.changed = threading.Condition()

    def __call__(self, event: JobEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, condition: Callable[[JobEvent], bool], what: str) -> JobEvent:
        with self.changed:
            found: list[JobEvent] = []

            def seen() -> bool:
                found[:] = [event for event in self.events if condition(event)]
                return bool(found)

            if not self.changed.wait_for(seen, DEADLINE):
                raise AssertionError(f"no event {what} in {DEADLINE} s: {self.events}")
            return found[0]

    def of(self, code: int, ident: str) -> list[JobEvent]:
        with self.changed:
            return [e for e in self.events if e.code == code and getattr(e, "job_id", "") == ident]


def scheduler_app(url: str) -> Celery:
    """An app that only sends: it has the workers' broker and backend, not their task."""
    return Celery(f"scheduler-{uuid4().hex[:6]}", broker=url, backend=url)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def make_scheduler(
    celery_url: str, worker: Worker, events: Events
) -> Iterator[Callable[..., BackgroundScheduler]]:
    schedulers: list[BackgroundScheduler] = []

    def factory(queue: str = worker.queue, **options: Any) -> BackgroundScheduler:
        executor = RecordingCeleryExecutor(
            scheduler_app(celery_url), queue=queue, poll_interval=0.05, **options
        )
        scheduler = BackgroundScheduler(executors={"default": executor}, timezone=UTC)
        scheduler.add_listener(events, EVENT_ALL | EVENT_JOB_TIMED_OUT)
        scheduler.start()
        schedulers.append(scheduler)
        return scheduler

    yield factory
    for scheduler in schedulers:
        scheduler.shutdown(wait=False)


def executed(ident: str) -> Callable[[JobEvent], bool]:
    return lambda event: (
        getattr(event, "job_id", None) == ident and event.code == EVENT_JOB_EXECUTED
    )


def failed(ident: str) -> Callable[[JobEvent], bool]:
    return lambda event: getattr(event, "job_id", None) == ident and event.code in FAILURES


def job_id() -> str:
    return f"job-{uuid4().hex[:10]}"


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while not (value := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
    return value


def run_states(scheduler: BackgroundScheduler, job: str) -> list[str]:
    return [run.state for run in scheduler.get_job_runs(job)]


# ----- what a job's run reports


def test_a_return_value_reaches_the_executed_listener(make_scheduler, events) -> None:
    scheduler = make_scheduler()
    scheduler.add_job(f"{JOBS}:add", args=(2, 3), id=(ident := job_id()))

    event = events.wait_for(executed(ident), "executed")

    assert (event.code, event.exception, event.retval) == (EVENT_JOB_EXECUTED, None, 5)
    assert event.started_at is not None and event.finished_at >= event.started_at
    wait_until(lambda: run_states(scheduler, ident) == ["succeeded"], "a succeeded run")


def test_an_exception_reaches_the_error_listener_with_the_workers_traceback(
    make_scheduler, events
) -> None:
    scheduler = make_scheduler()
    scheduler.add_job(f"{JOBS}:fail", args=("no such account",), id=(ident := job_id()))

    event = events.wait_for(failed(ident), "error")

    assert type(event.exception) is ValueError
    assert str(event.exception) == "no such account"
    assert 'celery_app.py", line' in event.traceback and "in fail" in event.traceback
    [run] = scheduler.get_job_runs(ident)
    assert (run.state, run.exception_type) == ("failed", "ValueError")


def test_max_instances_holds_while_a_run_is_on_the_worker(
    make_scheduler, events, redis_client
) -> None:
    scheduler = make_scheduler()
    ident = job_id()
    pid_key, release_key = f"{ident}.pid", f"{ident}.release"
    scheduler.add_job(
        f"{JOBS}:hold", "interval", seconds=0.2, args=(pid_key, release_key),
        id=ident, max_instances=1, next_run_time=datetime.now(UTC),
    )  # fmt: skip
    wait_until(lambda: redis_client.get(pid_key), "the run to start on the worker")
    skipped = events.wait_for(
        lambda e: getattr(e, "job_id", "") == ident and e.code == EVENT_JOB_MAX_INSTANCES,
        "max instances",
    )
    # another look, after several more fire times went by while the run was held
    time.sleep(0.5)
    assert len(events.of(EVENT_JOB_MAX_INSTANCES, ident)) >= 2
    assert not events.of(EVENT_JOB_EXECUTED, ident), "the held run cannot have ended"
    assert "skipped" in run_states(scheduler, ident)

    scheduler.pause_job(ident)
    redis_client.set(release_key, 1)
    ended = events.wait_for(executed(ident), "executed")
    assert ended.scheduled_run_time < skipped.scheduled_run_times[0]
    assert len(events.of(EVENT_JOB_EXECUTED, ident)) == 1


def test_a_message_published_twice_runs_the_job_once(
    make_scheduler, events, redis_client, celery_url, worker
) -> None:
    scheduler = make_scheduler()
    ident = job_id()
    counter = f"{ident}.runs"
    scheduler.add_job(f"{JOBS}:count_run", args=(counter,), id=ident)
    first = events.wait_for(executed(ident), "executed")
    assert first.retval == 1

    [message] = scheduler._lookup_executor("default").messages
    app = scheduler_app(celery_url)
    copies = [app.send_task(TASK_NAME, args=[message], queue=worker.queue) for _ in range(2)]

    outcomes = [copy.get(timeout=DEADLINE) for copy in copies]
    assert [[outcome["outcome"] for outcome in sent] for sent in outcomes] == [
        ["duplicate"],
        ["duplicate"],
    ]
    assert int(redis_client.get(counter)) == 1


def test_a_worker_child_killed_mid_run_makes_the_run_lost(
    make_scheduler, events, redis_client
) -> None:
    scheduler = make_scheduler()
    ident = job_id()
    pid_key = f"{ident}.pid"
    scheduler.add_job(f"{JOBS}:hold", args=(pid_key, f"{ident}.never"), id=ident)
    pid = int(wait_until(lambda: redis_client.get(pid_key), "the run to start on the worker"))

    os.kill(pid, signal.SIGKILL)

    event = events.wait_for(failed(ident), "lost")
    assert isinstance(event.exception, JobLost)
    assert "WorkerLostError" in str(event.exception) or "died" in str(event.exception)
    [run] = wait_until(lambda: scheduler.get_job_runs(ident, state="lost"), "a lost run")
    assert "died" in run.reason


def test_with_acks_late_a_killed_run_is_delivered_again_and_reported_lost_not_rerun(
    make_scheduler, events, redis_client, acks_late_worker
) -> None:
    scheduler = make_scheduler(queue=acks_late_worker.queue)
    ident = job_id()
    pid_key = f"{ident}.pid"
    scheduler.add_job(f"{JOBS}:hold", args=(pid_key, f"{ident}.never"), id=ident)
    pid = int(wait_until(lambda: redis_client.get(pid_key), "the run to start on the worker"))

    os.kill(pid, signal.SIGKILL)

    event = events.wait_for(failed(ident), "lost")
    assert isinstance(event.exception, JobLost)
    assert "delivered the message again" in str(event.exception)
    # the redelivery did not start the job again: the pid is still the killed child's
    assert int(redis_client.get(pid_key)) == pid
    assert scheduler.get_job_runs(ident, state="lost")


def test_a_run_revoked_on_the_worker_is_reported_lost(
    make_scheduler, events, redis_client, celery_url
) -> None:
    scheduler = make_scheduler()
    ident = job_id()
    pid_key = f"{ident}.pid"
    scheduler.add_job(f"{JOBS}:hold", args=(pid_key, f"{ident}.never"), id=ident)
    wait_until(lambda: redis_client.get(pid_key), "the run to start on the worker")
    [sent] = scheduler._lookup_executor("default")._sent

    scheduler_app(celery_url).control.revoke(sent, terminate=True)

    event = events.wait_for(failed(ident), "lost")
    assert isinstance(event.exception, JobLost) and "REVOKED" in str(event.exception)


# ----- the job options


def test_a_timeout_stops_the_run_at_the_soft_time_limit(make_scheduler, events) -> None:
    scheduler = make_scheduler()
    scheduler.add_job(f"{JOBS}:sleep_for", args=(30,), id=(ident := job_id()), timeout=1)

    event = events.wait_for(failed(ident), "timeout")

    assert event.code == EVENT_JOB_TIMED_OUT and isinstance(event.exception, JobTimeout)
    assert "SoftTimeLimitExceeded" in event.traceback
    assert event.finished_at - event.started_at < timedelta(seconds=5)
    wait_until(lambda: scheduler.get_job_runs(ident, state="timed_out"), "a timed out run")


def test_a_run_that_ignores_the_soft_limit_is_stopped_at_the_hard_one(
    make_scheduler, events
) -> None:
    scheduler = make_scheduler()
    scheduler.add_job(f"{JOBS}:ignore_soft_limit", args=(30,), id=(ident := job_id()), timeout=1)

    event = events.wait_for(failed(ident), "timeout")

    assert event.code == EVENT_JOB_TIMED_OUT
    assert "hard time limit" in str(event.exception)


def test_a_failed_run_is_retried_by_the_scheduler_as_a_new_run(
    make_scheduler, events, redis_client
) -> None:
    scheduler = make_scheduler()
    ident = job_id()
    counter = f"{ident}.runs"
    scheduler.add_job(
        f"{JOBS}:fail_once", args=(counter,), id=ident, max_retries=2, retry_delay=0.1
    )

    retried = events.wait_for(executed(ident), "the retry")

    assert retried.retval == 2 and int(redis_client.get(counter)) == 2
    [error] = events.of(EVENT_JOB_ERROR, ident)
    assert type(error.exception) is ConnectionError
    assert sorted(run.attempt for run in scheduler.get_job_runs(ident)) == [1, 2]


def test_a_priority_travels_with_the_message(make_scheduler, events) -> None:
    scheduler = make_scheduler(priority=3)
    scheduler.add_job(f"{JOBS}:add", args=(1, 1), id=(ident := job_id()))

    event = events.wait_for(executed(ident), "executed")

    assert event.retval == 2


# ----- configuration


@pytest.mark.parametrize("key", ["class", "type"])
def test_the_executor_is_configured_by_a_dict(key, celery_url, worker, events) -> None:
    if key == "type":
        from importlib.metadata import entry_points

        if "celery" not in {ep.name for ep in entry_points(group="apscheduler.executors")}:
            unavailable("the celery entry point of apscheduler.executors is not installed")
    executor_type = "apscheduler.executors.celery:CeleryExecutor" if key == "class" else "celery"
    scheduler = BackgroundScheduler(
        {"apscheduler.timezone": "UTC"},
        executors={
            "default": {
                key: executor_type,
                "app": f"{JOBS}:app",
                "queue": worker.queue,
                "poll_interval": "0.05",
            }
        },
    )
    scheduler.add_listener(events, EVENT_ALL)
    scheduler.start()
    try:
        scheduler.add_job(f"{JOBS}:add", args=(20, 22), id=(ident := job_id()))
        event = events.wait_for(executed(ident), "executed")
        assert event.retval == 42
        assert isinstance(scheduler._lookup_executor("default"), CeleryExecutor)
    finally:
        scheduler.shutdown()


def test_a_job_whose_callable_has_no_reference_is_refused_at_submission(
    make_scheduler, caplog
) -> None:
    scheduler = make_scheduler()
    ident = job_id()
    scheduler.add_job(lambda: None, id=ident)

    [run] = wait_until(lambda: scheduler.get_job_runs(ident, state="failed"), "a failed run")

    assert "has none" in run.exception
    assert not scheduler._lookup_executor("default").messages


def test_an_app_without_a_result_backend_is_refused_at_start(celery_url) -> None:
    app = Celery("no-backend", broker=celery_url)
    scheduler = BackgroundScheduler(executors={"default": CeleryExecutor(app)}, timezone=UTC)

    with pytest.raises(ValueError, match="has no result backend"):
        scheduler.start(paused=True)


def test_the_app_reference_must_name_a_celery_app(celery_url) -> None:
    scheduler = BackgroundScheduler(
        executors={"default": CeleryExecutor(f"{JOBS}:add")}, timezone=UTC
    )

    with pytest.raises(TypeError, match="is not a Celery app"):
        scheduler.start(paused=True)


def test_the_worker_side_needs_a_redis_to_mark_runs_in() -> None:
    app = Celery("amqp-broker", broker="amqp://guest@127.0.0.1//")

    with pytest.raises(ValueError, match="claims="):
        install(app)


def test_the_worker_side_takes_the_claims_store_it_is_given(celery_url) -> None:
    app = Celery("amqp-broker", broker="amqp://guest@127.0.0.1//")

    task = install(app, claims=celery_url)

    assert task.name == TASK_NAME and TASK_NAME in app.tasks


# ----- two schedulers on one store


def test_two_schedulers_on_one_store_send_each_fire_time_once(
    celery_url, worker, redis_client, tmp_path
) -> None:
    parts = urlsplit(celery_url)
    prefix = f"two_{uuid4().hex[:8]}"
    store = {
        "host": parts.hostname, "port": parts.port, "db": CELERY_DB,
        "jobs_key": f"{prefix}.jobs", "run_times_key": f"{prefix}.run_times",
    }  # fmt: skip
    first_run = datetime.now(UTC) + timedelta(seconds=3)
    _add_tick_jobs(store, worker.queue, celery_url, first_run, count=3)

    records = [tmp_path / f"scheduler-{index}.log" for index in range(2)]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    environment["APSCHEDULER_CELERY_TEST_URL"] = celery_url
    command = [sys.executable, "-m", JOBS, "--store", json.dumps(store), "--queue", worker.queue]
    processes = [
        subprocess.Popen([*command, "--record", str(record)], cwd=REPO_ROOT, env=environment)
        for record in records
    ]
    try:
        for record in records:
            wait_until(lambda r=record: r.exists() and "ready" in r.read_text(), "a scheduler")
        time.sleep((first_run - datetime.now(UTC)).total_seconds() + 3.2)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(20)

    submitted = [
        tuple(line.split())
        for record in records
        for line in record.read_text().splitlines()
        if line != "ready"
    ]
    by_scheduler = [len(record.read_text().splitlines()) - 1 for record in records]
    assert len(submitted) == len(set(submitted)), "a fire time was sent twice"
    # three jobs firing each second for about three seconds, from either process
    assert len(submitted) >= 9, by_scheduler
    _remove_store_keys(redis_client, prefix)


def _add_tick_jobs(
    store: dict[str, Any], queue: str, url: str, first_run: datetime, count: int
) -> None:
    from apscheduler.jobstores.redis import RedisJobStore

    scheduler = BackgroundScheduler(
        timezone="UTC",
        jobstores={"default": RedisJobStore(**store)},
        executors={"default": CeleryExecutor(scheduler_app(url), queue=queue)},
    )
    scheduler.start(paused=True)
    try:
        for index in range(count):
            scheduler.add_job(
                f"{JOBS}:tick", "interval", seconds=1, start_date=first_run,
                id=f"tick-{index}", coalesce=False, misfire_grace_time=30,
            )  # fmt: skip
    finally:
        scheduler.shutdown(wait=False)


def _remove_store_keys(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
