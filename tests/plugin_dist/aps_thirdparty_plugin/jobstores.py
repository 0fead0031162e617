"""A job store built on the library's own memory store."""

from __future__ import annotations

from apscheduler.jobstores.memory import MemoryJobStore


class ThirdPartyMemoryJobStore(MemoryJobStore):
    """A job store that only changes the name of the built-in memory store."""
