"""
A scheduler running cron jobs through a fall-back night, on a fake clock: after a run in the
second pass of the repeated hour, the next run time is computed from that instant, also when
the job has been through a persistent store.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import BaseScheduler
from tests.conftest import FakeClock

NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


def job() -> None:
    """Stands for the user's job; the test records the executed events instead."""


class SteppedScheduler(BaseScheduler):
    """No loop of its own: the test runs the processing passes."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        pass


def make_store(kind: str, tmp_path):
    if kind == "memory":
        return MemoryJobStore()

    pytest.importorskip("sqlalchemy")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    # no other process shares the file: the scheduler need not look for their changes
    return SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}", poll_interval=3600)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize(
    "fields, expected",
    [
        pytest.param(
            {"minute": "*/30"},
            [
                "01:00 -0400",
                "01:30 -0400",
                "01:00 -0500",
                "01:30 -0500",
                "02:00 -0500",
                "02:30 -0500",
            ],
            id="wildcard-hour",
        ),
        pytest.param(
            {"hour": "1-2", "minute": "*/30"},
            ["01:00 -0400", "01:30 -0400", "02:00 -0500", "02:30 -0500"],
            id="fixed-hours",
        ),
    ],
)
def test_runs_through_the_repeated_hour(store, fields, expected, tmp_path):
    clock = FakeClock(datetime(2024, 11, 3, 0, 50, tzinfo=NEW_YORK))
    scheduler = SteppedScheduler(
        timezone=NEW_YORK,
        clock=clock,
        executors={"default": DebugExecutor()},
        jobstores={"default": make_store(store, tmp_path)},
    )
    executed = []
    scheduler.add_listener(executed.append, EVENT_JOB_EXECUTED)
    scheduler.add_job(job, "cron", id="job", timezone=NEW_YORK, **fields)
    scheduler.start()
    try:
        end = datetime(2024, 11, 3, 2, 45, tzinfo=NEW_YORK)
        while clock.now(UTC) < end:
            wait = scheduler._process_jobs()
            assert wait is not None and wait > 0
            clock.advance(seconds=min(wait, 3600))
    finally:
        scheduler.shutdown()

    run_times = [event.scheduled_run_time for event in executed]
    assert [run_time.strftime("%H:%M %z") for run_time in run_times] == expected
    assert all(run_time.tzinfo is NEW_YORK for run_time in run_times)
    # each once, in the order they happened
    instants = [run_time.astimezone(UTC) for run_time in run_times]
    assert instants == sorted(set(instants))
    if "hour" not in fields:
        assert {later - earlier for earlier, later in pairwise(instants)} == {
            timedelta(minutes=30)
        }
