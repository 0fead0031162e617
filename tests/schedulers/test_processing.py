"""One processing pass at a time: what runs, what is missed, and how long the scheduler sleeps."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone as dt_timezone
from unittest.mock import MagicMock

import pytest

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.shared import SharedJobStore, is_shared_store
from apscheduler.schedulers._processing import process_jobs_or_retry
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from tests.schedulers import targets

UTC = dt_timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def of_code(events, code):
    return [event for event in events if event.code == code]


def test_due_job_runs_and_the_scheduler_sleeps_until_the_next_run(scheduler, events, fake_clock):
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=30, id="j", args=["x"])

    assert scheduler._process_jobs() == 30.0
    fake_clock.advance(seconds=30)
    assert scheduler._process_jobs() == 30.0

    executed = of_code(events, EVENT_JOB_EXECUTED)
    assert [e.scheduled_run_time for e in executed] == [NOW + timedelta(seconds=30)]
    assert scheduler.get_job("j").next_run_time == NOW + timedelta(seconds=60)


def test_no_jobs_means_sleeping_until_woken(scheduler):
    scheduler.start()

    assert scheduler._process_jobs() is None


def test_coalescing_runs_a_late_job_once(scheduler, events, fake_clock):
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, misfire_grace_time=None)
    fake_clock.advance(seconds=35)

    scheduler._process_jobs()

    executed = of_code(events, EVENT_JOB_EXECUTED)
    assert [e.scheduled_run_time for e in executed] == [NOW + timedelta(seconds=30)]


def test_without_coalescing_every_run_time_is_owed(scheduler, events, fake_clock):
    scheduler.start()
    scheduler.add_job(
        targets.record, "interval", seconds=10, misfire_grace_time=None, coalesce=False
    )
    fake_clock.advance(seconds=35)

    scheduler._process_jobs()

    executed = of_code(events, EVENT_JOB_EXECUTED)
    assert [e.scheduled_run_time for e in executed] == [
        NOW + timedelta(seconds=s) for s in (10, 20, 30)
    ]


def test_run_later_than_the_grace_time_is_reported_missed(scheduler, events, fake_clock, caplog):
    scheduler.start()
    scheduler.add_job(targets.record, "interval", minutes=1, misfire_grace_time=5, id="late")
    fake_clock.advance(minutes=1, seconds=6)

    scheduler._process_jobs()

    missed = of_code(events, EVENT_JOB_MISSED)
    assert [(e.job_id, e.scheduled_run_time) for e in missed] == [
        ("late", NOW + timedelta(minutes=1))
    ]
    assert of_code(events, EVENT_JOB_EXECUTED) == []
    assert "was missed by 0:00:06" in caplog.text


def test_a_job_that_raises_is_logged_with_its_traceback_and_reported(scheduler, events, caplog):
    scheduler.start()
    scheduler.add_job(targets.fail, id="boom")

    scheduler._process_jobs()

    (error,) = of_code(events, EVENT_JOB_ERROR)
    assert isinstance(error.exception, RuntimeError)
    assert "in fail" in error.traceback
    assert 'Job "fail' in caplog.text and "raised an exception" in caplog.text
    assert "the job failed on purpose" in caplog.text


class HeldExecutor(BaseExecutor):
    """Accepts jobs and never finishes them, so instances pile up."""

    def _do_submit_job(self, job, run_times):
        pass


def test_max_instances_skips_the_run_and_says_so(scheduler, events, fake_clock, caplog):
    scheduler.add_executor(HeldExecutor(), "held")
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=1, executor="held", id="busy")

    fake_clock.advance(seconds=1)
    scheduler._process_jobs()
    fake_clock.advance(seconds=1)
    scheduler._process_jobs()

    (skipped,) = of_code(events, EVENT_JOB_MAX_INSTANCES)
    assert skipped.job_id == "busy"
    assert skipped.scheduled_run_times == [NOW + timedelta(seconds=2)]
    assert "maximum number of running instances reached (1)" in caplog.text


def test_job_with_a_missing_executor_is_removed_with_an_error(scheduler, caplog):
    scheduler.start()
    scheduler.add_job(targets.record, executor="nowhere", id="orphan")

    scheduler._process_jobs()

    assert scheduler.get_job("orphan") is None
    assert 'Executor lookup ("nowhere") failed' in caplog.text


class FailingStore(MemoryJobStore):
    def get_due_jobs(self, now):
        raise ConnectionError("database went away")


def test_store_error_is_retried_after_the_retry_interval(make_scheduler, caplog):
    scheduler = make_scheduler(jobstore_retry_interval=7)
    scheduler.add_jobstore(FailingStore(), "flaky")
    scheduler.start()

    assert scheduler._process_jobs() == 7.0
    assert "Error getting due jobs from job store 'flaky': database went away" in caplog.text


class BrokenTrigger(BaseTrigger):
    def __init__(self, first):
        self.first = first

    def get_next_fire_time(self, previous_fire_time, now):
        if previous_fire_time is None:
            return self.first
        raise ArithmeticError("third-party trigger bug")


def test_trigger_that_raises_pauses_its_job_instead_of_spinning(scheduler, fake_clock, caplog):
    scheduler.start()
    scheduler.add_job(targets.record, BrokenTrigger(NOW + timedelta(seconds=1)), id="broken")
    fake_clock.advance(seconds=1)

    scheduler._process_jobs()

    assert scheduler.get_job("broken").next_run_time is None
    assert "pausing the job" in caplog.text


class RemovalFailingStore(MemoryJobStore):
    """Loses its connection the first ``failures`` times it is asked to remove a job."""

    def __init__(self, failures=1):
        super().__init__()
        self.failures = failures

    def remove_job(self, job_id):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("connection reset while removing")
        super().remove_job(job_id)


def add_orphan(scheduler, jobstore):
    """A job due now whose executor does not exist: the pass removes it from its store."""
    scheduler.add_job(targets.record, executor="nowhere", id="orphan", jobstore=jobstore)


def test_an_unexpected_error_comes_out_of_the_pass_as_in_3x(make_scheduler):
    """A failing pass raises, as in APScheduler 3; it does not look like a normal delay."""
    scheduler = make_scheduler(jobstore_retry_interval=3)
    scheduler.add_jobstore(RemovalFailingStore(), "flaky")
    scheduler.start()
    add_orphan(scheduler, "flaky")

    with pytest.raises(ConnectionError, match="connection reset while removing"):
        scheduler._process_jobs()


def test_the_loop_logs_an_unexpected_error_and_retries_after_the_retry_interval(
    make_scheduler, caplog
):
    scheduler = make_scheduler(jobstore_retry_interval=3)
    scheduler.add_jobstore(RemovalFailingStore(), "flaky")
    scheduler.start()
    add_orphan(scheduler, "flaky")

    assert process_jobs_or_retry(scheduler) == 3.0
    assert "Unexpected error while processing jobs" in caplog.text
    # the next pass works again: the orphan is gone
    assert process_jobs_or_retry(scheduler) is None
    assert scheduler.get_job("orphan") is None


def test_a_background_scheduler_keeps_running_after_an_unexpected_error():
    """The scheduler's own thread survives the error and runs a job added afterwards."""
    failed, ran = threading.Event(), threading.Event()

    class FailureSpotter(logging.Handler):
        def emit(self, record):
            if record.getMessage() == "Unexpected error while processing jobs":
                failed.set()

    spotter = FailureSpotter()
    logger = logging.getLogger("apscheduler.scheduler")
    logger.addHandler(spotter)
    scheduler = BackgroundScheduler(
        timezone="UTC", jobstore_retry_interval=3600, executors={"default": DebugExecutor()}
    )
    scheduler.add_jobstore(RemovalFailingStore(), "flaky")
    scheduler.add_listener(lambda event: ran.set(), EVENT_JOB_EXECUTED)
    add_orphan(scheduler, "flaky")
    try:
        scheduler.start()
        assert failed.wait(10), "the pass never failed"

        scheduler.add_job(targets.record, args=["after the error"])

        assert ran.wait(10), "the scheduler stopped processing after the error"
        assert scheduler._thread.is_alive()
    finally:
        logger.removeHandler(spotter)
        scheduler.shutdown()


def test_a_mock_of_a_store_takes_the_3x_path(scheduler):
    """
    3.x test suites hand the scheduler ``MagicMock(BaseJobStore, ...)``: its ``shared``
    attribute is a truthy mock, but it is no shared store, so the pass asks ``get_due_jobs``.

    (A mock here is the input under test: it is what those suites pass.)
    """
    scheduler.start()
    store = MagicMock(
        BaseJobStore,
        get_due_jobs=MagicMock(return_value=[]),
        get_next_run_time=MagicMock(return_value=None),
    )
    scheduler._jobstores["default"] = store

    assert scheduler._process_jobs() is None
    store.get_due_jobs.assert_called_once_with(NOW)
    store.get_next_run_time.assert_called_once_with()
    assert [call[0] for call in store.method_calls] == ["get_due_jobs", "get_next_run_time"]


def test_a_mock_of_a_shared_store_class_takes_the_3x_path_too(scheduler):
    """A mock made from a shared store class passes isinstance() checks; its type does not."""
    sqlalchemy_store = pytest.importorskip("apscheduler.jobstores.sqlalchemy")
    scheduler.start()
    store = MagicMock(
        sqlalchemy_store.SQLAlchemyJobStore,
        get_due_jobs=MagicMock(return_value=[]),
        get_next_run_time=MagicMock(return_value=None),
    )
    scheduler._jobstores["default"] = store

    assert scheduler._process_jobs() is None
    assert [call[0] for call in store.method_calls] == ["get_due_jobs", "get_next_run_time"]


class FlagOnlyStore(MemoryJobStore):
    """A store of the first 3.12 drafts, which said it was shared with a class flag."""

    shared = True


class MinimalSharedStore(MemoryJobStore, SharedJobStore):
    """The interface, with nothing behind it: only its class matters here."""

    def acquire_due_jobs(self, now, owner):
        raise NotImplementedError

    def start_claimed_runs(self, owner, starts):
        raise NotImplementedError

    def release_claimed_job(self, job_id, owner):
        raise NotImplementedError

    def renew_runs(self, owner):
        raise NotImplementedError

    def finish_runs(self, owner, run_ids):
        raise NotImplementedError

    def take_abandoned_runs(self):
        raise NotImplementedError


@pytest.mark.parametrize(
    "store_class, shared",
    [(MemoryJobStore, False), (FlagOnlyStore, False), (MinimalSharedStore, True)],
    ids=["memory", "a-flag-is-not-enough", "implements-SharedJobStore"],
)
def test_a_store_is_shared_when_its_class_implements_the_interface(store_class, shared):
    assert is_shared_store(store_class()) is shared


@pytest.mark.parametrize("paused", [True, False], ids=["paused", "running"])
def test_paused_scheduler_does_not_touch_its_stores(scheduler, events, paused):
    scheduler.add_job(targets.record, id="due-now")
    scheduler.start(paused=paused)

    scheduler._process_jobs()

    ran = bool(of_code(events, EVENT_JOB_EXECUTED))
    assert ran is not paused
