"""
The Dramatiq executor with real ``dramatiq`` worker processes on the suite's Redis server.

The workers load :mod:`tests.executors.dramatiq_app`, whose broker has a heartbeat timeout of
a few seconds, so that the messages of a killed worker come back soon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from tests.services import require_module

require_module("dramatiq")

import redis  # noqa: E402
from dramatiq.brokers.redis import RedisBroker  # noqa: E402
from dramatiq.brokers.stub import StubBroker  # noqa: E402
from dramatiq.results import Results  # noqa: E402
from dramatiq.results.backends import StubBackend  # noqa: E402

from apscheduler.events import (  # noqa: E402
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_TIMED_OUT,
    JobExecutionEvent,
)
from apscheduler.executors.base import JobLost, MaxInstancesReachedError  # noqa: E402
from apscheduler.executors.dramatiq import (  # noqa: E402
    DramatiqExecutor,
    install,
    result_backend,
)
from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from tests.executors import dramatiq_app  # noqa: E402
from tests.executors.dramatiq_app import (  # noqa: E402
    DramatiqAppError,
    add,
    count_run,
    fail,
    slow,
    spin,
    stall,
)

UTC = timezone.utc
REPOSITORY = Path(__file__).resolve().parents[2]
DRAMATIQ = Path(sys.executable).with_name("dramatiq")
WAIT = 30.0
OUTCOMES = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_TIMED_OUT


class Worker:
    """A ``dramatiq`` command (a main process and one worker process) taking some queues."""

    def __init__(self, url: str, namespace: str, queue: str, log: Path) -> None:
        self.url, self.namespace, self.queue, self.log = url, namespace, queue, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        client = redis.Redis.from_url(self.url)
        heartbeats = f"{self.namespace}:__heartbeats__"
        before = set(client.zrange(heartbeats, 0, -1))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])
            ),
            dramatiq_app.URL_VARIABLE: self.url,
            dramatiq_app.NAMESPACE_VARIABLE: self.namespace,
        }
        command = [str(DRAMATIQ), "tests.executors.dramatiq_app", "--processes", "1"]
        command += ["--threads", "2", "--queues", self.queue]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPOSITORY, env=env, stdout=log, stderr=log, start_new_session=True
            )
        # a worker is taking messages once its consumer has been heard of
        wait_until(lambda: set(client.zrange(heartbeats, 0, -1)) - before, self.describe)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the command's group
                process.wait()

    def describe(self) -> str:
        return f"the worker's log:\n{self.log.read_text(errors='replace')}"


def wait_until(condition: Callable[[], Any], describe: Callable[[], str] = str) -> Any:
    deadline = threading.Event()
    timer = threading.Timer(WAIT, deadline.set)
    timer.start()
    try:
        while not (value := condition()):
            if deadline.wait(0.02):
                raise AssertionError(f"not met in {WAIT} s; {describe()}")
        return value
    finally:
        timer.cancel()


@pytest.fixture(scope="module")
def namespace() -> str:
    return f"apscheduler-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def worker(
    redis_url: str, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """The worker of the ``default`` queue, shared by the tests of this module."""
    log = tmp_path_factory.mktemp("dramatiq") / "worker.log"
    worker = Worker(redis_url, namespace, "default", log)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def broker(redis_url: str, namespace: str) -> RedisBroker:
    """The scheduler's broker: the workers' Redis and namespace."""
    return dramatiq_app.make_broker(redis_url, namespace)


@pytest.fixture
def job_id() -> str:
    return f"job-{uuid.uuid4().hex[:8]}"


class Events:
    """The outcome events a scheduler dispatches, to wait for."""

    def __init__(self) -> None:
        self.events: list[JobExecutionEvent] = []
        self.changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait(self, count: int = 1) -> list[JobExecutionEvent]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.events) >= count, WAIT):
                raise AssertionError(f"{len(self.events)} outcome events of {count}")
            return list(self.events)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def make_scheduler(events: Events) -> Iterator[Callable[..., BackgroundScheduler]]:
    started: list[BackgroundScheduler] = []

    def make(executor: Any, *, paused: bool = False) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(executors={"default": executor}, timezone=UTC)
        scheduler.add_listener(events, OUTCOMES)
        scheduler.start(paused=paused)
        started.append(scheduler)
        return scheduler

    yield make
    for scheduler in started:
        scheduler.shutdown(wait=False)


@pytest.fixture
def scheduler(
    worker: Worker, broker: RedisBroker, make_scheduler: Callable[..., BackgroundScheduler]
) -> BackgroundScheduler:
    return make_scheduler(DramatiqExecutor(broker, poll_interval=0.05))


def test_a_return_value_reaches_the_executed_event(
    scheduler: BackgroundScheduler, events: Events, job_id: str
) -> None:
    scheduler.add_job(add, args=(2, 3), id=job_id)
    [event] = events.wait()
    assert (event.code, event.job_id, event.retval) == (EVENT_JOB_EXECUTED, job_id, 5)
    [run] = wait_until(lambda: scheduler.get_job_runs(job_id, state="succeeded"))
    assert run.finished_at is not None


def test_an_exception_reaches_the_error_event_with_the_workers_traceback(
    scheduler: BackgroundScheduler, events: Events, job_id: str
) -> None:
    scheduler.add_job(fail, args=("bad input",), id=job_id)
    [event] = events.wait()
    assert event.code == EVENT_JOB_ERROR
    assert type(event.exception) is DramatiqAppError and str(event.exception) == "bad input"
    traceback = event.traceback or ""
    assert "dramatiq_app.py" in traceback and "raise DramatiqAppError" in traceback


def test_max_instances_holds_while_a_slow_run_is_on_the_worker(
    scheduler: BackgroundScheduler, events: Events, job_id: str, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    scheduler.pause()
    job = scheduler.add_job(
        slow, "interval", hours=1, args=(redis_url, job_id, 1.5), id=job_id, max_instances=1
    )
    executor = scheduler._lookup_executor("default")
    executor.submit_job(job, [datetime.now(UTC)])
    wait_until(lambda: client.get(job_id))  # the run is on the worker
    with pytest.raises(MaxInstancesReachedError):
        executor.submit_job(job, [datetime.now(UTC)])
    [event] = events.wait()
    assert event.code == EVENT_JOB_EXECUTED and event.retval == "done"
    executor.submit_job(job, [datetime.now(UTC)])  # released when the worker reported
    events.wait(2)
    assert int(client.get(job_id) or 0) == 2


def test_a_message_sent_again_by_hand_runs_once(
    scheduler: BackgroundScheduler,
    events: Events,
    broker: RedisBroker,
    job_id: str,
    redis_url: str,
) -> None:
    delivered = []
    enqueue = broker.enqueue

    def enqueue_and_keep(message: Any, **options: Any) -> Any:
        delivered.append(enqueue(message, **options))
        return delivered[-1]

    broker.enqueue = enqueue_and_keep  # type: ignore[method-assign]
    scheduler.add_job(count_run, args=(redis_url, job_id), id=job_id)
    [event] = events.wait()
    assert event.retval == 1
    [message] = delivered
    for _ in range(2):
        enqueue(message)  # the same Dramatiq message, sent again
    # and delivered again under its Redis id, as the broker does when a worker died
    broker.do_enqueue("default", message.options["redis_message_id"], message.encode())
    broker.join("default", timeout=int(WAIT * 1000))
    assert int(redis.Redis.from_url(redis_url).get(job_id) or 0) == 1
    assert len(events.events) == 1
    # the copies, which ran nothing, left the stored outcome as it was
    [outcome] = result_backend(broker).get_result(message)
    assert (outcome["outcome"], outcome["retval"]) == ("executed", 1)


def test_a_message_that_dramatiq_skips_is_reported_lost(
    scheduler: BackgroundScheduler,
    events: Events,
    broker: RedisBroker,
    job_id: str,
    redis_url: str,
) -> None:
    enqueue = broker.enqueue

    def enqueue_too_old(message: Any, **options: Any) -> Any:
        message.options["max_age"] = 1  # ms: Dramatiq's AgeLimit drops it on the worker
        return enqueue(message, **options)

    broker.enqueue = enqueue_too_old  # type: ignore[method-assign]
    scheduler.add_job(count_run, args=(redis_url, job_id), id=job_id)
    [event] = events.wait()
    assert event.code == EVENT_JOB_ERROR and isinstance(event.exception, JobLost)
    assert "age limit exceeded" in str(event.exception)
    assert redis.Redis.from_url(redis_url).get(job_id) is None


def test_a_job_over_its_timeout_is_stopped_by_the_time_limit(
    scheduler: BackgroundScheduler, events: Events, job_id: str
) -> None:
    scheduler.add_job(spin, args=(20,), id=job_id, timeout=1)
    [event] = events.wait()
    assert event.code == EVENT_JOB_TIMED_OUT
    assert event.finished_at is not None and event.started_at is not None
    assert (event.finished_at - event.started_at).total_seconds() < 5
    wait_until(lambda: scheduler.get_job_runs(job_id, state="timed_out"))


def test_a_worker_killed_mid_run_leads_to_a_lost_run(
    redis_url: str,
    namespace: str,
    broker: RedisBroker,
    make_scheduler: Callable[..., BackgroundScheduler],
    events: Events,
    job_id: str,
    tmp_path: Path,
) -> None:
    client = redis.Redis.from_url(redis_url)
    worker = Worker(redis_url, namespace, "lost", tmp_path / "worker.log")
    worker.start()
    try:
        executor = DramatiqExecutor(broker, queue_name="lost", poll_interval=0.05)
        scheduler = make_scheduler(executor)
        scheduler.add_job(stall, args=(redis_url, job_id), id=job_id)
        pid = int(wait_until(lambda: client.get(job_id), worker.describe))
        os.kill(pid, signal.SIGKILL)
        assert worker.process is not None
        worker.process.wait(WAIT)  # the main process stops when its worker dies
        worker.start()  # another worker gets the message once the dead one's heartbeat is old
        [event] = events.wait()
    finally:
        worker.stop()
    assert event.code == EVENT_JOB_ERROR and isinstance(event.exception, JobLost)
    assert "not run twice" in str(event.exception)
    assert int(client.get(job_id + ":runs") or 0) == 1
    [run] = wait_until(lambda: scheduler.get_job_runs(job_id, state="lost"))
    assert run.state == "lost"


def test_a_configuration_dict_makes_the_executor(
    worker: Worker,
    broker: RedisBroker,
    make_scheduler: Callable[..., BackgroundScheduler],
    events: Events,
    job_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dramatiq_app, "broker", broker)
    config: dict[str, Any] = {
        "broker": "tests.executors.dramatiq_app:broker",
        "queue_name": "default",
        "poll_interval": 0.05,
    }
    if any(ep.name == "dramatiq" for ep in entry_points(group="apscheduler.executors")):
        config["type"] = "dramatiq"
    else:  # the package metadata predates the entry point
        config["class"] = "apscheduler.executors.dramatiq:DramatiqExecutor"
    scheduler = make_scheduler(config)
    assert isinstance(scheduler._lookup_executor("default"), DramatiqExecutor)
    scheduler.add_job(add, args=(20, 22), id=job_id)
    [event] = events.wait()
    assert event.retval == 42


def test_a_broker_without_results_is_refused_at_start(redis_url: str) -> None:
    executor = DramatiqExecutor(RedisBroker(url=redis_url))  # type: ignore[no-untyped-call]
    scheduler = BackgroundScheduler(executors={"default": executor}, timezone=UTC)
    with pytest.raises(ValueError, match="no Results middleware"):
        scheduler.start(paused=True)


def test_install_needs_the_results_middleware_and_somewhere_to_claim_runs() -> None:
    with pytest.raises(ValueError, match="no Results middleware"):
        install(StubBroker())
    broker = StubBroker()
    broker.add_middleware(Results(backend=StubBackend()))  # type: ignore[no-untyped-call]
    with pytest.raises(ValueError, match="no Redis client"):
        install(broker)
