"""The run control options through the scheduler: add_job, modify_job, job_defaults, history."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from apscheduler.events import EVENT_JOB_TIMED_OUT
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from tests.executors import targets


def test_add_job_takes_the_options_and_modify_job_changes_them(make_scheduler):
    scheduler = make_scheduler()
    job = scheduler.add_job(
        targets.add, "interval", seconds=5, args=(1, 2), timeout=timedelta(seconds=3),
        max_retries=2, overlap="queue",
    )  # fmt: skip

    assert (job.timeout, job.max_retries, job.overlap) == (3.0, 2, "queue")
    scheduler.start()
    scheduler.modify_job(job.id, timeout=None, overlap="skip")
    changed = scheduler.get_job(job.id)
    assert (changed.timeout, changed.max_retries, changed.overlap) == (None, 2, "skip")


def test_a_job_with_the_defaults_has_no_run_control(make_scheduler):
    job = make_scheduler().add_job(targets.add, "interval", seconds=5, args=(1, 2))

    assert job._control is None
    assert (job.timeout, job.max_retries, job.overlap) == (None, 0, "skip")


def test_job_defaults_set_the_options_and_a_job_overrides_them(make_scheduler):
    scheduler = make_scheduler(job_defaults={"timeout": "30", "overlap": "queue"})
    scheduler.start()

    default = scheduler.add_job(targets.add, "interval", seconds=5, args=(1, 2))
    own = scheduler.add_job(targets.add, "interval", seconds=5, args=(1, 2), timeout=2)

    assert (default.timeout, default.overlap) == (30.0, "queue")
    assert (own.timeout, own.overlap) == (2.0, "queue")


def test_a_bad_job_default_fails_at_configure(make_scheduler):
    with pytest.raises(ValueError, match="overlap must be one of"):
        make_scheduler(job_defaults={"overlap": "later"})


def test_a_timed_out_run_is_recorded_and_dispatched():
    events = []
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(2)})
    scheduler.add_listener(events.append, EVENT_JOB_TIMED_OUT)
    scheduler.start()
    try:
        scheduler.add_job(targets.spin, args=(60,), id="spin", timeout=0.2)
        deadline = time.monotonic() + 10
        while not events:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        [run] = scheduler.get_job_runs("spin")
        assert run.state == "timed_out"
        assert run.reason == "it ran for longer than its timeout of 0.2 s"
    finally:
        scheduler.shutdown()
