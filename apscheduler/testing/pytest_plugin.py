"""
A pytest plugin with a :class:`~apscheduler.testing.FakeClock` fixture.

It is not active on its own, so that installing APScheduler adds nothing to a test suite
that does not ask for it. Enable it in the top-level ``conftest.py`` of the test suite::

    pytest_plugins = ["apscheduler.testing.pytest_plugin"]

or for one run with ``pytest -p apscheduler.testing.pytest_plugin``.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from apscheduler.testing import FakeClock

__all__ = ("CLOCK_START", "scheduler_clock")

#: where the clock of the :func:`scheduler_clock` fixture stands when a test begins
CLOCK_START = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def scheduler_clock() -> FakeClock:
    """
    A :class:`~apscheduler.testing.FakeClock` standing at :data:`CLOCK_START`, new for each test.

    Hand it to the scheduler under test with ``clock=scheduler_clock``; call its
    :meth:`~apscheduler.testing.FakeClock.set` first to start elsewhere.
    """
    return FakeClock(CLOCK_START)
