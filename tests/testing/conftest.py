"""Schedulers of every thread-based kind, on the public fake clock, for the tests of apscheduler.testing."""

from __future__ import annotations

import threading
from datetime import timezone

import pytest

from apscheduler.events import EVENT_SCHEDULER_START
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

# the fixture as a user gets it (the plugin module's documented way is a pytest_plugins line)
from apscheduler.testing.pytest_plugin import scheduler_clock  # noqa: F401

UTC = timezone.utc


class LooplessScheduler(BaseScheduler):
    """A scheduler with no loop of its own: nothing processes jobs unless a test does."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        pass


class BlockingInThread:
    """A BlockingScheduler started in a thread of its own, as some applications run it."""

    def __init__(self, **options):
        self.scheduler = BlockingScheduler(**options)
        self.thread = threading.Thread(target=self.scheduler.start, daemon=True)

    def start(self):
        started = threading.Event()
        self.scheduler.add_listener(lambda event: started.set(), EVENT_SCHEDULER_START)
        self.thread.start()
        assert started.wait(5), "the scheduler did not start"


def make_store(kind, tmp_path):
    if kind == "memory":
        return MemoryJobStore()

    pytest.importorskip("sqlalchemy")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request):
    return request.param


@pytest.fixture(params=["background", "blocking-in-thread", "loopless"])
def flavour(request):
    return request.param


@pytest.fixture
def make_scheduler(scheduler_clock, tmp_path):  # noqa: F811
    """Build a started scheduler of the given kind on ``scheduler_clock``; shut down after."""
    started = []

    def factory(flavour="background", store="memory", **options):
        options.setdefault("timezone", UTC)
        options.setdefault("clock", scheduler_clock)
        options.setdefault("jobstores", {"default": make_store(store, tmp_path)})
        if flavour == "background":
            scheduler = BackgroundScheduler(**options)
            scheduler.start()
        elif flavour == "blocking-in-thread":
            runner = BlockingInThread(**options)
            scheduler = runner.scheduler
            runner.start()
        else:
            scheduler = LooplessScheduler(**options)
            scheduler.start()
        started.append(scheduler)
        return scheduler

    yield factory
    for scheduler in started:
        if scheduler.running:
            scheduler.shutdown()
