"""
Helpers shared by the scenario scripts.

Every scenario script is run by two interpreters: one with this library installed and one with
APScheduler 3.11, the release it is compared with. So the scripts use only the public 3.x API and
the standard library, and each prints one JSON object on its last line of output. A scenario's
``*_v4.py`` variant does the same with APScheduler 4.0's API, for the third side.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

# A zone with daylight saving time, as most users' local zones have; both libraries accept
# zoneinfo objects and zone names.
ZONE_NAME = "Europe/Berlin"


def parse_args(description: str, defaults: dict[str, Any]) -> argparse.Namespace:
    """Parse ``--name value`` options whose types are those of their ``defaults``."""
    parser = argparse.ArgumentParser(description=description)
    for name, default in defaults.items():
        option = "--" + name.replace("_", "-")
        if isinstance(default, list):
            parser.add_argument(
                option, type=lambda text: [int(part) for part in text.split(",")], default=default
            )
        else:
            parser.add_argument(option, type=type(default), default=default)

    return parser.parse_args()


def library_info() -> dict[str, str]:
    """Say which apscheduler this interpreter imported, so a mixed-up run is caught."""
    from importlib import metadata

    import apscheduler

    return {
        # 4.0 has no version attribute; its distribution metadata says the same
        "version": str(getattr(apscheduler, "version", None) or metadata.version("APScheduler")),
        "location": os.path.dirname(apscheduler.__file__),
        "python": sys.version.split()[0],
    }


def emit(metrics: dict[str, Any]) -> None:
    """Print the result line the runner reads (the last line of standard output)."""
    print(json.dumps({"library": library_info(), "metrics": metrics}), flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` (nearest rank, as latency reports use)."""
    if not values:
        return math.nan

    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
    return ordered[rank]


def lateness_figures(
    started_at: Sequence[float], due_timestamp: float, all_ran: bool
) -> dict[str, Any]:
    """Start lateness of jobs due at one instant (p50, p99, max, in ms), and how many ran."""
    lateness_ms = [(start - due_timestamp) * 1000 for start in started_at]
    return {
        "p50_ms": percentile(lateness_ms, 0.50),
        "p99_ms": percentile(lateness_ms, 0.99),
        "max_ms": max(lateness_ms, default=float("nan")),
        "ran": len(started_at),
        "all_ran": all_ran,
        "early": sum(1 for value in lateness_ms if value < 0),
    }


def rss_bytes() -> int:
    """Return the resident set size of this process (Linux), or 0 where it cannot be read."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0

    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def settle() -> None:
    """Collect garbage and give other threads a moment, before reading memory or CPU figures."""
    gc.collect()
    time.sleep(0.2)
    gc.collect()


def wait_until(condition: Any, timeout: float) -> bool:
    """Poll ``condition()`` every few milliseconds until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)

    return True
