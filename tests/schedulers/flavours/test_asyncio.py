"""AsyncIOScheduler and AsyncIOExecutor: which loop, before it runs, and cancelling at shutdown."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler, run_in_event_loop
from tests.schedulers.flavours.conftest import EventLog
from tests.schedulers.flavours.harnesses import TIMEOUT
from tests.services import require_module

#: set by a test, so that the event_loop option can name it as "module:LOOP"
LOOP = None


def _new_uvloop():
    require_module("uvloop")
    import uvloop

    return uvloop.new_event_loop()


loop_factories = pytest.mark.parametrize(
    "new_loop", [asyncio.new_event_loop, _new_uvloop], ids=["asyncio", "uvloop"]
)


@pytest.fixture
def event_log():
    return EventLog()


def make_scheduler(event_log, **options):
    scheduler = AsyncIOScheduler(timezone="UTC", **options)
    scheduler.add_listener(event_log)
    return scheduler


@loop_factories
def test_start_works_before_the_loop_runs_given_the_event_loop(new_loop, event_log):
    loop = new_loop()
    try:
        scheduler = make_scheduler(event_log, event_loop=loop)
        finished = loop.create_future()

        async def job():
            finished.set_result(asyncio.get_running_loop())

        scheduler.start()  # no loop is running in this thread
        scheduler.add_job(job)

        assert loop.run_until_complete(asyncio.wait_for(finished, TIMEOUT)) is loop
        scheduler.shutdown()
    finally:
        loop.close()


def test_the_event_loop_option_takes_a_text_reference(monkeypatch, event_log):
    loop = asyncio.new_event_loop()
    monkeypatch.setattr(sys.modules[__name__], "LOOP", loop)
    try:
        scheduler = make_scheduler(event_log, event_loop=f"{__name__}:LOOP")
        scheduler.start()

        assert scheduler._eventloop is loop
        scheduler.shutdown()
    finally:
        loop.close()


def test_start_without_a_running_loop_or_the_option_says_how_to_fix_it(event_log):
    scheduler = make_scheduler(event_log)

    with pytest.raises(RuntimeError, match="event_loop"):
        scheduler.start()

    assert not scheduler.running


def test_start_in_a_coroutine_takes_the_running_loop(event_log):
    async def main():
        scheduler = make_scheduler(event_log)
        scheduler.start()
        try:
            return scheduler._eventloop is asyncio.get_running_loop()
        finally:
            scheduler.shutdown()

    assert asyncio.run(main())


def test_a_restarted_scheduler_follows_the_running_loop(event_log):
    """Without the event_loop option, each start() takes the loop running at that time."""
    scheduler = make_scheduler(event_log)

    async def run_once():
        ran = asyncio.Event()
        scheduler.start()
        scheduler.add_job(ran.set)
        await asyncio.wait_for(ran.wait(), TIMEOUT)
        scheduler.shutdown()

    asyncio.run(run_once())
    asyncio.run(run_once())

    assert len(event_log.of(EVENT_JOB_EXECUTED)) == 2


@pytest.mark.parametrize("from_thread", [False, True], ids=["from the loop", "from a thread"])
def test_shutdown_cancels_a_pending_coroutine_job_cleanly(from_thread, event_log, caplog):
    outcome = []

    async def endless_job(started):
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def main():
        started = asyncio.Event()
        scheduler = make_scheduler(event_log)
        scheduler.start()
        scheduler.add_job(endless_job, args=[started])
        await asyncio.wait_for(started.wait(), TIMEOUT)
        executor = scheduler._executors["default"]
        task = next(iter(executor._pending_futures))

        if from_thread:
            stopper = threading.Thread(target=scheduler.shutdown)
            stopper.start()
            await asyncio.to_thread(stopper.join, TIMEOUT)
        else:
            scheduler.shutdown()

        await asyncio.wait([task], timeout=TIMEOUT)
        return task, executor

    with caplog.at_level(logging.INFO, logger="apscheduler"):
        task, executor = asyncio.run(main())

    assert task.cancelled()
    assert outcome == ["cancelled"]
    assert not event_log.of(EVENT_JOB_ERROR)
    assert not executor._instances  # the job's instance count was given back
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("cancelled" in record.getMessage() for record in caplog.records)


def test_a_coroutine_job_can_shut_the_scheduler_down_without_cancelling_itself(event_log):
    async def main():
        scheduler = make_scheduler(event_log)

        async def last_job():
            scheduler.shutdown()
            await asyncio.sleep(0)  # a cancelled job would stop here
            return "finished"

        done = asyncio.Event()
        scheduler.add_listener(lambda event: done.set(), EVENT_JOB_EXECUTED)
        scheduler.start()
        scheduler.add_job(last_job)
        await asyncio.wait_for(done.wait(), TIMEOUT)

    asyncio.run(main())

    assert event_log.of(EVENT_JOB_EXECUTED)[0].retval == "finished"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() arrived in 3.11")
def test_a_job_raising_cancelled_error_by_itself_is_a_job_error(event_log):
    async def confused_job():
        raise asyncio.CancelledError("not from the executor")

    async def main():
        scheduler = make_scheduler(event_log)
        reported = asyncio.Event()
        scheduler.add_listener(lambda event: reported.set(), EVENT_JOB_ERROR)
        scheduler.start()
        scheduler.add_job(confused_job)
        await asyncio.wait_for(reported.wait(), TIMEOUT)
        scheduler.shutdown()

    asyncio.run(main())

    assert isinstance(event_log.of(EVENT_JOB_ERROR)[0].exception, asyncio.CancelledError)


def test_a_blocking_plain_job_leaves_the_loop_free(event_log):
    release = threading.Event()

    def blocking_job():
        release.wait(TIMEOUT)
        return threading.get_ident()

    async def main():
        scheduler = make_scheduler(event_log)
        finished = asyncio.Event()
        scheduler.add_listener(lambda event: finished.set(), EVENT_JOB_EXECUTED)
        scheduler.start()
        scheduler.add_job(blocking_job)
        # these ticks of the loop happen while the job blocks its thread
        for _ in range(3):
            await asyncio.sleep(0)
        release.set()
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        scheduler.shutdown()
        return threading.get_ident()

    loop_thread = asyncio.run(main())

    assert event_log.of(EVENT_JOB_EXECUTED)[0].retval != loop_thread


def test_run_in_event_loop_runs_the_method_on_the_loop_from_any_thread(event_log):
    class RecordingScheduler(AsyncIOScheduler):
        @run_in_event_loop
        def record_thread(self, into):
            into.set_result(threading.get_ident())

    async def main():
        scheduler = RecordingScheduler(timezone="UTC")
        scheduler.start()
        result = asyncio.get_running_loop().create_future()
        caller = threading.Thread(target=scheduler.record_thread, args=[result])
        caller.start()
        thread_id = await asyncio.wait_for(result, TIMEOUT)
        caller.join(TIMEOUT)
        scheduler.shutdown()
        return thread_id == threading.get_ident()

    assert asyncio.run(main())
