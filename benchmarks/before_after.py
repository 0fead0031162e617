"""
Compare two source trees of this library, before and after a change, on the store benchmarks.

For each tree in turn, alternately (the first tree of a round goes last in the next), it runs
the store burst scenario (``scenarios/store_burst.py``: start lateness of 200 jobs due at once,
and the store's round trips) on each store, and ``multiprocess.py`` (throughput and lag of 1, 2
and 4 scheduler processes on one store). The same interpreter runs both trees; only the
``apscheduler`` it imports differs (``PYTHONPATH`` points at the tree, and every result says
which one it imported, which is checked). The scripts are this folder's, so both trees are
measured the same way. The table gives the medians over all runs, the spread (min-max) and the
ratio of the medians (second tree / first tree); the raw runs go to a JSON file.

Usage::

    python benchmarks/before_after.py --tree before=/path/to/old/checkout --tree after=.

A second checkout of an older commit is made with ``git worktree add PATH COMMIT``. PostgreSQL:
``POSTGRES_URL``, or a throwaway server when PostgreSQL is installed; MongoDB (``--stores``
with ``mongodb``): ``MONGODB_URL``, or a throwaway SecantusDB server when it is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import servers
from plan import SCENARIO_DIR, Metric, Scenario, _store_burst
from report import format_table, summarise
from run import clean_environment

BENCHMARKS = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS.parent
BURST_STORES = ("sqlite", "redis", "postgresql", "mongodb")
MULTIPROCESS_STORES = ("postgresql", "redis", "sqlite")
PROCESS_COUNTS = (1, 2, 4)


class RunFailed(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Tree:
    name: str
    path: Path

    def environment(self, servers: dict[str, str]) -> dict[str, str]:
        return {**clean_environment(), **servers, "PYTHONPATH": str(self.path)}

    def check(self, library: dict[str, str]) -> None:
        location = Path(library["location"]).resolve()
        if location != self.path / "apscheduler":
            raise RunFailed(f"the {self.name} run imported apscheduler from {location}")


def parse_tree(text: str) -> Tree:
    name, separator, path = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, not {text!r}")
    resolved = Path(path).resolve()
    if not (resolved / "apscheduler" / "__init__.py").exists():
        raise argparse.ArgumentTypeError(f"{resolved} holds no apscheduler package")
    return Tree(name, resolved)


def run_command(command: list[str], tree: Tree, servers: dict[str, str], cwd: str) -> str:
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        env=tree.environment(servers),
    )
    if completed.returncode != 0:
        raise RunFailed(
            f"{' '.join(command)} failed for {tree.name} (exit {completed.returncode}):\n"
            f"{completed.stderr[-3000:]}"
        )
    return completed.stdout


def burst_run(tree: Tree, store: str, servers: dict[str, str], workdir: str) -> dict[str, Any]:
    script = str(SCENARIO_DIR / "store_burst.py")
    output = run_command([sys.executable, script, "--store", store], tree, servers, workdir)
    result = json.loads(output.strip().splitlines()[-1])
    tree.check(result["library"])
    return dict(result["metrics"])


def multiprocess_run(
    tree: Tree, stores: list[str], rounds: int, servers: dict[str, str]
) -> dict[str, Any]:
    """One run of multiprocess.py, its rows as ``{store_processes: {figure: value}}``."""
    with tempfile.TemporaryDirectory(prefix="aps-before-after-") as folder:
        rows_file = Path(folder) / "rows.json"
        command = [
            sys.executable, str(BENCHMARKS / "multiprocess.py"), "--rounds", str(rounds),
            "--stores", ",".join(stores), "--json", str(rows_file),
        ]  # fmt: skip
        # the workers import tests.multiprocess from the tree they run, so it is the cwd
        run_command(command, tree, servers, str(tree.path))
        result = json.loads(rows_file.read_text())
    tree.check(result["library"])
    return {
        f"{row['store']}_{row['processes']}": {
            "throughput": row["throughput"],
            "p50_ms": row["p50"] * 1000,
            "p99_ms": row["p99"] * 1000,
            "round_p99_ms": row["round_p99"] * 1000,
            "runs": row["runs"],
            "expected": row["expected"],
        }
        for row in result["rows"]
    }


def multiprocess_scenario(stores: list[str]) -> Scenario:
    metrics: list[Metric] = []
    for store in stores:
        for processes in PROCESS_COUNTS:
            key = f"{store}_{processes}"
            label = f"{store}, {processes} process{'es' if processes > 1 else ''}"
            metrics += [
                Metric(f"{key}.throughput", f"{label}: throughput", "jobs/s", True, digits=0),
                Metric(f"{key}.p99_ms", f"{label}: lag p99", "ms", digits=1),
                Metric(f"{key}.round_p99_ms", f"{label}: median round p99", "ms", digits=1),
            ]
    return Scenario(
        name="multiprocess",
        title="multiprocess.py: 100 jobs due at once on one store",
        script="",
        metrics=tuple(metrics),
    )


def burst_scenario(store: str) -> Scenario:
    scenario = _store_burst(store, f"store burst, {store}: 200 jobs due at once", None)
    # the goals are set against APScheduler 3.11, not against another tree of this library
    metrics = tuple(dataclasses.replace(metric, goal=None) for metric in scenario.metrics)
    return dataclasses.replace(scenario, metrics=metrics)


@contextlib.contextmanager
def servers_for(stores: set[str]) -> Iterator[dict[str, str]]:
    """The server URLs the scripts need: from the environment, or throwaway servers."""
    started: list[Any] = []
    with servers.servers(stores & {"postgresql", "redis"}) as urls:
        urls = dict(urls)
        if "postgresql" in stores and "POSTGRES_URL" not in urls:
            raise SystemExit("PostgreSQL is not installed: set POSTGRES_URL")
        try:
            if "mongodb" in stores:
                urls["MONGODB_URL"] = os.environ.get("MONGODB_URL") or _start_mongodb(started)
            yield urls
        finally:
            for server in started:
                server.close()


def _start_mongodb(started: list[Any]) -> str:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.servers import SecantusServer

    server = SecantusServer()
    server.start()
    started.append(server)
    return str(server.url)


def scenario_runs(scenario: Scenario) -> str:
    """The key of a scenario's runs."""
    return scenario.name.replace("store_burst_", "burst_")


def method_medians(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """The median over runs of each entry of a ``{method: count}`` figure."""
    names = {name for run in runs for name in run.get(key, {})}
    medians = {
        name: statistics.median(run.get(key, {}).get(name, 0) for run in runs) for name in names
    }
    return dict(sorted(medians.items(), key=lambda item: -item[1]))


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tree", type=parse_tree, action="append", required=True,
        help="NAME=PATH of a source tree; give one or two (the ratio is second / first)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the trees alternate")
    parser.add_argument("--bursts", type=int, default=3, help="burst runs per store per round")
    parser.add_argument("--stores", default="sqlite,redis,postgresql", help="burst stores")
    parser.add_argument(
        "--multiprocess-stores", default=",".join(MULTIPROCESS_STORES),
        help="stores of multiprocess.py ('' to leave it out)",
    )  # fmt: skip
    parser.add_argument("--multiprocess-rounds", type=int, default=4)
    parser.add_argument("--output", type=Path, help="JSON file (default: results/, dated)")
    options = parser.parse_args()
    if len(options.tree) not in (1, 2):
        parser.error("give one or two --tree options")
    return options


def main() -> int:
    options = parse_arguments()
    trees: list[Tree] = options.tree
    burst_stores = [store for store in options.stores.split(",") if store]
    unknown = set(burst_stores) - set(BURST_STORES)
    if unknown:
        raise SystemExit(f"unknown stores: {', '.join(sorted(unknown))}")
    mp_stores = [store for store in options.multiprocess_stores.split(",") if store]
    names = [tree.name for tree in trees]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        scenario: {name: [] for name in names}
        for scenario in [f"burst_{store}" for store in burst_stores] + ["multiprocess"]
    }

    started = time.monotonic()
    with (
        servers_for(set(burst_stores) | set(mp_stores)) as servers,
        tempfile.TemporaryDirectory(prefix="aps-before-after-") as workdir,
    ):
        for round_index in range(options.rounds):
            # the tree that ran first in a round runs last in the next
            order = trees if round_index % 2 == 0 else trees[::-1]
            print(f"round {round_index + 1}: ", end="", file=sys.stderr, flush=True)
            for store in burst_stores:
                for _ in range(options.bursts):
                    for tree in order:
                        runs[f"burst_{store}"][tree.name].append(
                            burst_run(tree, store, servers, workdir)
                        )
                        print(store[0], end="", file=sys.stderr, flush=True)
            if mp_stores:
                for tree in order:
                    runs["multiprocess"][tree.name].append(
                        multiprocess_run(tree, mp_stores, options.multiprocess_rounds, servers)
                    )
                    print("m", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)

    elapsed = time.monotonic() - started
    scenarios = [burst_scenario(store) for store in burst_stores]
    if mp_stores:
        scenarios.append(multiprocess_scenario(mp_stores))
    # the table's columns: the second tree, then the first, and the ratio second / first;
    # with one tree, its figures twice
    sides = (names[-1], names[0])
    summaries = {
        scenario.name: summarise(scenario, runs[scenario_runs(scenario)], sides)
        for scenario in scenarios
    }
    print(format_table(scenarios, summaries, sides))

    print("\nround trips in the burst, by store method (median over runs)")
    for store in burst_stores:
        for name in names:
            medians = method_medians(runs[f"burst_{store}"][name], "burst_round_trips_by_method")
            calls = method_medians(runs[f"burst_{store}"][name], "burst_calls_by_method")
            cells = ", ".join(
                f"{method} {count:g} ({calls.get(method, 0):g} calls)"
                for method, count in medians.items()
            )
            print(f"  {store:<10} {name:<8} {cells}")

    output = options.output or (
        BENCHMARKS / "results" / f"before-after-{datetime.datetime.now():%Y%m%d-%H%M}.json"
    )
    document = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "trees": names,
        "options": {
            "rounds": options.rounds,
            "bursts": options.bursts,
            "multiprocess_rounds": options.multiprocess_rounds,
        },
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "runs": runs,
        "summary": summaries,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{elapsed:.0f} s; results in {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
