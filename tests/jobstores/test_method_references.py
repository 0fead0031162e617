"""
Jobs whose callable is a method, scheduled by text reference or as a bound method, run the
same after a trip through any store.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.debug import DebugExecutor
from tests.conftest import FakeClock

from .support import T0, SteppedScheduler


class Adder:
    """A class whose module-level instance has a method that jobs refer to by text."""

    def __init__(self) -> None:
        self.sums: list[int] = []

    def add(self, a: int, b: int) -> int:
        self.sums.append(a + b)
        return a + b


adder = Adder()


@pytest.fixture
def run_hourly(any_store_factory, monkeypatch):
    """Add an hourly job to a scheduler on each kind of store, run it twice, return events."""
    monkeypatch.setattr(adder, "sums", [])
    clock = FakeClock(T0)
    scheduler = SteppedScheduler(
        timezone="UTC",
        clock=clock,
        executors={"default": DebugExecutor()},
        jobstores={"default": any_store_factory(start=False)},
    )
    events = []
    scheduler.add_listener(events.append, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()

    def run(func, **options):
        scheduler.add_job(func, "interval", hours=1, id="job", **options)
        for _ in range(2):
            clock.advance(hours=1)
            scheduler._process_jobs()
        return scheduler, events

    yield run
    scheduler.shutdown()


def test_a_text_reference_to_a_module_level_instances_method_runs_on_that_instance(run_hourly):
    scheduler, events = run_hourly(f"{__name__}:adder.add", kwargs={"a": 1, "b": 2})

    assert [(event.code, event.retval) for event in events] == [(EVENT_JOB_EXECUTED, 3)] * 2
    assert adder.sums == [3, 3]
    job = scheduler.get_job("job")
    assert (job.func, job.func_ref, job.args) == (adder.add, f"{__name__}:adder.add", ())
    assert job.next_run_time == T0 + timedelta(hours=3)


def test_a_bound_method_keeps_its_own_copy_of_the_instance_in_a_persistent_store(
    run_hourly, any_store_factory
):
    """As in APScheduler 3: the instance is stored with the job, so runs work on that copy."""
    scheduler, events = run_hourly(adder.add, args=[1], kwargs={"b": 2})

    assert [(event.code, event.retval) for event in events] == [(EVENT_JOB_EXECUTED, 3)] * 2
    job = scheduler.get_job("job")
    assert job.func_ref == f"{__name__}:Adder.add"
    if any_store_factory.kind == "reference":
        # it keeps job states unpickled: the same instance, stored as the job's first argument
        assert adder.sums == [3, 3]
        assert job.func is Adder.add
        assert job.args[0] is adder
    elif any_store_factory.kind == "memory":
        assert adder.sums == [3, 3]
        assert job.func == adder.add
    else:
        assert adder.sums == [], "each run worked on the stored copy of the instance"
        assert job.func is Adder.add
        assert isinstance(job.args[0], Adder)
        assert list(job.args[1:]) == [1]
