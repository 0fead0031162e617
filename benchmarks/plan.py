"""
What the benchmark runs: each scenario's script, its arguments, how often, and the figures
it reports with the goal set for this library.

Three sides: ours, APScheduler 3.11 (the same script, the 3.x API) and APScheduler 4.0 (the
scenario's ``*_v4.py`` variant, written against 4.0's API, where one maps onto it). Goals are
set against 3.11 unless a figure says otherwise; a scenario without a side leaves its column
"n/a".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

#: ``goal(ours, peer)`` with the medians; ``peer`` is ``None`` when the peer has no figure
Goal = Callable[[float, "float | None"], "bool | None"]
#: the sides, in the order of the table's columns
SIDES: tuple[str, ...] = ("ours", "3.11", "4.0")
PEER_SIDES: tuple[str, ...] = SIDES[1:]


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
    :param compare: ``False`` for figures whose ratio means nothing (a difference, a count
        that checks the run): no ratio column, not among the figures where ours is worse
    """

    key: str
    label: str
    unit: str
    higher_is_better: bool = False
    goal: Goal | None = None
    goal_text: str = ""
    digits: int = 1
    compare: bool = True


@dataclass(frozen=True)
class Scenario:
    """
    One scenario: its script per side, its arguments, how often it runs, what it reports.

    :param script: the script ours and 3.11 run (the 3.x API)
    :param script_v4: the variant 4.0 runs, ``None`` where the scenario has no 4.0 counterpart
    :param with_311: ``False`` where 3.11 cannot run the scenario (several processes sharing
        a store): its column says "n/a"
    :param servers: the servers it needs (``postgresql``, ``redis``); the runner starts them
    :param timeout: seconds one run of the script may take
    :param v4_args: extra arguments of the 4.0 variant (``v4_quick_args`` in a quick run)
    """

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
    script_v4: str | None = None
    with_311: bool = True
    servers: tuple[str, ...] = ()
    #: appended to the arguments of the 4.0 side (its time budgets), in full and quick runs
    v4_args: tuple[str, ...] = ()
    v4_quick_args: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return SCENARIO_DIR / self.script

    def script_for(self, side: str) -> Path | None:
        """The script ``side`` runs, ``None`` if the scenario has nothing for that side."""
        if side == "4.0":
            return SCENARIO_DIR / self.script_v4 if self.script_v4 else None
        if side == "3.11" and not self.with_311:
            return None
        return self.path

    def args_for(self, side: str, quick: bool) -> tuple[str, ...]:
        args = self.quick_args if quick else self.args
        if side == "4.0":
            args += self.v4_quick_args if quick else self.v4_args
        return args


def at_least_times_peer(factor: float) -> Goal:
    return lambda ours, peer: None if peer is None else ours >= factor * peer


def at_most_fraction_of_peer(factor: float) -> Goal:
    return lambda ours, peer: None if peer is None else ours * factor <= peer


def at_most_times_peer(factor: float) -> Goal:
    """At most ``factor`` times the peer's figure (a time that may be up to twice 3.11's)."""
    return lambda ours, peer: None if peer is None else ours <= factor * peer


def below_peer_and_at_most(limit: float) -> Goal:
    return lambda ours, peer: None if peer is None else ours < peer and ours <= limit


def at_most(limit: float) -> Goal:
    return lambda ours, peer: ours <= limit


def at_least(limit: float) -> Goal:
    return lambda ours, peer: ours >= limit


ADD_JOB_SIZES = (1_000, 10_000, 100_000, 300_000)
QUICK_ADD_JOB_SIZES = (1_000, 10_000, 50_000)
#: how much later than alone the 100 ms job may start beside the idle jobs: its p99 over a
#: run is the largest few of ~100 starts, which moves by about this much between runs of the
#: same code on an idle machine (the timer's floor is ~0.1 ms)
INTERVAL_BESIDE_TOLERANCE_MS = 0.1
#: how much more of a core a scheduler on a notifying store may use idle than 3.11's, for the
#: one connection that waits for the store's notifications (it wakes for a heartbeat only)
IDLE_LISTENER_ALLOWANCE_PERCENT = 0.05
MULTIPROCESS_COUNTS = (1, 2, 4)


def _add_job_metrics(sizes: tuple[int, ...]) -> tuple[Metric, ...]:
    rates = tuple(
        Metric(
            f"rate_at.{size}",
            f"add_job rate at {size:,} jobs",
            "jobs/s",
            higher_is_better=True,
            goal=at_least_times_peer(5),
            goal_text=">= 5x 3.11",
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
        script_v4="simultaneous_jobs_v4.py",
        args=("--added", added),
        quick_args=("--added", added),
        repeats=5,
        quick_repeats=2,
        timeout=120,
        metrics=_lateness_metrics()
        + (Metric("ran", "jobs that ran (of 500)", "", True, digits=0, compare=False),),
    )


#: the store's round trips to its database in a burst run (scenarios/_round_trips.py says
#: what one is); figures for context, without a goal
ROUND_TRIP_METRICS = (
    Metric("round_trips", "round trips in the run (start to shutdown)", "", digits=0),
    Metric("round_trips_per_add", "round trips per add_job", "", digits=2),
    Metric("idle_round_trips_per_s", "round trips per s, waiting for the due time", "", digits=1),
    # how the work was split, neither better nor worse in itself
    Metric(
        "claimed_batches",
        "claimed batches (claims that returned jobs)",
        "",
        digits=0,
        compare=False,
    ),
    Metric("burst_round_trips", "round trips in the burst", "", digits=0),
    Metric("round_trips_per_batch", "round trips in the burst per claimed batch", "", digits=2),
    Metric(
        "burst_round_trips_outside_store_methods",
        "round trips in the burst outside store methods (listener)",
        "",
        digits=0,
    ),
)

#: the stores 4.0 has a counterpart for (it has no Redis data store, only a Redis event broker)
V4_STORES = ("sqlite", "postgresql")
STORE_SERVERS = {"postgresql": ("postgresql",), "redis": ("redis",)}


def _store_burst(store: str, title: str, fraction: int | None) -> Scenario:
    """
    The burst of 200 jobs due at once, kept in a persistent store.

    :param fraction: the goal: our max lateness at most this fraction (1/n) of the peer's;
        ``None`` to report the figures without a goal
    """
    goal: dict[str, Any] = {}
    if fraction is not None:
        goal = {"goal": at_most_fraction_of_peer(fraction), "goal_text": f"<= 3.11 / {fraction}"}

    return Scenario(
        name=f"store_burst_{store}",
        title=title,
        script="store_burst.py",
        script_v4="store_burst_v4.py" if store in V4_STORES else None,
        args=("--store", store),
        quick_args=("--store", store),
        repeats=5,
        quick_repeats=1,
        timeout=120,
        servers=STORE_SERVERS.get(store, ()),
        metrics=(
            Metric("p50_ms", "start lateness p50", "ms", digits=2),
            Metric("p99_ms", "start lateness p99", "ms", digits=2),
            Metric("max_ms", "start lateness max", "ms", digits=2, **goal),
            Metric("ran", "jobs that ran (of 200)", "", True, digits=0, compare=False),
            Metric("add_seconds", "time to add the 200 jobs", "s", digits=3),
            *ROUND_TRIP_METRICS,
        ),
    )


def _store_bursts() -> list[Scenario]:
    scenarios = [
        _store_burst("sqlite", "8a. SQLite store: 200 jobs due at once, 20 threads", 3),
        _store_burst("redis", "8b. Redis store: 200 jobs due at once, 20 threads", 2),
        _store_burst("postgresql", "8c. PostgreSQL store: 200 jobs due at once, 20 threads", None),
    ]
    # MongoDB needs a server at hand; its figures are given for context
    if os.environ.get("MONGODB_URL"):
        scenarios.append(
            _store_burst("mongodb", "8d. MongoDB store: 200 jobs due at once, 20 threads", None)
        )

    return scenarios


def _store_operations(store: str, title: str) -> Scenario:
    add_goal: dict[str, Any] = (
        {"goal": at_least_times_peer(2), "goal_text": ">= 2x 3.11"}
        if store == "redis"
        else {"goal": at_least_times_peer(1), "goal_text": ">= 1x 3.11"}
    )
    return Scenario(
        name=f"store_ops_{store}",
        title=title,
        script="store_operations.py",
        script_v4="store_operations_v4.py" if store in V4_STORES else None,
        args=("--store", store),
        quick_args=("--store", store, "--repeats", "3"),
        repeats=3,
        quick_repeats=1,
        timeout=300,
        servers=STORE_SERVERS.get(store, ()),
        metrics=(
            Metric("add_rate", "add_job rate (2,000 jobs)", "jobs/s", True, digits=0, **add_goal),
            Metric(
                "get_jobs_ms",
                "get_jobs() of 2,000 jobs",
                "ms",
                goal=at_most_times_peer(1),
                goal_text="<= 3.11's time",
                digits=2,
            ),
            Metric(
                "start_ms",
                "start on the existing table/keys",
                "ms",
                goal=at_most_times_peer(2),
                goal_text="<= 2x 3.11's time",
                digits=2,
            ),
            Metric(
                "shutdown_ms",
                "shutdown",
                "ms",
                goal=at_most_times_peer(2),
                goal_text="<= 2x 3.11's time",
                digits=2,
            ),
            Metric("stored", "jobs listed", "", True, digits=0, compare=False),
        ),
    )


def _idle_cpu(store: str, title: str, quick: bool) -> Scenario:
    seconds = "5" if quick else "20"
    allowance = IDLE_LISTENER_ALLOWANCE_PERCENT
    return Scenario(
        name=f"idle_cpu_{store}",
        title=title,
        script="idle_cpu_store.py",
        script_v4="idle_cpu_store_v4.py" if store in V4_STORES else None,
        args=("--store", store, "--seconds", seconds),
        quick_args=("--store", store, "--seconds", seconds),
        repeats=3,
        quick_repeats=1,
        timeout=120,
        servers=STORE_SERVERS.get(store, ()),
        metrics=(
            Metric(
                "cpu_percent",
                f"CPU of one core while idle, over {seconds} s",
                "%",
                goal=lambda ours, peer: None if peer is None else ours <= peer + allowance,
                goal_text=f"<= 3.11 + {allowance} %",
                digits=3,
            ),
            Metric("wakeups_per_s", "voluntary context switches per s", "/s", digits=1),
        ),
    )


def _multiprocess(jobs: int, quick: bool) -> Scenario:
    metrics: list[Metric] = []
    for processes in MULTIPROCESS_COUNTS:
        label = f"{processes} process{'es' if processes > 1 else ''}"
        key = str(processes)
        last_goal: dict[str, Any] = {}
        if jobs >= 10_000 and processes == 4:
            last_goal = {"goal": at_most(2.0), "goal_text": "<= 2 s"}
        metrics += [
            Metric(f"throughput.{key}", f"{label}: jobs started per s", "jobs/s", True, digits=0),
            Metric(f"p50_ms.{key}", f"{label}: lag p50", "ms", digits=1),
            Metric(f"p99_ms.{key}", f"{label}: lag p99", "ms", digits=1),
            Metric(f"last_s.{key}", f"{label}: last start after due", "s", digits=2, **last_goal),
            Metric(
                f"ran.{key}",
                f"{label}: jobs that ran (of {jobs:,})",
                "",
                True,
                digits=0,
                compare=False,
            ),  # fmt: skip
        ]
    big = jobs >= 5_000
    return Scenario(
        name=f"multiprocess_{jobs}",
        title=f"12. PostgreSQL, 1/2/4 processes on one store: {jobs:,} jobs due at once",
        script="multiprocess_store.py",
        script_v4="multiprocess_store_v4.py",
        with_311=False,
        args=("--jobs", str(jobs), "--rounds", "1" if big else "3"),
        quick_args=("--jobs", str(jobs), "--rounds", "1"),
        repeats=1 if big else 2,
        quick_repeats=1,
        # 10,000 jobs, thrice: 4.0 took 11 minutes in all (4 minutes to start them with 4
        # processes), and each round may wait 2 minutes + 1 s per 25 jobs
        timeout=2400 if big else 600,
        servers=("postgresql",),
        metrics=tuple(metrics),
    )


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
    idle_jobs = 20_000 if quick else 100_000
    tolerance = INTERVAL_BESIDE_TOLERANCE_MS
    held = 5_000 if quick else 10_000
    return [
        Scenario(
            name="add_job",
            title="1. add_job into a running BackgroundScheduler (memory store)",
            script="add_job_rate.py",
            script_v4="add_job_rate_v4.py",
            args=size_arg,
            quick_args=size_arg,
            # 4.0's memory store slows down as it fills: it stops filling after this long
            v4_args=("--budget-seconds", "60"),
            v4_quick_args=("--budget-seconds", "10"),
            repeats=3,
            quick_repeats=1,
            timeout=600,
            metrics=_add_job_metrics(sizes),
        ),
        Scenario(
            name="remove_job",
            title=f"2. remove_job on a running scheduler holding {held:,} jobs (memory store)",
            script="remove_job_rate.py",
            script_v4="remove_job_rate_v4.py",
            # 4.0's memory store takes ~20 s to hold 10,000 schedules: a quick run has fewer
            quick_args=("--jobs", "5000", "--removed", "1000"),
            repeats=3,
            quick_repeats=1,
            timeout=300,
            metrics=(
                Metric(
                    "rate",
                    f"remove_job rate ({held // 5:,} of {held:,} jobs, at random)",
                    "jobs/s",
                    True,
                    goal=at_least_times_peer(3),
                    goal_text=">= 3x 3.11",
                    digits=0,
                ),
                Metric("left", "jobs left", "", True, digits=0, compare=False),
            ),
        ),
        _simultaneous(
            "while_running", "3a. 500 jobs due at once, 20 threads (added while running)"
        ),
        _simultaneous("before_start", "3b. 500 jobs due at once, 20 threads (added before start)"),
        Scenario(
            name="interval_lateness",
            title=f"4. one 100 ms interval job: alone, then beside {idle_jobs:,} idle jobs",
            script="interval_lateness.py",
            script_v4="interval_lateness_v4.py",
            args=("--jobs", str(idle_jobs), "--seconds", "10"),
            quick_args=("--jobs", str(idle_jobs), "--seconds", "3"),
            v4_args=("--budget-seconds", "60"),
            v4_quick_args=("--budget-seconds", "10"),
            repeats=5,
            quick_repeats=1,
            timeout=300,
            metrics=(
                Metric("alone_p50_ms", "alone: start lateness p50", "ms", digits=3),
                Metric(
                    "alone_p99_ms",
                    "alone: start lateness p99",
                    "ms",
                    goal=below_peer_and_at_most(0.3),
                    goal_text="< 3.11 and <= 0.3 ms",
                    digits=3,
                ),
                Metric("beside_p50_ms", "beside idle jobs: start lateness p50", "ms", digits=3),
                Metric(
                    "beside_p99_ms",
                    "beside idle jobs: start lateness p99",
                    "ms",
                    goal=below_peer_and_at_most(0.3),
                    goal_text="< 3.11 and <= 0.3 ms",
                    digits=3,
                ),
                Metric(
                    "beside_minus_alone_p99_ms",
                    "p99 beside minus p99 alone",
                    "ms",
                    goal=at_most(tolerance),
                    goal_text=f"<= {tolerance} ms (no worse than alone)",
                    digits=3,
                    compare=False,
                ),
                Metric(
                    "runs", "starts measured (alone + beside)", "", True, digits=0, compare=False
                ),
            ),
        ),
        Scenario(
            name="idle_jobs",
            title=f"5. {idle_jobs // 1000}k idle jobs stored (memory store)",
            script="idle_jobs.py",
            script_v4="idle_jobs_v4.py",
            args=("--measure", "rss"),
            quick_args=("--measure", "rss", "--jobs", str(idle_jobs), "--idle-seconds", "1"),
            v4_args=("--budget-seconds", "60"),
            v4_quick_args=("--budget-seconds", "10"),
            repeats=3,
            quick_repeats=1,
            timeout=300,
            metrics=(
                Metric(
                    "rss_bytes_per_job",
                    "RSS growth per job",
                    "B",
                    goal=at_most(300),
                    goal_text="<= 300 B",
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
                Metric("fill_seconds", "time to add the jobs", "s", digits=2),
            ),
        ),
        Scenario(
            name="idle_jobs_tracemalloc",
            title="5'. idle jobs: Python allocations per job (tracemalloc)",
            script="idle_jobs.py",
            script_v4="idle_jobs_v4.py",
            args=("--measure", "tracemalloc"),
            quick_args=("--measure", "tracemalloc", "--jobs", str(idle_jobs)),
            v4_args=("--budget-seconds", "60"),
            v4_quick_args=("--budget-seconds", "10"),
            repeats=1,
            quick_repeats=1,
            timeout=300,
            metrics=(
                Metric(
                    "tracemalloc_bytes_per_job",
                    "traced bytes per job",
                    "B",
                    goal=at_most(300),
                    goal_text="<= 300 B",
                    digits=0,
                ),
            ),
        ),
        Scenario(
            name="cron",
            title="6. CronTrigger.get_next_fire_time",
            script="cron_next_fire.py",
            quick_args=("--calls", "500", "--repeats", "3"),
            repeats=3,
            quick_repeats=1,
            timeout=120,
            metrics=cron_metrics(),
        ),
        Scenario(
            name="import",
            title="7. import the thread-based scheduler (fresh interpreter, compiled sources)",
            script="import_time.py",
            script_v4="import_time_v4.py",
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
        _store_operations("sqlite", "10a. SQLite store: 2,000 jobs listed, start and shutdown"),
        _store_operations(
            "postgresql", "10b. PostgreSQL store: 2,000 jobs listed, start and shutdown"
        ),
        _store_operations("redis", "10c. Redis store: 2,000 jobs listed, start and shutdown"),
        _idle_cpu("postgresql", "11a. idle scheduler on a PostgreSQL store (100 jobs)", quick),
        _idle_cpu("redis", "11b. idle scheduler on a Redis store (100 jobs)", quick),
        _multiprocess(100, quick),
        _multiprocess(500 if quick else 10_000, quick),
    ]
