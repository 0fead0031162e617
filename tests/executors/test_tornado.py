"""TornadoExecutor: a job submitted from inside a running IOLoop runs on that loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.job import Job
from tests.executors.targets import EveryMinuteTrigger, add
from tests.schedulers.flavours.conftest import require_for_module

require_for_module("tornado")

from tornado.ioloop import IOLoop  # noqa: E402

from apscheduler.executors.tornado import TornadoExecutor  # noqa: E402
from apscheduler.schedulers.tornado import TornadoScheduler  # noqa: E402

#: seconds a test waits for a job that should run at once
TIMEOUT = 10.0


async def add_later(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def make_job(scheduler: TornadoScheduler, func, now: datetime) -> Job:
    job = Job(
        scheduler,
        id=f"{func.__name__}-job",
        func=func,
        args=(1, 2),
        kwargs={},
        trigger=EveryMinuteTrigger(),
        executor="default",
        name=None,
        misfire_grace_time=None,
        coalesce=True,
        max_instances=1,
        next_run_time=now,
    )
    job._jobstore_alias = "default"
    return job


def submit_inside(ioloop: IOLoop, executor: TornadoExecutor, job: Job, now: datetime) -> list:
    """Submit ``job`` from inside ``ioloop`` while it runs; return the events it got."""
    events: list = []
    executor._scheduler.add_listener(events.append, EVENT_JOB_EXECUTED)

    async def main() -> None:
        executor.submit_job(job, [now])
        while not events:
            await asyncio.sleep(0.01)

    ioloop.run_sync(main, timeout=TIMEOUT)
    return events


@pytest.mark.parametrize("func", [add_later, add], ids=["coroutine", "plain-function"])
def test_a_job_submitted_in_a_running_loop_runs_although_the_scheduler_has_no_loop(func):
    """The scheduler was built before any loop ran and never started, as in APScheduler 3."""
    now = datetime.now(timezone.utc)
    scheduler = TornadoScheduler(timezone="UTC")
    executor = TornadoExecutor()
    executor.start(scheduler, "default")
    ioloop = IOLoop(make_current=False)
    try:
        events = submit_inside(ioloop, executor, make_job(scheduler, func, now), now)
    finally:
        executor.shutdown()
        ioloop.close(all_fds=True)

    assert [event.retval for event in events] == [3]
    assert executor._instances == {}


@pytest.mark.parametrize("func", [add_later, add], ids=["coroutine", "plain-function"])
def test_a_job_submitted_in_another_running_loop_runs_there(func):
    """The scheduler's own loop exists but is not running: the job goes to the one that is."""
    now = datetime.now(timezone.utc)
    idle_loop, running_loop = IOLoop(make_current=False), IOLoop(make_current=False)
    scheduler = TornadoScheduler(timezone="UTC", io_loop=idle_loop)
    executor = TornadoExecutor()
    executor.start(scheduler, "default")
    finished_on = []
    scheduler.add_listener(lambda event: finished_on.append(IOLoop.current()), EVENT_JOB_EXECUTED)
    try:
        events = submit_inside(running_loop, executor, make_job(scheduler, func, now), now)
        assert finished_on == [running_loop]
    finally:
        executor.shutdown()
        idle_loop.close(all_fds=True)
        running_loop.close(all_fds=True)

    assert [event.retval for event in events] == [3]


def test_a_job_submitted_outside_any_loop_without_a_scheduler_loop_is_refused():
    scheduler = TornadoScheduler(timezone="UTC")
    executor = TornadoExecutor()
    executor.start(scheduler, "default")
    now = datetime.now(timezone.utc)
    outcome = []

    def submit() -> None:
        try:
            executor.submit_job(make_job(scheduler, add_later, now), [now])
        except RuntimeError as exc:
            outcome.append(str(exc))

    # a thread of its own: no event loop can be running there
    thread = threading.Thread(target=submit)
    thread.start()
    thread.join(TIMEOUT)
    executor.shutdown()

    message = (
        "TornadoExecutor has no IOLoop to run jobs on: start its scheduler, or submit jobs "
        "from a running IOLoop"
    )
    assert outcome == [message]
    assert executor._instances == {}, "the refused job holds no instance"
