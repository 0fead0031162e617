"""What a user sees of the runs of jobs through ``get_job_runs()``, on a fake clock."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.executors.pool import ProcessPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.runs import RetentionPolicy
from tests.jobstores.reference_store import ReferenceJobStore, ReferenceStorage
from tests.jobstores.support import RecordingScheduler, start_for, wait_until
from tests.schedulers import targets
from tests.schedulers.conftest import LaterExecutor

UTC = dt_timezone.utc
#: the fake clock's start (see tests/conftest.py)
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOON + timedelta(seconds=seconds)


def states(runs):
    return [(run.scheduled_run_time, run.state) for run in runs]


@pytest.fixture
def started(make_scheduler):
    def factory(**options):
        scheduler = make_scheduler(**options)
        scheduler.start()
        return scheduler

    return factory


def test_a_run_that_succeeded_has_its_times_and_process(started, fake_clock):
    import os
    import socket

    scheduler = started()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    [run] = scheduler.get_job_runs("tick")

    assert run.state == "succeeded"
    assert (run.job_id, run.jobstore, run.scheduled_run_time) == ("tick", "default", at(10))
    assert run.submitted_at == run.started_at == run.finished_at == at(10)
    assert (run.host, run.pid) == (socket.gethostname(), os.getpid())
    assert (run.reason, run.exception_type, run.exception) == (None, None, None)
    assert len(run.run_id) == 32


def test_a_run_that_failed_has_the_exception(started, fake_clock):
    scheduler = started()
    scheduler.add_job(targets.fail, "interval", seconds=10, id="broken")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    [run] = scheduler.get_job_runs("broken")

    assert run.state == "failed"
    assert run.exception_type == "RuntimeError"
    assert run.exception == "the job failed on purpose"
    assert 'raise RuntimeError("the job failed on purpose")' in run.traceback


def test_a_run_in_progress_is_running_until_it_ends(started, fake_clock):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor})
    job = scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    [running] = job.get_runs()
    assert (running.state, running.submitted_at, running.started_at) == ("running", at(10), None)

    fake_clock.advance(seconds=0.5)
    executor.run_waiting()

    [ended] = job.get_runs()
    assert (ended.run_id, ended.state) == (running.run_id, "succeeded")
    assert (ended.started_at, ended.finished_at) == (at(10.5), at(10.5))


def test_the_history_writer_is_woken_once_the_executor_has_the_run(started, fake_clock):
    """
    The job's thread, which the executor wakes, must come first: a writer thread woken before
    it would take the interpreter at the moment the job starts.
    """
    order = []

    class NotingExecutor(LaterExecutor):
        def _do_submit_job(self, job, run_times):
            order.append("submitted")
            super()._do_submit_job(job, run_times)

    executor = NotingExecutor()
    scheduler = started(executors={"default": executor})
    recorder = scheduler._run_recorder
    job = scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()  # the first report starts the writer thread
    executor.run_waiting()
    assert wait_until(lambda: recorder._writer_idle and not recorder._inbox)
    notify = recorder._condition.notify

    def noting_notify(n=1):
        order.append("writer woken")
        notify(n)

    recorder._condition.notify = noting_notify
    del order[:]
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    assert order == ["submitted", "writer woken"]
    executor.run_waiting()
    scheduler._run_recorder.flush()
    assert [run.state for run in job.get_runs()] == ["succeeded", "succeeded"]


def test_a_run_started_too_late_is_missed_with_the_reason(started, fake_clock):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=1)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(seconds=12.4)
    executor.run_waiting()

    [run] = scheduler.get_job_runs("tick", state="missed")

    assert run.reason == ("started 12.4 s after its scheduled time, beyond misfire_grace_time=1")
    assert (run.started_at, run.finished_at) == (None, at(22.4))


def test_the_missed_event_carries_the_reason(started, fake_clock, events):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=1)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(seconds=3)
    executor.run_waiting()

    [missed] = [event for event in events if getattr(event, "reason", None)]
    assert missed.reason.startswith("started 3.0 s after its scheduled time")


def test_a_run_beyond_max_instances_is_skipped(started, fake_clock):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", max_instances=1)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    runs = scheduler.get_job_runs("tick")

    assert states(runs) == [(at(20), "skipped"), (at(10), "running")]
    assert runs[0].reason == "max_instances=1 reached"
    assert runs[0].submitted_at is None


def test_coalesced_run_times_are_skipped_into_the_last_one(started, fake_clock):
    scheduler = started()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", coalesce=True)
    fake_clock.advance(seconds=30)
    scheduler._process_jobs()

    runs = scheduler.get_job_runs("tick")

    assert states(runs) == [(at(30), "succeeded"), (at(20), "skipped"), (at(10), "skipped")]
    assert {run.reason for run in runs[1:]} == {
        "coalesced into the run at 2026-03-01 12:00:30 UTC"
    }


def test_a_run_left_by_a_dead_process_of_a_shared_store_is_lost(make_scheduler, fake_clock):
    storage = ReferenceStorage(clock=lambda: fake_clock.now(UTC).timestamp())
    other_process = ReferenceJobStore(storage, lease_time=5.0, poll_interval=1.0)
    other_process.start(RecordingScheduler(), "default")
    scheduler = make_scheduler(
        jobstores={"default": ReferenceJobStore(storage, lease_time=5.0, poll_interval=1.0)}
    )
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    owner = "worker-7:4242:0123456789ab"
    [job] = other_process.acquire_due_jobs(fake_clock.now(UTC), owner).jobs
    other_process.start_claimed_runs(owner, [start_for(job, [job.next_run_time], at(30), "r1")])
    fake_clock.advance(seconds=6)  # past the run's lease

    scheduler._process_jobs()

    [run] = scheduler.get_job_runs("tick", state="lost")
    assert run.scheduled_run_time == at(10)
    assert run.reason == "its process (worker-7:4242) stopped and its lease ran out"
    assert (run.host, run.pid, run.finished_at) == ("worker-7", 4242, at(16))


def test_runs_come_newest_first_and_filter_by_state_since_and_limit(started, fake_clock):
    scheduler = started()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    scheduler.add_job(targets.fail, "interval", seconds=10, id="broken")
    for _ in range(4):
        fake_clock.advance(seconds=10)
        scheduler._process_jobs()

    everything = scheduler.get_job_runs()
    assert [run.scheduled_run_time for run in everything] == [
        at(40),
        at(40),
        at(30),
        at(30),
        at(20),
        at(20),
        at(10),
        at(10),
    ]
    assert states(scheduler.get_job_runs("tick", limit=2)) == [
        (at(40), "succeeded"),
        (at(30), "succeeded"),
    ]
    assert {run.job_id for run in scheduler.get_job_runs(state="failed")} == {"broken"}
    assert len(scheduler.get_job_runs(state={"failed", "succeeded"})) == 8
    assert states(scheduler.get_job_runs("tick", since=at(30))) == [
        (at(40), "succeeded"),
        (at(30), "succeeded"),
    ]
    assert scheduler.get_job_runs("tick", jobstore="other") == []


def test_an_unknown_state_is_refused(scheduler):
    with pytest.raises(ValueError, match="state must be one of .* got 'done'"):
        scheduler.get_job_runs(state="done")


def test_retention_keeps_the_newest_runs_of_each_job(started, fake_clock):
    """The recorder prunes every minute; the test asks for it at once."""
    scheduler = started(run_history=3)
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    for _ in range(5):
        fake_clock.advance(seconds=10)
        scheduler._process_jobs()
    scheduler._run_recorder.flush()
    scheduler._run_recorder.prune()

    assert [run.scheduled_run_time for run in scheduler.get_job_runs("tick")] == [
        at(50),
        at(40),
        at(30),
    ]


def test_retention_drops_runs_that_ended_too_long_ago(started, fake_clock):
    scheduler = started(run_history={"max_runs": 100, "max_age": 60})
    scheduler.add_job(targets.record, "interval", seconds=50, id="tick")
    for _ in range(3):
        fake_clock.advance(seconds=50)
        scheduler._process_jobs()
    scheduler._run_recorder.flush()
    scheduler._run_recorder.prune()

    assert [run.scheduled_run_time for run in scheduler.get_job_runs("tick")] == [at(150), at(100)]


def test_retention_never_drops_a_run_in_progress(started, fake_clock):
    executor = LaterExecutor()
    scheduler = started(executors={"default": executor}, run_history={"max_age": 1})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", max_instances=5)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(hours=1)
    scheduler._run_recorder.flush()
    scheduler._run_recorder.prune()

    assert states(scheduler.get_job_runs("tick", state="running")) == [(at(10), "running")]


def test_no_history_is_kept_with_run_history_0(started, fake_clock):
    scheduler = started(run_history=0)
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    assert scheduler.get_job_runs() == []
    assert scheduler._run_recorder._thread is None


def test_run_history_is_read_from_the_prefixed_configuration(make_scheduler):
    scheduler = make_scheduler(
        gconfig={
            "apscheduler.run_history.max_runs": "5",
            "apscheduler.run_history.max_age": "3600",
        }
    )

    assert scheduler._run_recorder.policy == RetentionPolicy(5, timedelta(hours=1))


def test_the_memory_store_keeps_the_history_and_gets_it_before_shutdown(started, fake_clock):
    store = MemoryJobStore()
    scheduler = started(jobstores={"default": store})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    scheduler.shutdown()

    assert states(store.get_job_runs("tick")) == [(at(10), "succeeded")]


def test_a_store_without_history_gets_one_in_memory(started, fake_clock):
    storage = ReferenceStorage(clock=lambda: fake_clock.now(UTC).timestamp())
    scheduler = started(jobstores={"default": ReferenceJobStore(storage)})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    assert states(scheduler.get_job_runs("tick")) == [(at(10), "succeeded")]


class FlakyStore(MemoryJobStore):
    """A store whose history write fails the first ``failures`` times (a short outage)."""

    def __init__(self, failures):
        super().__init__()
        self.failures = failures

    def record_runs(self, runs):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("history unreachable")
        super().record_runs(runs)


def test_records_that_fail_to_be_written_are_written_later(started, fake_clock, caplog):
    store = FlakyStore(failures=2)
    scheduler = started(jobstores={"default": store})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    with caplog.at_level(logging.WARNING, "apscheduler.scheduler"):
        scheduler._process_jobs()
        scheduler._run_recorder.flush()
        scheduler._run_recorder.flush()

        assert states(scheduler.get_job_runs("tick")) == [(at(10), "succeeded")]

    assert caplog.text.count("Could not record 1 job runs") == 1


def test_a_process_pool_run_records_when_it_started(started, fake_clock):
    pool = ProcessPoolExecutor(max_workers=1)
    scheduler = started(executors={"default": pool})
    # the worker judges lateness by the system clock, not the test's
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=None)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    assert wait_until(lambda: scheduler.get_job_runs("tick", state="succeeded"), timeout=30)
    [run] = scheduler.get_job_runs("tick")
    # the worker process has no scheduler: it stamps by the system clock
    assert run.started_at is not None and run.started_at.tzinfo is not None
    assert run.finished_at >= run.started_at
