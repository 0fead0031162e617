"""
The ``timeout`` job option on the executors of the event loop frameworks: asyncio, Tornado,
Twisted and gevent, each running for real.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_TIMED_OUT
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import JobTimeout
from tests.executors import targets
from tests.services import require_module

#: seconds a test waits for what should happen within a second
PATIENCE = 10.0


def codes(events):
    return [event.code for event in events]


def assert_timed_out(event, timeout: str) -> None:
    assert event.code == EVENT_JOB_TIMED_OUT
    assert isinstance(event.exception, JobTimeout)
    assert event.reason == f"it ran for longer than its timeout of {timeout} s"


async def sleep_async(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "woke"


async def add_async(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def raise_cancelled() -> None:
    await asyncio.sleep(0)
    raise asyncio.CancelledError("the job's own")


async def swallow_cancellation(seconds: float) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        return "carried on"
    return "woke"


def record_dispatching_threads(scheduler) -> list[int]:
    """Note the thread of every event the scheduler dispatches."""
    threads: list[int] = []
    dispatch = scheduler._dispatch_event

    def dispatch_noting_thread(event):
        threads.append(threading.get_ident())
        dispatch(event)

    scheduler._dispatch_event = dispatch_noting_thread
    return threads


# --- asyncio ------------------------------------------------------------------------------------


class TaskOfPython310(asyncio.Task):
    """A task as Python 3.10 has them: without ``cancelling()`` and ``uncancel()``."""

    def __getattribute__(self, name: str) -> Any:
        if name in ("cancelling", "uncancel"):
            raise AttributeError(name)
        return super().__getattribute__(name)


@pytest.fixture(params=["tasks", "tasks-of-python-3.10"])
def job_loop(request) -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    if request.param == "tasks-of-python-3.10":
        loop.set_task_factory(
            lambda loop, coro, **kwargs: TaskOfPython310(coro, loop=loop, **kwargs)
        )
    yield loop
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


@pytest.fixture
def asyncio_executor(scheduler, job_loop) -> Iterator[AsyncIOExecutor]:
    scheduler._eventloop = job_loop  # what AsyncIOExecutor takes of an AsyncIOScheduler
    executor = AsyncIOExecutor()
    executor.start(scheduler, "default")
    yield executor
    executor.shutdown()


def run_loop_until(
    loop: asyncio.AbstractEventLoop, predicate: Callable[[], bool], action=None
) -> None:
    """Run ``loop`` (after calling ``action`` in it) until ``predicate`` holds."""

    async def main() -> None:
        if action is not None:
            action()
        deadline = time.monotonic() + PATIENCE
        while not predicate():
            assert time.monotonic() < deadline, "the condition never held"
            await asyncio.sleep(0.01)

    loop.run_until_complete(main())


def test_a_coroutine_is_cancelled_at_its_deadline(asyncio_executor, scheduler, make_job, job_loop):
    job = make_job(sleep_async, args=(60,), timeout=0.3)
    started = time.monotonic()

    run_loop_until(
        job_loop,
        lambda: not asyncio_executor._instances,
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )

    [event] = scheduler.events
    assert_timed_out(event, "0.3")
    assert time.monotonic() - started < 5
    assert not asyncio_executor._pending_futures


def test_a_coroutine_that_swallows_the_cancellation_is_timed_out_all_the_same(
    asyncio_executor, scheduler, make_job, job_loop
):
    job = make_job(swallow_cancellation, args=(60,), timeout=0.2)

    run_loop_until(
        job_loop,
        lambda: not asyncio_executor._instances,
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )

    [event] = scheduler.events
    assert_timed_out(event, "0.2")


def test_a_coroutine_within_its_timeout_succeeds(asyncio_executor, scheduler, make_job, job_loop):
    job = make_job(add_async, args=(1, 2), timeout=5)

    run_loop_until(
        job_loop,
        lambda: not asyncio_executor._instances,
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )

    [event] = scheduler.events
    assert (event.code, event.retval) == (EVENT_JOB_EXECUTED, 3)


def test_a_cancelled_error_of_the_job_itself_is_an_ordinary_error(
    asyncio_executor, scheduler, make_job, job_loop
):
    job = make_job(raise_cancelled, timeout=5)
    tasks_count_cancellations = (
        hasattr(asyncio.Task, "cancelling") and job_loop.get_task_factory() is None
    )

    run_loop_until(
        job_loop,
        lambda: not asyncio_executor._instances,
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )

    if tasks_count_cancellations:
        [event] = scheduler.events
        assert event.code == EVENT_JOB_ERROR
        assert isinstance(event.exception, asyncio.CancelledError)
    else:  # Python 3.10 takes every CancelledError for the task's cancellation, as before
        assert scheduler.events == []


def test_shutdown_still_cancels_a_coroutine_with_a_timeout(
    asyncio_executor, scheduler, make_job, job_loop
):
    job = make_job(sleep_async, args=(60,), timeout=30)

    run_loop_until(
        job_loop,
        lambda: bool(asyncio_executor._pending_futures),
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )
    [future] = asyncio_executor._pending_futures
    run_loop_until(job_loop, future.done, asyncio_executor.shutdown)

    assert future.cancelled()
    assert scheduler.events == [], "a shutdown is no timeout"
    assert not asyncio_executor._instances


@pytest.mark.parametrize("job_loop", ["tasks"], indirect=True)  # no task here
def test_a_function_in_a_thread_is_stopped_and_reported_on_the_loop(
    asyncio_executor, scheduler, make_job, job_loop
):
    job = make_job(targets.spin, args=(60,), timeout=0.3)
    threads = record_dispatching_threads(scheduler)
    loop_thread = threading.get_ident()  # run_until_complete runs the loop in this thread

    run_loop_until(
        job_loop,
        lambda: not asyncio_executor._instances,
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )

    [event] = scheduler.events
    assert_timed_out(event, "0.3")
    assert threads == [loop_thread]


@pytest.mark.parametrize("job_loop", ["tasks"], indirect=True)  # no task here
def test_a_function_in_a_thread_within_its_timeout_succeeds(
    asyncio_executor, scheduler, make_job, job_loop
):
    job = make_job(targets.add, args=(1, 2), timeout=5)

    run_loop_until(
        job_loop,
        lambda: not asyncio_executor._instances,
        lambda: asyncio_executor.submit_job(job, [job.next_run_time]),
    )

    assert codes(scheduler.events) == [EVENT_JOB_EXECUTED]


# --- Tornado ------------------------------------------------------------------------------------


@pytest.fixture
def ioloop() -> Iterator[Any]:
    require_module("tornado")
    from tornado.ioloop import IOLoop

    loop = IOLoop(make_current=False)
    yield loop
    loop.close(all_fds=True)


@pytest.fixture
def tornado_executor(scheduler, ioloop) -> Iterator[Any]:
    from apscheduler.executors.tornado import TornadoExecutor

    scheduler._ioloop = ioloop  # what TornadoExecutor takes of a TornadoScheduler
    executor = TornadoExecutor(max_workers=2)
    executor.start(scheduler, "default")
    yield executor
    executor.shutdown(wait=True)


def run_ioloop_until(ioloop, predicate: Callable[[], bool], action: Callable[[], Any]) -> None:
    """Run ``ioloop``, calling ``action`` in it first, until ``predicate`` holds."""

    async def main() -> None:
        action()
        while not predicate():
            await asyncio.sleep(0.01)

    ioloop.run_sync(main, timeout=PATIENCE)


@pytest.mark.parametrize(
    "func, args",
    [(sleep_async, (60,)), (targets.spin, (60,))],
    ids=["coroutine", "function-in-a-thread"],
)
def test_tornado_stops_a_run_at_its_deadline(
    tornado_executor, scheduler, make_job, ioloop, func, args
):
    job = make_job(func, args=args, timeout=0.3)
    threads = record_dispatching_threads(scheduler)
    started = time.monotonic()

    run_ioloop_until(
        ioloop,
        lambda: not tornado_executor._instances,
        lambda: tornado_executor.submit_job(job, [job.next_run_time]),
    )

    [event] = scheduler.events
    assert_timed_out(event, "0.3")
    assert time.monotonic() - started < 5
    assert threads == [threading.get_ident()], "listeners hear of it on the IOLoop"


@pytest.mark.parametrize(
    "func", [add_async, targets.add], ids=["coroutine", "function-in-a-thread"]
)
def test_tornado_runs_a_job_within_its_timeout(
    tornado_executor, scheduler, make_job, ioloop, func
):
    job = make_job(func, args=(1, 2), timeout=5)

    run_ioloop_until(
        ioloop,
        lambda: not tornado_executor._instances,
        lambda: tornado_executor.submit_job(job, [job.next_run_time]),
    )

    [event] = scheduler.events
    assert (event.code, event.retval) == (EVENT_JOB_EXECUTED, 3)


# --- Twisted ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reactor() -> Iterator[Any]:
    """
    A reactor of this module's own, running in a thread: the global one runs only once in a
    process, and the scheduler tests run it for the whole session.
    """
    require_module("twisted")
    from twisted.internet.selectreactor import SelectReactor

    own_reactor = SelectReactor()
    thread = threading.Thread(
        target=own_reactor.run, kwargs={"installSignalHandlers": False}, name="own reactor"
    )
    thread.start()
    yield own_reactor
    own_reactor.callFromThread(own_reactor.stop)
    thread.join(PATIENCE)


@pytest.fixture
def twisted_executor(scheduler, reactor) -> Iterator[Any]:
    from apscheduler.executors.twisted import TwistedExecutor

    scheduler._reactor = reactor  # what TwistedExecutor takes of a TwistedScheduler
    executor = TwistedExecutor()
    executor.start(scheduler, "default")
    yield executor
    executor.shutdown()


def in_reactor(reactor, func: Callable[..., Any], *args: Any) -> Any:
    """Call ``func`` in the reactor's thread and return what it returns."""
    from twisted.internet.threads import blockingCallFromThread

    return blockingCallFromThread(reactor, func, *args)


def submit_on_reactor(reactor, executor, job) -> None:
    """Submit as the scheduler does: in the reactor's thread."""
    in_reactor(reactor, executor.submit_job, job, [job.next_run_time])


def test_twisted_reports_a_blocking_call_at_its_deadline(
    twisted_executor, scheduler, make_job, reactor
):
    job = make_job(targets.nap, args=(0.8,), timeout=0.1)
    threads = record_dispatching_threads(scheduler)
    started = time.monotonic()

    submit_on_reactor(reactor, twisted_executor, job)

    [event] = scheduler.wait_for_events(1)
    assert_timed_out(event, "0.1")
    assert time.monotonic() - started < 0.7, "reported at the deadline, not when the call ended"
    deadline = time.monotonic() + PATIENCE
    while twisted_executor._instances:  # the instance frees once the thread really ends
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert codes(scheduler.events) == [EVENT_JOB_TIMED_OUT], "one report, not a late success too"
    assert threads == [in_reactor(reactor, threading.get_ident)], (
        "listeners hear of it on the reactor"
    )


def test_twisted_stops_a_python_loop(twisted_executor, scheduler, make_job, reactor):
    job = make_job(targets.spin, args=(60,), timeout=0.3)

    submit_on_reactor(reactor, twisted_executor, job)

    [event] = scheduler.wait_for_events(1)
    assert_timed_out(event, "0.3")


def test_twisted_runs_a_job_within_its_timeout(twisted_executor, scheduler, make_job, reactor):
    job = make_job(targets.add, args=(1, 2), timeout=5)

    submit_on_reactor(reactor, twisted_executor, job)

    [event] = scheduler.wait_for_events(1)
    assert (event.code, event.retval) == (EVENT_JOB_EXECUTED, 3)


# --- gevent -------------------------------------------------------------------------------------


def gevent_sleep(seconds: float) -> str:
    import gevent

    gevent.sleep(seconds)
    return "woke"


@pytest.fixture
def gevent_executor(scheduler) -> Iterator[Any]:
    """gevent without monkey patching, as the scheduler tests run it: the hub runs in this thread."""
    require_module("gevent")
    from apscheduler.executors.gevent import GeventExecutor

    executor = GeventExecutor()
    executor.start(scheduler, "default")
    yield executor
    executor.shutdown(wait=True)


def run_hub_until(predicate: Callable[[], bool]) -> None:
    import gevent

    deadline = time.monotonic() + PATIENCE
    while not predicate():
        assert time.monotonic() < deadline, "the condition never held"
        gevent.sleep(0.01)


def test_gevent_stops_a_greenlet_at_its_deadline(gevent_executor, scheduler, make_job):
    job = make_job(gevent_sleep, args=(60,), timeout=0.3)
    started = time.monotonic()

    gevent_executor.submit_job(job, [job.next_run_time])
    run_hub_until(lambda: not gevent_executor._instances)

    [event] = scheduler.events
    assert_timed_out(event, "0.3")
    assert time.monotonic() - started < 5
    assert not gevent_executor._greenlets, "the job's greenlet has ended"


def test_gevent_runs_a_job_within_its_timeout(gevent_executor, scheduler, make_job):
    job = make_job(gevent_sleep, args=(0.01,), timeout=5)

    gevent_executor.submit_job(job, [job.next_run_time])
    run_hub_until(lambda: not gevent_executor._instances)

    [event] = scheduler.events
    assert (event.code, event.retval) == (EVENT_JOB_EXECUTED, "woke")
