"""Schedulers to measure: stepped on a fake clock, and stores that fail when a test says so."""

from __future__ import annotations

import pytest

from apscheduler.jobstores.memory import MemoryJobStore
from tests.schedulers.conftest import LaterExecutor, events, make_scheduler  # noqa: F401


class FlakyJobStore(MemoryJobStore):
    """A memory store that cannot be reached while ``down`` is set, as a database that is away."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get_due_jobs(self, now):
        if self.down:
            raise ConnectionError("the store is away")
        return super().get_due_jobs(now)


@pytest.fixture
def later_executor():
    return LaterExecutor()


@pytest.fixture
def flaky_store():
    return FlakyJobStore()
