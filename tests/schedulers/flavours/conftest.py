"""
Fixtures for the scheduler flavours: a harness per framework, a scheduler on it, its events.

A test that takes the ``harness`` fixture runs once per flavour. The ``flavours`` marker
narrows that down: ``@pytest.mark.flavours("asyncio", "tornado")``.

A framework that is not installed skips its tests locally and fails them in CI.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apscheduler.events import EVENT_ALL, SchedulerEvent
from tests.schedulers.flavours.harnesses import (
    AsyncIOHarness,
    BackgroundHarness,
    BlockingHarness,
    GeventHarness,
    Harness,
    QtHarness,
    TornadoHarness,
    TwistedHarness,
    TwistedReactorThread,
)
from tests.services import require_module

# Qt needs no display for this: a QCoreApplication draws nothing, and examples that build a
# QApplication draw off screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ALL_FLAVOURS = (
    "blocking",
    "background",
    "asyncio",
    "uvloop",
    "gevent",
    "tornado",
    "twisted",
    "qt",
)
#: the flavours whose executors run coroutine functions as coroutines
COROUTINE_FLAVOURS = ("asyncio", "uvloop", "tornado")
#: the flavours whose default executors run plain functions outside the loop's thread
THREADED_FLAVOURS = ("blocking", "background", "asyncio", "uvloop", "tornado", "twisted", "qt")


def require_for_module(name: str) -> None:
    """
    At the top of a test module: skip the module when ``name`` is not installed (fail in CI).

    In CI the missing package makes the module fail to import, which fails the run.
    """
    if importlib.util.find_spec(name) is None:
        if os.environ.get("CI") == "true":
            raise ImportError(f"the Python package {name!r} is not installed")
        pytest.skip(f"the Python package {name!r} is not installed", allow_module_level=True)


def import_afresh(monkeypatch, module_name, hidden_packages):
    """
    Import ``module_name`` again as if ``hidden_packages`` were not installed.

    Everything is put back afterwards, the parent package's attribute included, so later tests
    see the module they saw before.
    """
    for name in list(sys.modules):
        if any(name == hidden or name.startswith(f"{hidden}.") for hidden in hidden_packages):
            monkeypatch.setitem(sys.modules, name, None)
    for hidden in hidden_packages:
        monkeypatch.setitem(sys.modules, hidden, None)

    parent_name, _, child_name = module_name.rpartition(".")
    parent = importlib.import_module(parent_name)
    if module_name in sys.modules:
        monkeypatch.delitem(sys.modules, module_name)
    monkeypatch.setattr(parent, child_name, getattr(parent, child_name, None), raising=False)
    return importlib.import_module(module_name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "flavours(*names): run a test taking `harness` only for these flavours"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "harness" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("flavours")
        names = marker.args if marker else ALL_FLAVOURS
        metafunc.parametrize("harness", names, indirect=True)


@pytest.fixture(scope="session")
def twisted_reactor() -> Iterator[Any]:
    """The global reactor, running in a thread until the session ends."""
    require_module("twisted")
    runner = TwistedReactorThread()
    yield runner.reactor
    runner.stop()


@pytest.fixture(scope="session")
def qt_app() -> Any:
    require_module("PySide6")
    from apscheduler.schedulers.qt import QtCore

    # one application per process, kept for the whole session
    return QtCore.QCoreApplication.instance() or QtCore.QCoreApplication([])


def _build_harness(name: str, request: pytest.FixtureRequest) -> Harness:
    if name == "blocking":
        return BlockingHarness()
    if name == "background":
        return BackgroundHarness()
    if name == "asyncio":
        return AsyncIOHarness("asyncio", asyncio.new_event_loop)
    if name == "uvloop":
        require_module("uvloop")
        import uvloop

        return AsyncIOHarness("uvloop", uvloop.new_event_loop)
    if name == "gevent":
        require_module("gevent")
        return GeventHarness()
    if name == "tornado":
        require_module("tornado")
        return TornadoHarness()
    if name == "twisted":
        return TwistedHarness(request.getfixturevalue("twisted_reactor"))
    if name == "qt":
        return QtHarness(request.getfixturevalue("qt_app"))

    raise LookupError(f"no harness for the flavour {name!r}")


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    built = _build_harness(request.param, request)
    yield built
    built.close()


class EventLog:
    """Records the scheduler's events, from whichever thread they come."""

    def __init__(self) -> None:
        self.events: list[SchedulerEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: SchedulerEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, code: int, job_id: str | None = None) -> list[SchedulerEvent]:
        with self._lock:
            return [
                event
                for event in self.events
                if event.code == code and (job_id is None or event.job_id == job_id)
            ]

    def has(self, code: int, job_id: str | None = None, count: int = 1) -> Callable[[], bool]:
        """A predicate for ``wait_until``: at least ``count`` such events have arrived."""
        return lambda: len(self.of(code, job_id)) >= count


@pytest.fixture
def event_log() -> EventLog:
    return EventLog()


@pytest.fixture
def scheduler(harness: Harness, event_log: EventLog) -> Iterator[Any]:
    """The flavour's scheduler in UTC, stopped, its events going to ``event_log``."""
    built = harness.make_scheduler()
    built.add_listener(event_log, EVENT_ALL)
    yield built
    if built.running:
        harness.call(built.shutdown)
