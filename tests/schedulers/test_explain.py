"""``explain()``: a job's state and schedule, and why it ran or did not run at a given time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.jobstores.base import JobLookupError
from tests.jobstores.reference_store import ReferenceJobStore, ReferenceStorage
from tests.schedulers import targets
from tests.schedulers.conftest import LaterExecutor

UTC = dt_timezone.utc
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return NOON + timedelta(hours=hours)


@pytest.fixture(autouse=True)
def _no_calls():
    targets.calls.clear()
    yield
    targets.calls.clear()


@pytest.fixture
def storage():
    return ReferenceStorage()


@pytest.fixture
def scheduler(make_scheduler, storage):
    """A started scheduler on a store that outlives it (as a database does)."""
    scheduler = make_scheduler(
        jobstores={"default": ReferenceJobStore(storage, poll_interval=None)}
    )
    scheduler.start()
    return scheduler


def hourly(scheduler, **options):
    return scheduler.add_job(targets.record, "interval", hours=1, id="tick", **options)


def process_until(scheduler, fake_clock, moment):
    """Let time pass up to ``moment``, processing jobs as the scheduler's loop would."""
    while fake_clock.now(UTC) < moment:
        step = min(timedelta(minutes=30), moment - fake_clock.now(UTC))
        fake_clock.advance(seconds=step.total_seconds())
        scheduler._process_jobs()


def test_a_scheduled_job_is_explained_with_its_next_runs_and_last_runs(scheduler, fake_clock):
    hourly(scheduler)
    process_until(scheduler, fake_clock, at(1.5))

    explanation = scheduler.explain("tick")

    assert (explanation.state, explanation.jobstore) == ("scheduled", "default")
    assert explanation.trigger and "hour" in explanation.trigger
    assert explanation.next_run_times == tuple(at(hours) for hours in range(2, 7))
    assert [(run.scheduled_run_time, run.state) for run in explanation.last_runs] == [
        (at(1), "succeeded")
    ]
    text = str(explanation)
    assert text.startswith("Job \"record\" (id tick) in job store 'default': scheduled")
    assert "next runs: 2026-03-01 14:00:00 UTC" in text
    assert "2026-03-01 13:00:00 UTC: succeeded" in text


def test_a_moment_the_job_ran(scheduler, fake_clock):
    hourly(scheduler)
    process_until(scheduler, fake_clock, at(1.5))

    moment = scheduler.explain("tick", at=at(1)).moment

    assert moment.verdict == "ran"
    assert moment.fire_time == at(1)
    assert "it ran" in moment.summary and "succeeded" in moment.summary
    assert [run.state for run in moment.runs] == ["succeeded"]


def test_a_moment_with_no_fire_time(scheduler, fake_clock):
    hourly(scheduler)
    process_until(scheduler, fake_clock, at(2))

    moment = scheduler.explain("tick", at=at(1.5)).moment

    assert moment.verdict == "no_fire_time"
    assert "the next one after it is 2026-03-01 14:00:00 UTC" in moment.summary


def test_a_moment_still_to_come(scheduler):
    hourly(scheduler)

    assert scheduler.explain("tick", at=at(3)).moment.verdict == "not_yet"


def test_a_run_skipped_by_max_instances(make_scheduler, storage, fake_clock):
    executor = LaterExecutor()
    scheduler = make_scheduler(
        jobstores={"default": ReferenceJobStore(storage, poll_interval=None)},
        executors={"default": executor},
    )
    scheduler.start()
    hourly(scheduler)
    process_until(scheduler, fake_clock, at(2))  # the run at 13:00 is still going on

    moment = scheduler.explain("tick", at=at(2)).moment

    assert moment.verdict == "not_run"
    assert moment.summary == "it was skipped: max_instances=1 reached"


def test_a_coalesced_run(scheduler, fake_clock):
    hourly(scheduler, coalesce=True, misfire_grace_time=None)
    fake_clock.advance(hours=3)
    scheduler._process_jobs()

    moment = scheduler.explain("tick", at=at(1)).moment

    assert moment.verdict == "not_run"
    assert moment.summary == "it was skipped: coalesced into the run at 2026-03-01 15:00:00 UTC"


def test_a_missed_run(scheduler, fake_clock):
    hourly(scheduler)
    fake_clock.advance(hours=1, seconds=30)
    scheduler._process_jobs()

    moment = scheduler.explain("tick", at=at(1)).moment

    assert moment.verdict == "not_run"
    assert moment.summary.startswith("it was missed: ")
    assert "misfire_grace_time=1" in moment.summary


def test_a_paused_job(scheduler, fake_clock):
    hourly(scheduler)
    fake_clock.advance(minutes=30)
    scheduler.pause_job("tick")
    process_until(scheduler, fake_clock, at(2.5))

    explanation = scheduler.explain("tick", at=at(1))

    assert explanation.state == "paused"
    assert explanation.moment.verdict == "job_paused"
    assert "the job was paused (since 2026-03-01 12:30:00 UTC" in explanation.moment.summary
    assert "would next run at" in str(explanation)


def test_a_paused_scheduler(scheduler, fake_clock):
    hourly(scheduler)
    fake_clock.advance(minutes=30)
    scheduler.pause()
    process_until(scheduler, fake_clock, at(2.5))

    moment = scheduler.explain("tick", at=at(1)).moment

    assert moment.verdict == "scheduler_paused"
    assert "since 2026-03-01 12:30:00 UTC" in moment.summary


def test_a_stopped_scheduler(scheduler, fake_clock):
    hourly(scheduler)
    fake_clock.advance(minutes=10)
    scheduler.shutdown()
    fake_clock.advance(hours=3)

    moment = scheduler.explain("tick", at=at(1)).moment

    assert moment.verdict == "no_scheduler_running"
    assert "stopped at 2026-03-01 12:10:00 UTC" in moment.summary


class UnreachableStore(ReferenceJobStore):
    """A store whose server is down while ``down`` is set."""

    down = False

    def acquire_due_jobs(self, now, owner):
        if self.down:
            raise ConnectionError("connection refused")
        return super().acquire_due_jobs(now, owner)


def test_an_unreachable_store(make_scheduler, storage, fake_clock):
    store = UnreachableStore(storage, poll_interval=None)
    scheduler = make_scheduler(jobstores={"default": store})
    scheduler.start()
    hourly(scheduler)
    fake_clock.advance(minutes=30)
    store.down = True
    process_until(scheduler, fake_clock, at(1.5))

    moment = scheduler.explain("tick", at=at(1)).moment

    assert moment.verdict == "store_unreachable"
    assert "ConnectionError: connection refused" in moment.summary
    store.down = False
    process_until(scheduler, fake_clock, at(3))
    assert scheduler.explain("tick", at=at(3)).moment.verdict == "ran", "reachable again"


def test_an_unloadable_job(scheduler, storage, fake_clock):
    hourly(scheduler)
    storage.jobs["tick"]["func"] = "tests.schedulers.no_such_module:record"
    process_until(scheduler, fake_clock, at(1.5))

    explanation = scheduler.explain("tick", at=at(1))

    assert explanation.state == "unloadable"
    assert "no_such_module" in explanation.state_reason
    assert explanation.moment.verdict == "job_unloadable"


def test_an_unknown_job(scheduler):
    with pytest.raises(JobLookupError):
        scheduler.explain("nothing")


def test_the_twin_on_the_job(scheduler, fake_clock):
    job = hourly(scheduler)
    process_until(scheduler, fake_clock, at(1.5))

    assert job.explain(at=at(1)).moment.verdict == "ran"
