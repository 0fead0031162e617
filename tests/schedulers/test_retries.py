"""Retries of failed runs: when they are made, on which stores they are kept, and what is recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from tests.jobstores.reference_store import ReferenceJobStore, ReferenceStorage
from tests.schedulers import targets

UTC = dt_timezone.utc
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOON + timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def _fresh_targets():
    targets.failures.clear()
    targets.calls.clear()
    yield
    targets.failures.clear()


@pytest.fixture
def started(make_scheduler):
    def factory(**options):
        scheduler = make_scheduler(**options)
        scheduler.start()
        return scheduler

    return factory


def step(scheduler, fake_clock, seconds):
    fake_clock.advance(seconds=seconds)
    scheduler._process_jobs()


def attempts(scheduler, job_id):
    runs = sorted(scheduler.get_job_runs(job_id), key=lambda run: run.scheduled_run_time)
    return [(run.scheduled_run_time, run.attempt, run.state) for run in runs]


def test_a_failed_run_is_retried_with_backoff_until_no_retries_are_left(started, fake_clock):
    scheduler = started()
    scheduler.add_job(
        targets.fail_first,
        "date",
        run_date=at(1),
        args=["job", 10],
        id="job",
        max_retries=2,
        retry_delay=5,
    )

    step(scheduler, fake_clock, 1)  # attempt 1 fails at 12:00:01; retry 1 at +5 s
    assert scheduler._process_jobs() == pytest.approx(5)
    step(scheduler, fake_clock, 5)  # attempt 2 fails; retry 2 at +10 s (backoff 2)
    step(scheduler, fake_clock, 9)
    assert targets.failures["job"] == 2, "not before its time"
    step(scheduler, fake_clock, 1)  # attempt 3 fails: no retries left
    step(scheduler, fake_clock, 100)

    assert attempts(scheduler, "job") == [
        (at(1), 1, "failed"),
        (at(6), 2, "failed"),
        (at(16), 3, "failed"),
    ]
    runs = {run.attempt: run for run in scheduler.get_job_runs("job")}
    assert runs[1].reason == "retry 1 of 2 at 2026-03-01 12:00:06 UTC"
    assert runs[2].reason == "retry 2 of 2 at 2026-03-01 12:00:16 UTC"
    assert runs[3].reason == "attempt 3; no retries left (max_retries=2)"


def test_a_retry_that_succeeds_ends_the_retries(started, fake_clock, events):
    scheduler = started()
    scheduler.add_job(
        targets.fail_first, "date", run_date=at(1), args=["job", 1], id="job",
        max_retries=3, retry_delay=5,
    )  # fmt: skip

    step(scheduler, fake_clock, 1)
    step(scheduler, fake_clock, 5)
    step(scheduler, fake_clock, 60)

    assert attempts(scheduler, "job") == [(at(1), 1, "failed"), (at(6), 2, "succeeded")]
    outcomes = [e.code for e in events if e.code in (EVENT_JOB_ERROR, EVENT_JOB_EXECUTED)]
    assert outcomes == [EVENT_JOB_ERROR, EVENT_JOB_EXECUTED]


def test_a_retry_is_not_made_when_the_next_regular_run_comes_first(started, fake_clock):
    scheduler = started()
    scheduler.add_job(
        targets.fail_first, "interval", seconds=10, args=["job", 1], id="job",
        max_retries=3, retry_delay=15,
    )  # fmt: skip

    step(scheduler, fake_clock, 10)  # fails; a retry at +15 s would come after the run at 20 s
    step(scheduler, fake_clock, 10)

    assert attempts(scheduler, "job") == [(at(10), 1, "failed"), (at(20), 1, "succeeded")]
    failed = scheduler.get_job_runs("job", state="failed")[0]
    assert (
        failed.reason == "not retried: its next regular run at 2026-03-01 12:00:20 UTC comes first"
    )


def test_a_retry_comes_between_regular_runs_and_leaves_the_schedule_alone(started, fake_clock):
    scheduler = started()
    job = scheduler.add_job(
        targets.fail_first, "interval", seconds=60, args=["job", 1], id="job",
        max_retries=1, retry_delay=5,
    )  # fmt: skip

    step(scheduler, fake_clock, 60)
    step(scheduler, fake_clock, 5)

    assert attempts(scheduler, "job") == [(at(60), 1, "failed"), (at(65), 2, "succeeded")]
    assert scheduler.get_job("job").next_run_time == job.next_run_time == at(120)


def test_only_the_exceptions_of_retry_on_are_retried(started, fake_clock):
    scheduler = started()
    scheduler.add_job(
        targets.raise_key_error, "date", run_date=at(1), id="job",
        max_retries=3, retry_delay=1, retry_on=[ValueError],
    )  # fmt: skip
    scheduler.add_job(
        targets.raise_key_error, "date", run_date=at(1), id="lookup",
        max_retries=1, retry_delay=1, retry_on="builtins:LookupError",
    )  # fmt: skip

    step(scheduler, fake_clock, 1)
    step(scheduler, fake_clock, 1)

    assert [run.attempt for run in scheduler.get_job_runs("job")] == [1]
    assert sorted(run.attempt for run in scheduler.get_job_runs("lookup")) == [1, 2]


def test_jitter_adds_up_to_its_seconds(started, fake_clock, monkeypatch):
    monkeypatch.setattr("random.uniform", lambda a, b: b)
    scheduler = started()
    scheduler.add_job(
        targets.fail_first, "date", run_date=at(1), args=["job", 1], id="job",
        max_retries=1, retry_delay=5, retry_jitter=2,
    )  # fmt: skip

    step(scheduler, fake_clock, 1)

    [pending] = scheduler.get_job_runs("job", state="pending")
    assert (pending.scheduled_run_time, pending.attempt) == (at(8), 2)


def test_job_defaults_give_every_job_retries(started, fake_clock):
    scheduler = started(job_defaults={"max_retries": "1", "retry_delay": "5"})
    scheduler.add_job(targets.fail_first, "date", run_date=at(1), args=["job", 5], id="job")

    step(scheduler, fake_clock, 1)
    step(scheduler, fake_clock, 5)

    assert [run.attempt for run in scheduler.get_job_runs("job")] == [2, 1]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_retries": -1}, "max_retries must be a non-negative integer"),
        ({"retry_delay": -1}, "retry_delay must be zero or more"),
        ({"retry_backoff": 0.5}, "retry_backoff must be at least 1"),
        ({"retry_on": [int]}, "retry_on must hold exception classes"),
        ({"overlap": "wait"}, "overlap must be one of 'skip', 'queue', 'cancel'"),
    ],
)
def test_bad_retry_options_are_refused(make_scheduler, options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make_scheduler().add_job(targets.record, "interval", seconds=1, **options)


# --- a store several schedulers share ------------------------------------------------------------


def test_on_a_shared_store_the_retry_waits_with_the_job_and_one_scheduler_makes_it(
    make_scheduler, fake_clock
):
    storage = ReferenceStorage()

    def on_shared():
        scheduler = make_scheduler(
            jobstores={"default": ReferenceJobStore(storage, poll_interval=None)}
        )
        scheduler.start()
        return scheduler

    first, second = on_shared(), on_shared()
    first.add_job(
        "tests.schedulers.targets:fail_first", "interval", hours=1, args=["job", 1], id="job",
        max_retries=1, retry_delay=5,
    )  # fmt: skip
    fake_clock.advance(hours=1)
    first._process_jobs()  # fails: its retry is a request kept with the job
    [request] = storage.requests["job"]
    assert (request.requested_at, request.attempt) == (at(3605), 2)

    first.shutdown()  # the process that failed goes away
    fake_clock.advance(seconds=5)
    second._process_jobs()

    assert targets.failures["job"] == 2, "the retry ran, once"
    [made] = second.get_job_runs("job")
    assert (made.run_id, made.attempt, made.state) == (request.run_id, 2, "succeeded")
    assert second.get_job("job").next_run_time == at(7200)


def test_a_retry_waiting_in_a_sqlite_store_survives_a_restart(make_scheduler, tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from tests.conftest import FakeClock

    pytest.importorskip("sqlalchemy")
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    # near the real time: the store's leases run on the database's clock
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    start = clock.now(UTC)
    first = make_scheduler(jobstores={"default": SQLAlchemyJobStore(url=url)}, clock=clock)
    first.start()
    first.add_job(
        "tests.schedulers.targets:fail_first", "interval", days=1, start_date=start,
        args=["job", 1], id="job", max_retries=1, retry_delay=30,
    )  # fmt: skip
    first._process_jobs()  # the run at the start fails: its retry waits in the store
    first.shutdown()

    clock.advance(seconds=30)
    second = make_scheduler(jobstores={"default": SQLAlchemyJobStore(url=url)}, clock=clock)
    second.start()
    second._process_jobs()

    assert targets.failures["job"] == 2, "the retry ran after the restart"
    runs = sorted(second.get_job_runs("job"), key=lambda run: run.attempt)
    assert [(run.attempt, run.state) for run in runs] == [(1, "failed"), (2, "succeeded")]
    assert runs[1].scheduled_run_time == start + timedelta(seconds=30)
    assert second.get_job("job").next_run_time == start + timedelta(days=1)
