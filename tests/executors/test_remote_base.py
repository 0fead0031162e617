"""
The remote executors' common part, with an engine made of a thread and a queue in this process:
the message and outcome formats, the claims, and what the scheduler sees. The real engines
(Celery, RQ, Dramatiq with real workers) have tests of their own.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors._remote_messages import RunMessage, RunOutcome, rebuild_exception
from apscheduler.executors._remote_worker import CLAIMED, FINISHED, RUNNING, run_message
from apscheduler.executors.base import JobLost
from apscheduler.executors.remote import RemoteExecutor, RemoteJobError, SentRun, lost_outcomes
from apscheduler.schedulers.background import BackgroundScheduler

UTC = timezone.utc


class DictClaims:
    """Claims in a dict: enough for one process."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.lock = threading.Lock()

    def claim(self, key: str, holder: str) -> str:
        with self.lock:
            if key not in self.keys:
                self.keys[key] = RUNNING
                return CLAIMED
            return self.keys[key]

    def finish(self, key: str) -> None:
        with self.lock:
            self.keys[key] = FINISHED


class ThreadQueueExecutor(RemoteExecutor):
    """An engine of one worker thread; a message can be delivered twice on request."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.claims = DictClaims()
        self.inbox: queue.Queue[tuple[str, RunMessage, bool] | None] = queue.Queue()
        self.results: dict[str, list[RunOutcome]] = {}
        self.lost: set[str] = set()
        self.sent: list[tuple[str, RunMessage]] = []
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    def _send(self, message: RunMessage, job: object) -> str:
        task_id = f"task-{len(self.sent)}"
        self.sent.append((task_id, message))
        self.inbox.put((task_id, message, False))
        return task_id

    def _collect(self, sent: Sequence[SentRun]) -> Mapping[str, Sequence[RunOutcome]]:
        done: dict[str, Sequence[RunOutcome]] = {}
        for run in sent:
            if run.task_id in self.lost:
                done[run.task_id] = lost_outcomes(run, "the worker was killed")
            elif run.task_id in self.results:
                done[run.task_id] = self.results[run.task_id]
        return done

    def _work(self) -> None:
        while (item := self.inbox.get()) is not None:
            task_id, message, redelivered = item
            outcomes = run_message(message, self.claims, redelivered=redelivered)
            self.results.setdefault(task_id, outcomes)


def returns_sum(a: int, b: int) -> int:
    return a + b


def raises_value_error(text: str) -> None:
    raise ValueError(text)


@pytest.fixture
def scheduler():
    scheduler = BackgroundScheduler(
        executors={"default": ThreadQueueExecutor(poll_interval=0.01)}, timezone=UTC
    )
    events: list = []
    scheduler.add_listener(events.append, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.events = events
    scheduler.start(paused=True)
    yield scheduler
    scheduler.shutdown()


def _wait_for(events: list, count: int) -> None:
    for _ in range(500):
        if len(events) >= count:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"only {len(events)} events of {count}")


def test_a_return_value_comes_back_in_the_executed_event(scheduler) -> None:
    scheduler.add_job(returns_sum, args=(2, 3), id="sum")
    scheduler.resume()
    _wait_for(scheduler.events, 1)
    event = scheduler.events[0]
    assert (event.code, event.job_id, event.retval) == (EVENT_JOB_EXECUTED, "sum", 5)
    assert event.started_at is not None and event.finished_at >= event.started_at


def test_an_exception_comes_back_as_its_own_class_with_the_workers_traceback(scheduler) -> None:
    scheduler.add_job(raises_value_error, args=("bad input",), id="fails")
    scheduler.resume()
    _wait_for(scheduler.events, 1)
    event = scheduler.events[0]
    assert event.code == EVENT_JOB_ERROR
    assert type(event.exception) is ValueError and str(event.exception) == "bad input"
    assert "raises_value_error" in event.traceback


def test_a_second_delivery_of_a_message_does_not_run_the_job_again(scheduler) -> None:
    executor = scheduler._lookup_executor("default")
    scheduler.add_job(returns_sum, args=(1, 1), id="once")
    scheduler.resume()
    _wait_for(scheduler.events, 1)
    task_id, message = executor.sent[0]
    executor.inbox.put((task_id + "-copy", message, False))
    executor.inbox.put((task_id + "-again", message, True))
    for _ in range(200):
        if len(executor.results) == 3:
            break
        threading.Event().wait(0.01)
    assert [o["outcome"] for o in executor.results[task_id + "-copy"]] == ["duplicate"]
    assert [o["outcome"] for o in executor.results[task_id + "-again"]] == ["duplicate"]


def _sum_message(
    run_time: datetime, key: str, misfire_grace_time: float | None = None
) -> RunMessage:
    """A message of one run of returns_sum(1, 2), as an executor would send it."""
    return RunMessage(
        apscheduler=1,
        job_id="j",
        jobstore="default",
        name="j",
        func=f"{__name__}:returns_sum",
        args=[1, 2],
        kwargs={},
        run_times=[run_time.isoformat()],
        keys=[key],
        misfire_grace_time=misfire_grace_time,
        timeout=None,
    )


def test_a_redelivered_run_whose_worker_died_is_lost_not_run_twice() -> None:
    claims = DictClaims()
    message = _sum_message(datetime.now(UTC), "j@now")
    claims.claim("j@now", "dead worker")  # claimed, never finished
    [outcome] = run_message(message, claims, redelivered=True)
    assert outcome["outcome"] == "lost"
    assert "not run twice" in outcome["reason"]


def test_a_run_that_waited_past_its_grace_time_is_missed_on_the_worker() -> None:
    late = datetime.now(UTC) - timedelta(seconds=30)
    message = _sum_message(late, "j@late", misfire_grace_time=1)
    [outcome] = run_message(message, DictClaims())
    assert outcome["outcome"] == "missed"
    assert "misfire_grace_time=1" in outcome["reason"]


def test_max_instances_holds_until_the_worker_reports(scheduler) -> None:
    executor = scheduler._lookup_executor("default")
    executor.inbox.put(None)  # the worker stops: nothing reports
    executor.worker.join()
    job = scheduler.add_job(returns_sum, "interval", seconds=1, args=(1, 1), id="slow")
    now = datetime.now(UTC)
    executor.submit_job(job, [now])
    with pytest.raises(Exception, match="maximum number of instances"):
        executor.submit_job(job, [now + timedelta(seconds=1)])
    # the engine says the worker died: the instance is released and the run reported lost
    executor.lost.add(executor.sent[0][0])
    _wait_for(scheduler.events, 1)
    assert isinstance(scheduler.events[0].exception, JobLost)
    executor.submit_job(job, [now + timedelta(seconds=2)])
    executor.lost.add(executor.sent[1][0])  # so that shutdown(wait=True) does not wait for it
    _wait_for(scheduler.events, 2)


def test_a_job_whose_callable_has_no_reference_is_refused(scheduler) -> None:
    executor = scheduler._lookup_executor("default")
    job = scheduler.add_job(lambda: None, id="lambda")
    with pytest.raises(ValueError, match="has none"):
        executor.check_job(job)


def test_an_argument_that_is_not_json_is_named() -> None:
    scheduler = BackgroundScheduler(executors={"default": ThreadQueueExecutor()})
    job = scheduler.add_job(returns_sum, args=(object(), 1), id="obj")
    with pytest.raises(ValueError, match="<object object at"):
        scheduler._executors["default"].check_job(job)


def test_an_exception_class_not_imported_here_is_described_not_imported() -> None:
    exc = rebuild_exception({"exc_type": "nowhere.Boom", "exc_text": "bang", "exc_args": ["bang"]})
    assert isinstance(exc, RemoteJobError) and str(exc) == "nowhere.Boom: bang"


def test_a_run_without_an_outcome_is_reported_lost_after_lost_after_seconds() -> None:
    executor = ThreadQueueExecutor(poll_interval=0.01, lost_after=0.05)
    executor.inbox.put(None)  # no worker: nothing will ever report
    scheduler = BackgroundScheduler(executors={"default": executor}, timezone=UTC)
    events: list = []
    scheduler.add_listener(events.append, EVENT_JOB_ERROR)
    scheduler.start()
    try:
        scheduler.add_job(returns_sum, args=(1, 1), id="silent")
        _wait_for(events, 1)
        assert isinstance(events[0].exception, JobLost)
        assert "lost_after=0.05" in events[0].reason
        [run] = scheduler.get_job_runs("silent")
        assert run.state == "lost"
    finally:
        scheduler.shutdown()
