"""
One harness per scheduler flavour: it runs the framework's loop for a test.

The shared suite talks to every flavour the same way:

* ``harness.make_scheduler()`` builds the flavour's scheduler;
* ``harness.call(func, ...)`` runs ``func`` where the framework wants its calls made (on the
  loop's thread) and returns its result or raises its exception;
* ``harness.wait_until(predicate)`` lets the framework work until ``predicate()`` holds.

asyncio, uvloop, Tornado and Twisted loops run in a thread of their own; gevent and Qt run in
the test's thread, and ``wait_until`` turns their loop while it waits. A BackgroundScheduler
brings its own thread; a BlockingScheduler's ``start()`` blocks, so a thread of the harness
plays the program's main thread for it.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Callable
from typing import Any

# Generous upper bound: the awaited things normally happen within milliseconds.
TIMEOUT = 10.0
POLL_INTERVAL = 0.002
REACTOR_THREAD_NAME = "reactor"


def _poll(predicate: Callable[[], bool], timeout: float, turn: Callable[[], None]) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        turn()

    return True


class Harness:
    name: str
    scheduler_path: str
    executor_path: str
    options: dict[str, Any] = {}

    def make_scheduler(self, **options: Any) -> Any:
        module_name, class_name = self.scheduler_path.split(":")
        scheduler_class = getattr(importlib.import_module(module_name), class_name)
        return scheduler_class(**{"timezone": "UTC", **self.options, **options})

    @property
    def executor_class(self) -> type:
        module_name, class_name = self.executor_path.split(":")
        return getattr(importlib.import_module(module_name), class_name)

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        return _poll(predicate, timeout, lambda: time.sleep(POLL_INTERVAL))

    def flush(self) -> None:
        """Let the framework handle what is already queued (two turns: one may queue more)."""
        self.call(lambda: None)
        self.call(lambda: None)

    def close(self) -> None:
        pass


class BackgroundHarness(Harness):
    """The scheduler runs its loop in a thread of its own: calls are made from the test."""

    name = "background"
    scheduler_path = "apscheduler.schedulers.background:BackgroundScheduler"
    executor_path = "apscheduler.executors.pool:ThreadPoolExecutor"


class BlockingHarness(Harness):
    """
    ``start()`` runs the scheduler's loop in the calling thread until shutdown, as a program's
    main loop does; the harness makes that call from a thread of its own and returns once the
    loop runs (or ``start()`` raised, which it raises again here).
    """

    name = "blocking"
    scheduler_path = "apscheduler.schedulers.blocking:BlockingScheduler"
    executor_path = "apscheduler.executors.pool:ThreadPoolExecutor"

    def __init__(self) -> None:
        self._looping: set[int] = set()
        self._threads: list[threading.Thread] = []

    def make_scheduler(self, **options: Any) -> Any:
        scheduler = super().make_scheduler(**options)
        main_loop = scheduler._main_loop

        def note_and_loop() -> None:
            self._looping.add(threading.get_ident())
            main_loop()

        scheduler._main_loop = note_and_loop
        return scheduler

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if getattr(func, "__name__", None) != "start":
            return func(*args, **kwargs)

        failure: list[BaseException] = []

        def main() -> None:
            try:
                func(*args, **kwargs)
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=main, name="main-loop", daemon=True)
        thread.start()
        self._threads.append(thread)
        _poll(
            lambda: not thread.is_alive() or thread.ident in self._looping,
            TIMEOUT,
            lambda: time.sleep(POLL_INTERVAL),
        )
        if failure:
            raise failure[0]

    def close(self) -> None:
        for thread in self._threads:
            thread.join(TIMEOUT)


class AsyncIOHarness(Harness):
    """An event loop in a thread of its own; the scheduler takes it as the running loop."""

    scheduler_path = "apscheduler.schedulers.asyncio:AsyncIOScheduler"
    executor_path = "apscheduler.executors.asyncio:AsyncIOExecutor"

    def __init__(self, name: str, new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self.name = name
        self.loop = new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"{name}-loop")
        self.thread.start()

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def in_loop() -> Any:
            return func(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(in_loop(), self.loop).result(TIMEOUT)

    def close(self) -> None:
        async def cancel_leftover_tasks() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_leftover_tasks(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self._close_loop()

    def _close_loop(self) -> None:
        self.loop.close()


class TornadoHarness(AsyncIOHarness):
    """Tornado's IOLoop over an asyncio loop in a thread; the scheduler takes IOLoop.current()."""

    scheduler_path = "apscheduler.schedulers.tornado:TornadoScheduler"
    executor_path = "apscheduler.executors.tornado:TornadoExecutor"

    def __init__(self) -> None:
        from tornado.ioloop import IOLoop

        super().__init__("tornado", asyncio.new_event_loop)
        self.io_loop = self.call(IOLoop.current)

    def _close_loop(self) -> None:
        self.io_loop.close()  # also forgets the IOLoop that wraps the asyncio loop


class TwistedHarness(Harness):
    """The process's one reactor, running in a thread for the whole test session."""

    name = "twisted"
    scheduler_path = "apscheduler.schedulers.twisted:TwistedScheduler"
    executor_path = "apscheduler.executors.twisted:TwistedExecutor"

    reactor_thread_name = REACTOR_THREAD_NAME

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor

    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from twisted.internet.threads import blockingCallFromThread

        return blockingCallFromThread(self.reactor, func, *args, **kwargs)


class GeventHarness(Harness):
    """gevent without monkey patching: the hub runs in the test's thread while it waits."""

    name = "gevent"
    scheduler_path = "apscheduler.schedulers.gevent:GeventScheduler"
    executor_path = "apscheduler.executors.gevent:GeventExecutor"

    def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        import gevent

        return _poll(predicate, timeout, lambda: gevent.sleep(POLL_INTERVAL))

    def flush(self) -> None:
        import gevent

        gevent.sleep(0)
        gevent.sleep(0)


class QtHarness(Harness):
    """The application's event loop runs in the test's thread while it waits."""

    name = "qt"
    scheduler_path = "apscheduler.schedulers.qt:QtScheduler"
    executor_path = "apscheduler.executors.pool:ThreadPoolExecutor"

    def __init__(self, app: Any) -> None:
        self.app = app

    def _turn(self) -> None:
        self.app.processEvents()
        time.sleep(POLL_INTERVAL)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        return _poll(predicate, timeout, self._turn)

    def flush(self) -> None:
        self.app.processEvents()
        self.app.processEvents()


class TwistedReactorThread:
    """Runs the global reactor in a thread: a reactor can run only once in a process."""

    def __init__(self) -> None:
        from twisted.internet import reactor

        self.reactor = reactor
        self.thread = threading.Thread(
            target=reactor.run,
            kwargs={"installSignalHandlers": False},
            name=REACTOR_THREAD_NAME,
        )
        self.thread.start()
        started = threading.Event()
        reactor.callFromThread(started.set)
        if not started.wait(TIMEOUT):
            raise RuntimeError("the Twisted reactor did not start")

    def stop(self) -> None:
        self.reactor.callFromThread(self.reactor.stop)
        self.thread.join(TIMEOUT)
