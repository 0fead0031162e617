"""
``overlap="queue"`` and ``overlap="cancel"`` on every kind of executor, each running for real:
what a run that comes due while the job's instance is busy does, as listeners see it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import JobCancelled, MaxInstancesReachedError
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from tests.executors import targets
from tests.executors.conftest import wait_until
from tests.services import require_module

#: seconds a test waits for what should happen within a second
PATIENCE = 10.0


def codes(events) -> list[int]:
    return [event.code for event in events]


def cancel_reason(job) -> str:
    return f"stopped for the run at {job.next_run_time} (overlap='cancel')"


def assert_stopped_for(event, newer_job) -> None:
    """The run was stopped for ``newer_job``'s: a failed run that says why."""
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, JobCancelled)
    assert event.reason == cancel_reason(newer_job)


async def note_run_async(
    log: list[str], name: str, release: threading.Event, started: threading.Semaphore
) -> str:
    """Coroutine twin of ``targets.note_run``."""
    log.append(f"{name} started")
    started.release()
    try:
        while not release.is_set():
            await asyncio.sleep(0.01)
    finally:
        log.append(f"{name} ended")
    return name


async def carry_on_when_cancelled(
    log: list[str], name: str, release: threading.Event, started: threading.Semaphore
) -> str:
    """A coroutine that swallows the cancellation of its task."""
    started.release()
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        return "carried on"
    return "woke"


# --- the executors, each run by its framework in a thread of its own -----------------------------


@dataclass
class Runner:
    """An executor running for real, and how to call code in its framework's thread."""

    executor: Any
    #: calls a function in the thread the scheduler would submit from; returns its result
    call: Callable[..., Any]
    #: the blocking job callable that suits the executor (a coroutine function or not)
    blocker: Callable[..., Any]
    stop: Callable[[], None] = field(default=lambda: None)
    releases: list[threading.Event] = field(default_factory=list)


class TaskOfPython310(asyncio.Task):
    """A task as Python 3.10 has them: without ``cancelling()`` and ``uncancel()``."""

    def __getattribute__(self, name: str) -> Any:
        if name in ("cancelling", "uncancel"):
            raise AttributeError(name)
        return super().__getattribute__(name)


def call_on(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    def call(func: Callable[..., Any], *args: Any) -> Any:
        async def in_loop() -> Any:
            return func(*args)

        return asyncio.run_coroutine_threadsafe(in_loop(), loop).result(PATIENCE)

    return call


def loop_in_thread(loop: asyncio.AbstractEventLoop, run: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=run, name="job loop", daemon=True)
    thread.start()
    return thread


def thread_pool_runner(scheduler) -> Runner:
    executor = ThreadPoolExecutor(max_workers=4)
    executor.start(scheduler, "default")

    def call(func: Callable[..., Any], *args: Any) -> Any:
        return func(*args)

    return Runner(executor, call, targets.note_run, lambda: executor.shutdown(wait=True))


def asyncio_runner(scheduler, coroutines: bool, task_factory=None) -> Runner:
    loop = asyncio.new_event_loop()
    if task_factory is not None:
        loop.set_task_factory(task_factory)
    thread = loop_in_thread(loop, loop.run_forever)
    scheduler._eventloop = loop  # what AsyncIOExecutor takes of an AsyncIOScheduler
    executor = AsyncIOExecutor()
    executor.start(scheduler, "default")
    call = call_on(loop)

    def stop() -> None:
        call(executor.shutdown)
        wait_until(lambda: not executor._pending_futures)
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(PATIENCE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(PATIENCE)
        loop.close()

    return Runner(executor, call, note_run_async if coroutines else targets.note_run, stop)


def tornado_runner(scheduler, coroutines: bool) -> Runner:
    require_module("tornado")
    from tornado.ioloop import IOLoop

    from apscheduler.executors.tornado import TornadoExecutor

    ioloop = IOLoop(make_current=False)
    thread = loop_in_thread(ioloop.asyncio_loop, ioloop.start)
    scheduler._ioloop = ioloop  # what TornadoExecutor takes of a TornadoScheduler
    executor = TornadoExecutor(max_workers=4)
    executor.start(scheduler, "default")

    def stop() -> None:
        executor.shutdown(wait=True)
        ioloop.add_callback(ioloop.stop)
        thread.join(PATIENCE)
        ioloop.close(all_fds=True)

    blocker = note_run_async if coroutines else targets.note_run
    return Runner(executor, call_on(ioloop.asyncio_loop), blocker, stop)


@pytest.fixture(scope="module")
def reactor() -> Iterator[Any]:
    """A reactor of this module's own, in a thread (the global one runs once in a process)."""
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


def twisted_runner(scheduler, reactor) -> Runner:
    from twisted.internet.threads import blockingCallFromThread

    from apscheduler.executors.twisted import TwistedExecutor

    scheduler._reactor = reactor  # what TwistedExecutor takes of a TwistedScheduler
    executor = TwistedExecutor()
    executor.start(scheduler, "default")

    def call(func: Callable[..., Any], *args: Any) -> Any:
        return blockingCallFromThread(reactor, func, *args)

    return Runner(executor, call, targets.note_run, executor.shutdown)


RUNNERS = [
    "thread pool",
    "asyncio, function",
    "asyncio, coroutine",
    "asyncio, coroutine, tasks of Python 3.10",
    "tornado, function",
    "tornado, coroutine",
    "twisted",
]


@pytest.fixture(params=RUNNERS)
def runner(request, scheduler, release) -> Iterator[Runner]:
    kind = request.param
    if kind == "thread pool":
        made = thread_pool_runner(scheduler)
    elif kind.startswith("asyncio"):
        factory = None
        if kind.endswith("3.10"):
            factory = lambda loop, coro, **kwargs: TaskOfPython310(coro, loop=loop, **kwargs)  # noqa: E731
        made = asyncio_runner(scheduler, "coroutine" in kind, factory)
    elif kind.startswith("tornado"):
        made = tornado_runner(scheduler, "coroutine" in kind)
    else:
        made = twisted_runner(scheduler, request.getfixturevalue("reactor"))
    yield made
    release.set()
    for run_release in made.releases:
        run_release.set()
    wait_until(lambda: not made.executor._instances)
    made.stop()


class Runs:
    """Jobs of one id that note when their runs start and end, each released on its own."""

    def __init__(self, make_job, runner: Runner, overlap: str) -> None:
        self.log: list[str] = []
        # the runner fixture ends the runs of a test that failed with them
        self._releases: list[threading.Event] = runner.releases
        self.started = threading.Semaphore(0)
        self._make_job = make_job
        self._blocker = runner.blocker
        self._overlap = overlap
        self.releases: dict[str, threading.Event] = {}

    def job(self, name: str, release: threading.Event | None = None, **options: Any):
        self.releases[name] = release or threading.Event()
        self._releases.append(self.releases[name])
        return self._make_job(
            options.pop("func", self._blocker),
            args=(self.log, name, self.releases[name], self.started),
            id="overlapping",
            overlap=self._overlap,
            **options,
        )

    def wait_started(self) -> None:
        assert self.started.acquire(timeout=PATIENCE), "the run never started"


def submit(executor, job) -> None:
    executor.submit_job(job, [job.next_run_time])


def submit_two_at_once(executor, second, third) -> None:
    """Submit ``second`` and ``third`` before anything can end: one waits, the other is refused."""
    with executor._lock:  # an instance that ends needs it
        submit(executor, second)
        with pytest.raises(MaxInstancesReachedError):
            submit(executor, third)


def test_queue_starts_the_waiting_run_once_the_first_ends(runner, scheduler, make_job):
    runs = Runs(make_job, runner, "queue")
    runner.call(submit, runner.executor, runs.job("first"))
    runs.wait_started()

    runner.call(submit_two_at_once, runner.executor, runs.job("second"), runs.job("third"))
    assert not runs.started.acquire(timeout=0.3), "the queued run waits for the first"
    runs.releases["first"].set()

    [first] = scheduler.wait_for_events(1)
    assert (first.code, first.retval) == (EVENT_JOB_EXECUTED, "first")
    runs.wait_started()
    runs.releases["second"].set()
    events = scheduler.wait_for_events(2)
    assert [(event.code, event.retval) for event in events] == [
        (EVENT_JOB_EXECUTED, "first"),
        (EVENT_JOB_EXECUTED, "second"),
    ]
    assert runs.log == ["first started", "first ended", "second started", "second ended"]


def test_cancel_stops_the_running_one_then_starts_the_new_one(runner, scheduler, make_job):
    runs = Runs(make_job, runner, "cancel")
    runner.call(submit, runner.executor, runs.job("first"))  # never released
    runs.wait_started()
    second = runs.job("second")

    runner.call(submit_two_at_once, runner.executor, second, runs.job("third"))

    [stopped] = scheduler.wait_for_events(1)
    assert_stopped_for(stopped, second)
    runs.wait_started()
    assert runs.log == ["first started", "first ended", "second started"]
    runs.releases["second"].set()
    events = scheduler.wait_for_events(2)
    assert events[0] is stopped
    assert (events[1].code, events[1].retval) == (EVENT_JOB_EXECUTED, "second")
    assert len(scheduler.events) == 2


def submit_both(executor, first, second) -> None:
    submit(executor, first)
    submit(executor, second)


@pytest.mark.parametrize("runner", RUNNERS[1:], indirect=True)  # on a loop or a reactor
def test_cancel_keeps_a_run_that_has_not_started_from_starting(runner, scheduler, make_job):
    runs = Runs(make_job, runner, "cancel")
    second = runs.job("second")

    # both in one turn of the loop (or reactor): a coroutine's run has not started when it is
    # stopped; a function's may have, in its thread
    runner.call(submit_both, runner.executor, runs.job("first"), second)

    [stopped] = scheduler.wait_for_events(1)
    assert_stopped_for(stopped, second)
    runs.releases["second"].set()
    ran = scheduler.wait_for_events(2)[1]
    assert (ran.code, ran.retval) == (EVENT_JOB_EXECUTED, "second")
    assert runs.log[-2:] == ["second started", "second ended"]
    if runner.blocker is note_run_async:
        assert runs.log == ["second started", "second ended"], "the first never started"


def test_cancel_is_no_timeout(runner, scheduler, make_job):
    runs = Runs(make_job, runner, "cancel")
    runner.call(submit, runner.executor, runs.job("first", timeout=30))
    runs.wait_started()
    second = runs.job("second", timeout=30)

    runner.call(submit, runner.executor, second)

    [stopped] = scheduler.wait_for_events(1)
    assert_stopped_for(stopped, second)
    runs.releases["second"].set()
    ran = scheduler.wait_for_events(2)[1]
    assert (ran.code, ran.retval) == (EVENT_JOB_EXECUTED, "second")


# --- what is particular to coroutines ------------------------------------------------------------


@pytest.mark.parametrize("runner", ["asyncio, coroutine"], indirect=True)
def test_a_coroutine_that_swallows_the_stop_is_reported_stopped(runner, scheduler, make_job):
    runs = Runs(make_job, runner, "cancel")
    runner.call(submit, runner.executor, runs.job("first", func=carry_on_when_cancelled))
    runs.wait_started()
    second = runs.job("second", release=threading.Event())
    runs.releases["second"].set()  # it ends at once: on a loop, events keep their order

    runner.call(submit, runner.executor, second)

    stopped, ran = scheduler.wait_for_events(2)
    assert_stopped_for(stopped, second)
    assert (ran.code, ran.retval) == (EVENT_JOB_EXECUTED, "second")


@pytest.mark.parametrize(
    "runner",
    ["asyncio, coroutine", "asyncio, coroutine, tasks of Python 3.10", "tornado, coroutine"],
    indirect=True,
)
def test_a_shutdown_is_no_stop_for_a_newer_run(runner, scheduler, make_job):
    runs = Runs(make_job, runner, "cancel")
    runner.call(submit, runner.executor, runs.job("first"))
    runs.wait_started()

    runner.call(runner.executor.shutdown)

    wait_until(lambda: not runner.executor._instances and len(runs.log) == 2)
    assert runs.log == ["first started", "first ended"]
    assert scheduler.events == [], "a shutdown reports nothing, as without overlap='cancel'"


# --- the debug executor: the job runs inside submit_job() ----------------------------------------


@pytest.fixture
def debug_executor(scheduler) -> DebugExecutor:
    executor = DebugExecutor()
    executor.start(scheduler, "default")
    return executor


def resubmitting_job(make_job, executor, overlap: str):
    """A job whose first run submits the job again, twice: nothing else can overlap it."""
    log: list[str] = []
    job = None

    def run() -> int:
        number = sum(entry.endswith("started") for entry in log)
        log.append(f"run {number} started")
        if number == 0:
            executor.submit_job(job, [job.next_run_time])
            with pytest.raises(MaxInstancesReachedError):
                executor.submit_job(job, [job.next_run_time])
        log.append(f"run {number} ended")
        return number

    job = make_job(run, overlap=overlap)
    return job, log


@pytest.mark.parametrize("overlap", ["queue", "cancel"])
def test_debug_runs_the_submission_of_a_run_after_it(debug_executor, scheduler, make_job, overlap):
    """A run never stops itself: with "cancel" too, its own submission waits for it."""
    job, log = resubmitting_job(make_job, debug_executor, overlap)

    submit(debug_executor, job)

    assert log == ["run 0 started", "run 0 ended", "run 1 started", "run 1 ended"]
    # the waiting run starts, inline, once the first one's events are dispatched
    assert [(event.code, event.retval) for event in scheduler.events] == [
        (EVENT_JOB_EXECUTED, 0),
        (EVENT_JOB_EXECUTED, 1),
    ]
    assert not debug_executor._instances


@pytest.mark.parametrize("overlap", ["queue", "cancel"])
def test_debug_runs_a_submission_from_another_thread_after_the_run(
    debug_executor, scheduler, make_job, release, overlap
):
    """Another thread's submission waits until the inline run ends, then runs: it overlaps none."""
    started = threading.Semaphore(0)
    log: list[str] = []
    first = make_job(targets.note_run, args=(log, "first", release, started), overlap=overlap)
    second_release = threading.Event()
    second_release.set()
    second = make_job(
        targets.note_run, args=(log, "second", second_release, started), overlap=overlap
    )
    first_thread = threading.Thread(target=submit, args=(debug_executor, first))
    first_thread.start()
    assert started.acquire(timeout=PATIENCE)
    second_thread = threading.Thread(target=submit, args=(debug_executor, second))
    second_thread.start()

    assert not started.acquire(timeout=0.3), "the second waits for the inline run"
    release.set()
    first_thread.join(PATIENCE)
    second_thread.join(PATIENCE)

    assert log == ["first started", "first ended", "second started", "second ended"]
    assert [(event.code, event.retval) for event in scheduler.events] == [
        (EVENT_JOB_EXECUTED, "first"),
        (EVENT_JOB_EXECUTED, "second"),
    ]


# --- the process pool: runs in worker processes cannot be stopped -------------------------------


@pytest.mark.parametrize("overlap", ["queue", "cancel"])
def test_process_pool_starts_the_waiting_run_after_the_first(
    process_executor, scheduler, make_job, wall_clock_now, overlap
):
    """There "cancel" acts as "queue": the first run goes on to its end."""
    job = make_job(targets.nap, args=(0.5,), overlap=overlap, next_run_time=wall_clock_now)
    submit(process_executor, job)

    with process_executor._lock:  # both before the first run can end
        submit(process_executor, job)
        with pytest.raises(MaxInstancesReachedError):
            submit(process_executor, job)

    first, second = scheduler.wait_for_events(2)
    assert [(event.code, event.retval) for event in (first, second)] == [
        (EVENT_JOB_EXECUTED, "woke"),
        (EVENT_JOB_EXECUTED, "woke"),
    ]
    assert second.started_at >= first.finished_at
    wait_until(lambda: not process_executor._instances)
    assert len(scheduler.events) == 2


# --- gevent: the hub runs in this thread ---------------------------------------------------------


def gevent_note_run(log: list[str], name: str, release: Any, started: list[str]) -> str:
    """``targets.note_run`` for greenlets: waits on a gevent event."""
    log.append(f"{name} started")
    try:
        release.wait()
    finally:
        log.append(f"{name} ended")
    return name


@pytest.fixture
def gevent_executor(scheduler) -> Iterator[Any]:
    """gevent without monkey patching, as the scheduler tests run it."""
    require_module("gevent")
    from apscheduler.executors.gevent import GeventExecutor

    executor = GeventExecutor()
    executor.start(scheduler, "default")
    yield executor
    for greenlet in list(executor._greenlets):
        greenlet.kill()
    executor.shutdown(wait=True)


def run_hub_until(predicate: Callable[[], bool]) -> None:
    import gevent

    with gevent.Timeout(PATIENCE, AssertionError("the condition never held")):
        while not predicate():
            gevent.sleep(0.01)


def gevent_job(make_job, log: list[str], name: str, overlap: str, release: Any = None):
    import gevent.event

    release = release or gevent.event.Event()
    return make_job(gevent_note_run, args=(log, name, release, []), id="g", overlap=overlap)


def test_gevent_cancel_keeps_a_greenlet_that_has_not_started_from_starting(
    gevent_executor, scheduler, make_job
):
    import gevent.event

    log: list[str] = []
    done = gevent.event.Event()
    done.set()
    second = gevent_job(make_job, log, "second", "cancel", done)

    submit(gevent_executor, gevent_job(make_job, log, "first", "cancel"))  # not started yet
    submit(gevent_executor, second)

    run_hub_until(lambda: len(scheduler.events) == 2)
    stopped, ran = scheduler.events
    assert_stopped_for(stopped, second)
    assert (ran.code, ran.retval) == (EVENT_JOB_EXECUTED, "second")
    assert log == ["second started", "second ended"], "the first never started"


def test_gevent_queue_starts_the_waiting_run_once_the_first_ends(
    gevent_executor, scheduler, make_job
):
    import gevent
    import gevent.event

    log: list[str] = []
    release = gevent.event.Event()
    submit(gevent_executor, gevent_job(make_job, log, "first", "queue", release))
    run_hub_until(lambda: bool(log))

    submit(gevent_executor, gevent_job(make_job, log, "second", "queue", release))
    with pytest.raises(MaxInstancesReachedError):
        submit(gevent_executor, gevent_job(make_job, log, "third", "queue", release))
    gevent.sleep(0.3)
    assert log == ["first started"], "the queued run waits for the first"
    release.set()

    run_hub_until(lambda: len(scheduler.events) == 2)
    assert [(event.code, event.retval) for event in scheduler.events] == [
        (EVENT_JOB_EXECUTED, "first"),
        (EVENT_JOB_EXECUTED, "second"),
    ]
    assert log == ["first started", "first ended", "second started", "second ended"]


def test_gevent_cancel_kills_the_running_greenlet_then_starts(
    gevent_executor, scheduler, make_job
):
    import gevent.event

    log: list[str] = []
    submit(gevent_executor, gevent_job(make_job, log, "first", "cancel"))  # never released
    run_hub_until(lambda: bool(log))
    done = gevent.event.Event()
    done.set()
    second = gevent_job(make_job, log, "second", "cancel", done)

    submit(gevent_executor, second)
    with pytest.raises(MaxInstancesReachedError):  # the first has not ended yet
        submit(gevent_executor, gevent_job(make_job, log, "third", "cancel", done))

    run_hub_until(lambda: len(scheduler.events) == 2)
    stopped, ran = scheduler.events
    assert_stopped_for(stopped, second)
    assert (ran.code, ran.retval) == (EVENT_JOB_EXECUTED, "second")
    assert log == ["first started", "first ended", "second started", "second ended"]
    run_hub_until(lambda: not gevent_executor._greenlets)
