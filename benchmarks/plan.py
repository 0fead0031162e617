"""
What the benchmark runs: each scenario's script, its arguments, how often, and the figures
it reports with the goal set for this library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

Goal = Callable[[float, float], bool]


@dataclass(frozen=True)
class Metric:
    """
    One reported figure.

    :param key: dotted path into the scenario's JSON metrics (``rate_at.1000``)
    :param label: what the table calls it
    :param unit: shown after the numbers
    :param higher_is_better: decides which way "faster" reads in the table
    :param goal: ``goal(ours, peer)`` with the medians; ``None`` for figures given for context
    :param goal_text: the goal in words, for the table
    """

    key: str
    label: str
    unit: str
    higher_is_better: bool = False
    goal: Goal | None = None
    goal_text: str = ""
    digits: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    script: str
    metrics: tuple[Metric, ...]
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    repeats: int = 3
    quick_repeats: int = 1
    timeout: float = 300.0
    notes: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path:
        return SCENARIO_DIR / self.script


def at_least_times_peer(factor: float) -> Goal:
    return lambda ours, peer: ours >= factor * peer


def at_most_fraction_of_peer(factor: float) -> Goal:
    return lambda ours, peer: ours * factor <= peer


def at_most(limit: float) -> Goal:
    return lambda ours, peer: ours <= limit


def at_least(limit: float) -> Goal:
    return lambda ours, peer: ours >= limit


ADD_JOB_SIZES = (1_000, 10_000, 100_000, 300_000)
QUICK_ADD_JOB_SIZES = (1_000, 10_000, 50_000)


def _add_job_metrics(sizes: tuple[int, ...]) -> tuple[Metric, ...]:
    rates = tuple(
        Metric(
            f"rate_at.{size}",
            f"add_job rate at {size:,} jobs",
            "jobs/s",
            higher_is_better=True,
            goal=at_least_times_peer(5),
            goal_text=">= 5x peer",
            digits=0,
        )
        for size in sizes
    )
    return rates + (
        Metric(
            "flatness",
            f"rate at {sizes[-1]:,} / rate at {sizes[0]:,}",
            "",
            higher_is_better=True,
            goal=at_least(0.8),
            goal_text=">= 0.8 (flat)",
            digits=2,
        ),
        Metric("overall_rate", "rate over the whole fill", "jobs/s", True, digits=0),
    )


def _lateness_metrics(prefix: str = "") -> tuple[Metric, ...]:
    return (
        Metric(f"{prefix}p50_ms", "start lateness p50", "ms", digits=2),
        Metric(
            f"{prefix}p99_ms",
            "start lateness p99",
            "ms",
            goal=at_most(20 if not prefix else 2),
            goal_text="<= 20 ms" if not prefix else "<= 2 ms",
            digits=2,
        ),
        Metric(f"{prefix}max_ms", "start lateness max", "ms", digits=2),
    )


def _simultaneous(added: str, title: str) -> Scenario:
    return Scenario(
        name=f"simultaneous_{added}",
        title=title,
        script="simultaneous_jobs.py",
        args=("--added", added),
        quick_args=("--added", added),
        repeats=5,
        quick_repeats=2,
        timeout=120,
        metrics=_lateness_metrics()
        + (Metric("ran", "jobs that ran (of 500)", "", True, digits=0),),
    )


#: the store's round trips to its database in a burst run (scenarios/_round_trips.py says
#: what one is); figures for context, without a goal
ROUND_TRIP_METRICS = (
    Metric("round_trips", "round trips in the run (start to shutdown)", "", digits=0),
    Metric("round_trips_per_add", "round trips per add_job", "", digits=2),
    Metric("idle_round_trips_per_s", "round trips per s, waiting for the due time", "", digits=1),
    Metric("claimed_batches", "claimed batches (claims that returned jobs)", "", digits=0),
    Metric("burst_round_trips", "round trips in the burst", "", digits=0),
    Metric("round_trips_per_batch", "round trips in the burst per claimed batch", "", digits=2),
    Metric(
        "burst_round_trips_outside_store_methods",
        "round trips in the burst outside store methods (listener)",
        "",
        digits=0,
    ),
)


def _store_burst(store: str, title: str, fraction: int | None) -> Scenario:
    """
    The burst of 200 jobs due at once, kept in a persistent store.

    :param fraction: the goal: our max lateness at most this fraction (1/n) of the peer's;
        ``None`` to report the figures without a goal
    """
    goal: dict[str, Any] = {}
    if fraction is not None:
        goal = {"goal": at_most_fraction_of_peer(fraction), "goal_text": f"<= peer / {fraction}"}

    return Scenario(
        name=f"store_burst_{store}",
        title=title,
        script="store_burst.py",
        args=("--store", store),
        quick_args=("--store", store),
        repeats=5,
        quick_repeats=2,
        timeout=120,
        metrics=(
            Metric("p50_ms", "start lateness p50", "ms", digits=2),
            Metric("p99_ms", "start lateness p99", "ms", digits=2),
            Metric("max_ms", "start lateness max", "ms", digits=2, **goal),
            Metric("ran", "jobs that ran (of 200)", "", True, digits=0),
            Metric("add_seconds", "time to add the 200 jobs", "s", digits=3),
            *ROUND_TRIP_METRICS,
        ),
    )


def _store_bursts() -> list[Scenario]:
    scenarios = [
        _store_burst("sqlite", "6a. SQLite store: 200 jobs due at once, 20 threads", 3),
        _store_burst("redis", "6b. Redis store: 200 jobs due at once, 20 threads", 2),
    ]
    # PostgreSQL and MongoDB need a server at hand; their figures are given for context
    if os.environ.get("POSTGRES_URL"):
        scenarios.append(
            _store_burst(
                "postgresql", "6c. PostgreSQL store: 200 jobs due at once, 20 threads", None
            )
        )
    if os.environ.get("MONGODB_URL"):
        scenarios.append(
            _store_burst("mongodb", "6d. MongoDB store: 200 jobs due at once, 20 threads", None)
        )

    return scenarios


def cron_metrics() -> tuple[Metric, ...]:
    schedules = (
        "every 5 min",
        "daily 03:00",
        "weekdays 9-17 hourly",
        "last fri 18:00",
        "crontab 30 2 * * *",
    )
    per_schedule = tuple(
        Metric(f"{kind}_us.{label}", f"{kind.replace('_', ' ')}, {label}", "µs", digits=2)
        for kind in ("consecutive", "from_now")
        for label in schedules
    )
    return (
        Metric(
            "consecutive_geomean_us",
            "consecutive fire times (geo. mean)",
            "µs",
            goal=at_most_fraction_of_peer(5),
            goal_text=">= 5x faster",
            digits=2,
        ),
        Metric(
            "from_now_geomean_us",
            "first fire time from now (geo. mean)",
            "µs",
            goal=at_most_fraction_of_peer(5),
            goal_text=">= 5x faster",
            digits=2,
        ),
    ) + per_schedule


def build_plan(quick: bool) -> list[Scenario]:
    sizes = QUICK_ADD_JOB_SIZES if quick else ADD_JOB_SIZES
    size_arg = ("--sizes", ",".join(str(size) for size in sizes))
    return [
        Scenario(
            name="add_job",
            title="1. add_job into a running BackgroundScheduler (MemoryJobStore)",
            script="add_job_rate.py",
            args=size_arg,
            quick_args=size_arg,
            repeats=3,
            quick_repeats=1,
            timeout=600,
            metrics=_add_job_metrics(sizes),
        ),
        _simultaneous(
            "while_running", "2a. 500 jobs due at once, 20 threads (added while running)"
        ),
        _simultaneous("before_start", "2b. 500 jobs due at once, 20 threads (added before start)"),
        Scenario(
            name="idle_jobs",
            title="3. 100k idle jobs stored" if not quick else "3. 20k idle jobs stored",
            script="idle_jobs.py",
            args=("--measure", "rss"),
            # the 100 ms job's p99 is the largest of 50 samples: more runs steady its median
            quick_args=(
                "--measure",
                "rss",
                "--jobs",
                "20000",
                "--lateness-seconds",
                "2",
                "--idle-seconds",
                "1",
            ),
            repeats=5,
            quick_repeats=1,
            timeout=300,
            metrics=(
                Metric(
                    "rss_bytes_per_job",
                    "RSS growth per job",
                    "B",
                    goal=at_most(400),
                    goal_text="<= 400 B",
                    digits=0,
                ),
                Metric(
                    "idle_cpu_percent",
                    "CPU while idle",
                    "%",
                    goal=at_most(0.5),
                    goal_text="~0 (<= 0.5 %)",
                    digits=3,
                ),
            )
            + _lateness_metrics("job_100ms_")
            + (Metric("fill_seconds", "time to add the jobs", "s", digits=2),),
        ),
        Scenario(
            name="idle_jobs_tracemalloc",
            title="3'. idle jobs: Python allocations per job (tracemalloc)",
            script="idle_jobs.py",
            args=("--measure", "tracemalloc"),
            quick_args=("--measure", "tracemalloc", "--jobs", "20000"),
            repeats=1,
            quick_repeats=1,
            timeout=300,
            metrics=(
                Metric(
                    "tracemalloc_bytes_per_job",
                    "traced bytes per job",
                    "B",
                    goal=at_most(400),
                    goal_text="<= 400 B",
                    digits=0,
                ),
            ),
        ),
        Scenario(
            name="cron",
            title="4. CronTrigger.get_next_fire_time",
            script="cron_next_fire.py",
            quick_args=("--calls", "500", "--repeats", "3"),
            repeats=3,
            quick_repeats=1,
            timeout=120,
            metrics=cron_metrics(),
        ),
        Scenario(
            name="import",
            title="5. import apscheduler.schedulers.background (fresh interpreter)",
            script="import_time.py",
            repeats=15,
            quick_repeats=5,
            timeout=60,
            metrics=(
                Metric(
                    "import_ms",
                    "import time",
                    "ms",
                    goal=at_most_fraction_of_peer(2),
                    goal_text=">= 2x faster",
                    digits=1,
                ),
                Metric("modules_loaded", "modules in sys.modules after", "", digits=0),
            ),
        ),
        *_store_bursts(),
    ]
