"""A scheduler on a persistent store: broken jobs cost no busy loop, unstorable jobs are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apscheduler.events import EVENT_ALL, EVENT_JOB_EXECUTED, EVENT_JOB_UNLOADABLE
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.base import TransientJobError
from apscheduler.jobstores.shared import SharedJobStore, is_shared_store
from tests.conftest import FakeClock

from . import support
from .support import T0, SteppedScheduler


@pytest.fixture
def stepped(store_factory, monkeypatch):
    """A started scheduler on a fresh persistent store, a fake clock and recorded events."""
    monkeypatch.setattr(support, "RUNS", [])
    clock = FakeClock(T0)
    events = []
    options = {"recheck_interval": 60}
    if issubclass(store_factory.store_class, SharedJobStore):
        # no other process shares the store here: the scheduler sleeps as long as its jobs allow
        options["poll_interval"] = 3600
    scheduler = SteppedScheduler(
        timezone="UTC",
        clock=clock,
        executors={"default": DebugExecutor()},
        jobstores={"default": store_factory(start=False, **options)},
    )
    # the unloadable event is outside EVENT_ALL, which keeps its 3.x meaning
    scheduler.add_listener(events.append, EVENT_ALL | EVENT_JOB_UNLOADABLE)
    scheduler.start()
    yield scheduler, clock, events
    scheduler.shutdown()


def test_a_broken_job_neither_stops_the_others_nor_makes_the_scheduler_spin(stepped, monkeypatch):
    scheduler, clock, events = stepped
    options = {"trigger": "interval", "misfire_grace_time": None}
    scheduler.add_job(support.doomed, id="broken", seconds=30, **options)
    scheduler.add_job(support.record_run, id="healthy", seconds=30, args=["healthy"], **options)
    monkeypatch.delattr(support, "doomed")

    clock.advance(seconds=30)
    first_wait = scheduler._process_jobs()
    clock.advance(seconds=first_wait)
    second_wait = scheduler._process_jobs()

    assert support.RUNS == ["healthy", "healthy"]
    assert (first_wait, second_wait) == (30, 30), "the broken job's overdue time is not chased"
    unloadable = [event for event in events if event.code == EVENT_JOB_UNLOADABLE]
    assert [(event.job_id, event.jobstore) for event in unloadable] == [("broken", "default")]
    assert [job.id for job in scheduler.get_jobs()] == ["healthy"]


def test_a_store_with_only_a_broken_job_wakes_up_at_the_recheck_interval(stepped, monkeypatch):
    scheduler, clock, events = stepped
    scheduler.add_job(support.doomed, "interval", seconds=30, id="broken", misfire_grace_time=None)
    monkeypatch.delattr(support, "doomed")

    clock.advance(seconds=30)

    assert scheduler._process_jobs() == 60
    clock.advance(seconds=60)
    assert scheduler._process_jobs() == 60


def test_a_fixed_job_runs_again_after_the_recheck_interval(stepped, monkeypatch):
    scheduler, clock, events = stepped
    scheduler.add_job(
        support.doomed, "interval", seconds=30, id="job", misfire_grace_time=None, coalesce=True
    )
    doomed = support.doomed
    monkeypatch.delattr(support, "doomed")
    clock.advance(seconds=30)
    scheduler._process_jobs()

    support.doomed = doomed  # the next deploy brings the function back
    clock.advance(seconds=60)
    scheduler._process_jobs()

    executed = [event.scheduled_run_time for event in events if event.code == EVENT_JOB_EXECUTED]
    assert executed == [T0 + timedelta(seconds=90)], "one late run, coalesced"
    assert scheduler.get_job("job").next_run_time == T0 + timedelta(seconds=120)


def test_a_broken_job_can_be_removed_through_the_scheduler(stepped, monkeypatch):
    scheduler, clock, events = stepped
    scheduler.add_job(support.doomed, "interval", seconds=30, id="broken")
    monkeypatch.delattr(support, "doomed")
    clock.advance(seconds=30)
    scheduler._process_jobs()

    scheduler.remove_job("broken")

    store = scheduler._lookup_jobstore("default")
    assert store.get_unloadable_jobs() == []
    # with no job left, a store other processes may share is still looked at now and then
    assert scheduler._process_jobs() == (store.poll_interval if is_shared_store(store) else None)


def test_a_lambda_is_refused_by_a_persistent_store_when_added(stepped):
    scheduler, clock, events = stepped

    with pytest.raises(TransientJobError, match="module:function"):
        scheduler.add_job(lambda: None, "interval", seconds=5, id="anonymous")

    assert scheduler.get_jobs() == []
