"""
The job function of the persistent-store scenarios, in a module of its own.

A persistent store keeps a job's function as a text reference (``module:name``) and imports it
back when the job is due. A function defined in the scenario script itself would belong to
``__main__``, which names a different module in every process; this module is importable by
name from the scenario folder (the folder of the script being run is first on ``sys.path``).
"""

from __future__ import annotations

import time

started_at: list[float] = []


def record_start() -> None:
    """The job: note when it started (list.append is atomic, no lock needed)."""
    started_at.append(time.time())


#: (due instant, start) of every run of :func:`record_due`
due_and_started: list[tuple[float, float]] = []


def record_due(due: float) -> None:
    """The job of the multi-process scenario: note its due instant and when it started."""
    due_and_started.append((due, time.time()))
