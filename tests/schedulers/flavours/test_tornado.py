"""TornadoScheduler and TornadoExecutor: which IOLoop, which thread, and the thread pool."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from tests.schedulers.flavours.conftest import EventLog, require_for_module
from tests.schedulers.flavours.harnesses import TIMEOUT

require_for_module("tornado")

from tornado.ioloop import IOLoop  # noqa: E402

from apscheduler.executors.tornado import TornadoExecutor  # noqa: E402
from apscheduler.schedulers.tornado import TornadoScheduler, run_in_ioloop  # noqa: E402

#: set by a test, so that the io_loop option can name it as "module:IO_LOOP"
IO_LOOP = None


@pytest.fixture
def event_log():
    return EventLog()


def make_scheduler(event_log, **options):
    scheduler = TornadoScheduler(timezone="UTC", **options)
    scheduler.add_listener(event_log)
    return scheduler


def test_start_takes_the_current_ioloop_unless_one_is_given(event_log):
    async def main():
        scheduler = make_scheduler(event_log)
        scheduler.start()
        try:
            return scheduler._ioloop is IOLoop.current()
        finally:
            scheduler.shutdown()

    assert asyncio.run(main())


def test_the_io_loop_option_takes_a_text_reference(monkeypatch, event_log):
    async def main():
        monkeypatch.setattr(sys.modules[__name__], "IO_LOOP", IOLoop.current())
        scheduler = make_scheduler(event_log, io_loop=f"{__name__}:IO_LOOP")
        ran = asyncio.Event()
        scheduler.start()
        scheduler.add_job(ran.set)
        await asyncio.wait_for(ran.wait(), TIMEOUT)
        scheduler.shutdown()
        return scheduler._ioloop is IO_LOOP

    assert asyncio.run(main())


def test_plain_jobs_run_in_the_pool_and_listeners_hear_on_the_ioloop(event_log):
    listener_threads = []

    async def main():
        scheduler = make_scheduler(event_log)
        done = asyncio.Event()

        def listener(event):
            listener_threads.append(threading.get_ident())
            done.set()

        scheduler.add_listener(listener, EVENT_JOB_EXECUTED)
        scheduler.start()
        scheduler.add_job(threading.get_ident)
        await asyncio.wait_for(done.wait(), TIMEOUT)
        scheduler.shutdown()
        return threading.get_ident()

    loop_thread = asyncio.run(main())

    assert event_log.of(EVENT_JOB_EXECUTED)[0].retval != loop_thread
    assert listener_threads == [loop_thread]


def test_max_workers_is_read_from_text_configuration(event_log):
    scheduler = make_scheduler(
        event_log, executors={"default": {"type": "tornado", "max_workers": "2"}}
    )

    executor = scheduler._executors["default"]

    assert isinstance(executor, TornadoExecutor)
    assert executor.executor._max_workers == 2


def test_shutdown_cancels_a_pending_coroutine_job(event_log):
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
        scheduler.shutdown()
        # the cancelled job's outcome reaches the executor on a later turn of the loop
        for _ in range(100):
            if not executor._instances:
                break
            await asyncio.sleep(0.01)
        return executor

    executor = asyncio.run(main())

    assert outcome == ["cancelled"]
    assert not event_log.of(EVENT_JOB_ERROR)
    assert not executor._instances


def test_run_in_ioloop_runs_the_method_on_the_ioloop_from_any_thread():
    class RecordingScheduler(TornadoScheduler):
        @run_in_ioloop
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
