"""A scheduler the tests drive one processing pass at a time, on a fake clock."""

from __future__ import annotations

from datetime import timezone as dt_timezone

import pytest

from apscheduler.events import EVENT_ALL
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import BaseScheduler


class LaterExecutor(BaseExecutor):
    """Runs what it is given when the test says so, as a busy pool gets to it late."""

    def __init__(self):
        super().__init__()
        self.waiting = []

    def _do_submit_job(self, job, run_times):
        self.waiting.append((job, run_times))

    def run_waiting(self):
        for job, run_times in self.waiting:
            events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            self._run_job_success(job.id, events)
        self.waiting.clear()


class SteppedScheduler(BaseScheduler):
    """Has no loop of its own: the test calls ``_process_jobs()`` and reads the delay it returns."""

    def __init__(self, *args, **kwargs):
        self.wakeups = 0
        super().__init__(*args, **kwargs)

    def shutdown(self, wait=True):
        super().shutdown(wait)

    def wakeup(self):
        self.wakeups += 1


@pytest.fixture
def events():
    return []


@pytest.fixture
def make_scheduler(fake_clock, events):
    """
    Build a stopped scheduler in UTC on the fake clock, running jobs inline, recording events.

    ``configure()`` replaces the whole configuration (as in APScheduler 3), so tests that need
    other options pass them here rather than reconfiguring.
    """
    created = []

    def factory(**options):
        options.setdefault("timezone", dt_timezone.utc)
        options.setdefault("clock", fake_clock)
        options.setdefault("executors", {"default": DebugExecutor()})
        sched = SteppedScheduler(**options)
        sched.add_listener(events.append, EVENT_ALL)
        created.append(sched)
        return sched

    yield factory
    for sched in created:
        if sched.running:
            sched.shutdown()


@pytest.fixture
def scheduler(make_scheduler):
    return make_scheduler()
