"""Runs that go on for far longer than their job's usual duration are reported, once."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import _stuck_runs
from apscheduler.schedulers.background import BackgroundScheduler

UTC = timezone.utc
gate = threading.Event()
runs_made: list[float] = []


def quick_then_stuck():
    """Takes 10 ms for its first three runs, then waits on the gate (a run that is stuck)."""
    runs_made.append(time.monotonic())
    if len(runs_made) <= 3:
        time.sleep(0.01)
    else:
        gate.wait(30)


@pytest.fixture(autouse=True)
def _small_limits(monkeypatch):
    monkeypatch.setattr(_stuck_runs, "MIN_STUCK_SECONDS", 0.05)
    runs_made.clear()
    gate.clear()
    yield
    gate.set()


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def run_once_more(job):
    """Make the job run now, and wait until it has started (and, for a quick run, ended)."""
    made = len(runs_made)
    job.modify(next_run_time=datetime.now(UTC))
    wait_for(lambda: len(runs_made) > made)
    if len(runs_made) <= 3:
        time.sleep(0.3)


def test_a_run_far_longer_than_usual_is_reported_once_and_explained(caplog):
    scheduler = BackgroundScheduler(
        timezone="UTC", executors={"default": ThreadPoolExecutor(2)}, stuck_run_factor=10
    )
    scheduler.start()
    try:
        job = scheduler.add_job(quick_then_stuck, "interval", seconds=60, id="job")
        for _ in range(4):
            run_once_more(job)
        caplog.set_level(logging.WARNING, "apscheduler.scheduler")

        wait_for(lambda: "may be stuck" in caplog.text)
        time.sleep(0.3)

        assert caplog.text.count("may be stuck") == 1
        [note] = scheduler.explain("job").notes
        assert "has been going on for" in note
        assert "while its runs usually take 0.0 s: it may be stuck" in note
        gate.set()
        wait_for(lambda: not scheduler.explain("job").notes)
    finally:
        gate.set()
        scheduler.shutdown()


def test_no_watch_without_enough_runs_or_with_the_factor_off():
    watch = _stuck_runs.StuckRunWatch(lambda: datetime.now(UTC), logging.getLogger("test"))
    from apscheduler.runs import RUNNING, SUCCEEDED, JobRun

    now = datetime.now(UTC)
    done = [
        JobRun(f"r{i}", "job", "default", now, SUCCEEDED, started_at=now,
               finished_at=now + timedelta(seconds=1))
        for i in range(2)
    ]  # fmt: skip
    watch.ended(done)
    running = JobRun("r9", "job", "default", now, RUNNING, submitted_at=now)

    watch.submitted([running])
    assert not watch._watched, "two runs tell no usual duration"

    watch.ended([done[0]._replace(run_id="r3")])
    watch.factor = 0
    watch.submitted([running])
    assert not watch._watched, "factor 0 turns it off"

    watch.factor = 10
    watch.submitted([running])
    assert "r9" in watch._watched
    watch.ended([running._replace(state="succeeded", finished_at=now)])
    assert not watch._watched
