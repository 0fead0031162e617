"""Scheduler implementations and the errors about their state."""

from __future__ import annotations


class SchedulerAlreadyRunningError(Exception):
    """Raised when attempting to start or configure the scheduler when it's already running."""

    def __str__(self) -> str:
        return "Scheduler is already running"


class SchedulerNotRunningError(Exception):
    """Raised when attempting to shut down the scheduler when it's not running."""

    def __str__(self) -> str:
        return "Scheduler is not running"
