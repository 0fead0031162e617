"""Job functions for the dashboard's tests: they record their calls, or wait to be let go."""

from __future__ import annotations

import threading

calls: list[str] = []
#: set to let the runs of :func:`hold` end
release = threading.Event()


def record(label: str) -> None:
    calls.append(label)


def hold() -> None:
    release.wait(30)
