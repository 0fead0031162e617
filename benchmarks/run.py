"""
Compare the performance of this library with APScheduler 3.11 and 4.0, side by side.

Every scenario is a script under ``scenarios/`` that uses only the public 3.x API, and where
the scenario maps onto APScheduler 4.0's API, a ``*_v4.py`` variant of it. It runs in a fresh
process per side (this interpreter, with this library installed, and cached virtualenvs with
APScheduler 3.11 and 4.0.0a6 from PyPI), alternately ours, 3.11, 4.0, ours..., so slow phases
of a noisy machine hit every side alike. The report gives the median and the spread (min-max)
of every figure, the ratio of our median to each peer's, and whether our goal is met.
PostgreSQL and Redis come from ``POSTGRES_URL`` and ``REDIS_URL``, or from throwaway servers
(``servers.py``).

Usage::

    python benchmarks/run.py [--quick] [--only add_job,cron] [--peers 3.11,4.0]
                             [--output results.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import peer_env
import servers
from plan import SIDES, Scenario, build_plan
from report import format_table, summarise, worse_rows

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


class ScenarioFailed(RuntimeError):
    pass


def clean_environment() -> dict[str, str]:
    """The variables the scenario processes get: ours, minus anything that redirects imports."""
    environment = dict(os.environ)
    for name in (
        "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONTRACEMALLOC",
        "PYTHONDONTWRITEBYTECODE",
    ):  # fmt: skip
        environment.pop(name, None)

    return environment


def run_once(
    python: str,
    script: Path,
    scenario: Scenario,
    args: tuple[str, ...],
    workdir: str,
    server_urls: dict[str, str],
) -> dict[str, Any]:
    """Run one scenario script in a fresh process and return its JSON result."""
    command = [python, str(script), *args]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=scenario.timeout,
            cwd=workdir,
            env={**clean_environment(), **server_urls},
        )
    except subprocess.TimeoutExpired as exc:
        raise ScenarioFailed(f"{' '.join(command)} took longer than {exc.timeout} s") from None

    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise ScenarioFailed(
            f"{' '.join(command)} failed (exit {completed.returncode}):\n{completed.stderr}"
        )

    result: dict[str, Any] = json.loads(lines[-1])
    return result


def check_library(side: str, library: dict[str, str], python: str) -> None:
    """Refuse results measured on the wrong library (a stray PYTHONPATH, a broken install)."""
    location = Path(library["location"]).resolve()
    if side == "ours":
        if location != REPO_ROOT / "apscheduler":
            raise ScenarioFailed(
                f"this interpreter imports apscheduler from {location}, not from {REPO_ROOT}; "
                f"run the benchmark with the interpreter of a virtualenv where this repository "
                f"is installed (pip install -e .)"
            )
        return

    peer = peer_env.PEERS[side]
    if not (
        library["version"].startswith(peer.version_prefix)
        and Path(python).parent.parent.resolve() in location.parents
    ):
        raise ScenarioFailed(f"the {side} interpreter imported {library}")


COMPILE_LIBRARY = (
    "import apscheduler, compileall, os, sys; "
    "sys.exit(not compileall.compile_dir(os.path.dirname(apscheduler.__file__), quiet=1))"
)


def compile_library(python: str) -> None:
    """
    Compile the ``apscheduler`` package ``python`` imports to bytecode, ahead of an import.

    A peer installed by pip comes compiled; this repository's sources get compiled on their
    first import only. The import scenario compares like with like: both sides from bytecode.
    """
    subprocess.run(
        [python, "-c", COMPILE_LIBRARY],
        check=True,
        capture_output=True,
        cwd=tempfile.gettempdir(),
        env=clean_environment(),
    )


def run_scenario(
    scenario: Scenario,
    pythons: dict[str, str],
    quick: bool,
    repeats: int | None,
    server_urls: dict[str, str],
) -> dict[str, Any]:
    """Run the scenario ``repeats`` times per side, alternating sides, and collect the runs."""
    count = repeats or (scenario.quick_repeats if quick else scenario.repeats)
    sides = [side for side in pythons if scenario.script_for(side) is not None]
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    libraries: dict[str, dict[str, str]] = {}
    missing = [
        server for server in scenario.servers if servers.ENVIRONMENT[server] not in server_urls
    ]
    if missing:
        raise ScenarioFailed(f"no {' or '.join(missing)} server: installed nowhere, not given")
    if scenario.name == "import":
        for side in sides:
            compile_library(pythons[side])
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="apscheduler-bench-") as workdir:
        for _ in range(count):
            for side in sides:
                script = scenario.script_for(side)
                if script is None or side in failures:
                    continue
                try:
                    args = scenario.args_for(side, quick)
                    result = run_once(pythons[side], script, scenario, args, workdir, server_urls)
                    check_library(side, result["library"], pythons[side])
                except ScenarioFailed as exc:
                    if side == "ours":
                        raise
                    # a peer that cannot run the scenario here leaves its column "n/a"
                    failures[side] = str(exc)
                    print("x", end="", file=sys.stderr, flush=True)
                    continue
                # where each side's library lives was checked above; the saved results keep
                # only what was measured, not the paths of this machine
                libraries[side] = {
                    key: value for key, value in result["library"].items() if key != "location"
                }
                runs[side].append(result["metrics"])
                # progress: one letter per finished run (o, 3, 4)
                print(side[0], end="", file=sys.stderr, flush=True)

    for side, error in failures.items():
        last_line = error.strip().splitlines()[-1] if error.strip() else error
        print(f"\n  {side} failed, its column says n/a: {last_line}", end="", file=sys.stderr)
    print(file=sys.stderr)
    outcome: dict[str, Any] = {
        "args": {side: list(scenario.args_for(side, quick)) for side in sides},
        "libraries": libraries,
        "runs": runs,
    }
    if failures:
        # the first lines say what broke, the last ones where it ended
        outcome["peer_errors"] = {
            side: error if len(error) <= 6000 else f"{error[:3000]}\n...\n{error[-3000:]}"
            for side, error in failures.items()
        }
    return outcome


#: what the import scenario imports on each side: the thread-based scheduler
IMPORTED = {"4.0": "from apscheduler import Scheduler"}
DEFAULT_IMPORT = "import apscheduler.schedulers.background"


def import_profile(python: str, side: str) -> list[tuple[str, int]]:
    """Return the ten modules with the largest cumulative import time (µs), via -X importtime."""
    completed = subprocess.run(
        [python, "-X", "importtime", "-c", IMPORTED.get(side, DEFAULT_IMPORT)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tempfile.gettempdir(),
        env=clean_environment(),
    )
    entries = []
    for line in completed.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package"
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            entries.append((parts[2].rstrip(), int(parts[1])))

    return sorted(entries, key=lambda entry: -entry[1])[:10]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--repeats", type=int, help="runs per side for every scenario")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    parser.add_argument(
        "--peers",
        default=",".join(peer_env.PEERS),
        help="comma-separated peers to compare with: 3.11, 4.0 (default: both)",
    )
    parser.add_argument(
        "--peer-python",
        help="interpreter that has APScheduler 3.11 installed (default: a cached virtualenv)",
    )
    parser.add_argument(
        "--peer-python-4",
        help="interpreter that has APScheduler 4.0.0a6 installed (default: a cached virtualenv)",
    )
    return parser.parse_args()


def main() -> int:
    options = parse_arguments()
    plan = build_plan(options.quick)
    if options.only:
        wanted = set(options.only.split(","))
        unknown = wanted - {scenario.name for scenario in plan}
        if unknown:
            print(f"Unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        plan = [scenario for scenario in plan if scenario.name in wanted]

    peers = [peer for peer in options.peers.split(",") if peer]
    unknown = set(peers) - set(peer_env.PEERS)
    if not peers:
        print("Give at least one peer: --peers 3.11,4.0", file=sys.stderr)
        return 2
    if unknown:
        print(f"Unknown peers: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    explicit = {"3.11": options.peer_python, "4.0": options.peer_python_4}
    pythons = {"ours": sys.executable}
    for peer in peer_env.PEERS:  # in the table's order
        if peer in peers:
            pythons[peer] = explicit[peer] or str(
                peer_env.ensure_peer_python(peer=peer_env.PEERS[peer])
            )

    started = time.monotonic()
    results: dict[str, Any] = {}
    summaries: dict[str, Any] = {}
    wanted_servers = {server for scenario in plan for server in scenario.servers}
    with servers.servers(wanted_servers) as server_urls:
        for scenario in plan:
            print(f"{scenario.title} ", end="", file=sys.stderr, flush=True)
            scenario_started = time.monotonic()
            try:
                results[scenario.name] = run_scenario(
                    scenario, pythons, options.quick, options.repeats, server_urls
                )
            except ScenarioFailed as exc:
                print(f"\n  FAILED: {exc}", file=sys.stderr)
                results[scenario.name] = {"error": str(exc)}
                continue
            results[scenario.name]["seconds"] = round(time.monotonic() - scenario_started, 1)
            summaries[scenario.name] = summarise(
                scenario, results[scenario.name]["runs"], tuple(pythons)
            )
            results[scenario.name]["summary"] = summaries[scenario.name]
            if scenario.name == "import":
                results[scenario.name]["slowest_imports_us"] = {
                    side: import_profile(python, side) for side, python in pythons.items()
                }

    elapsed = time.monotonic() - started
    print()
    # the columns: ours and the peers asked for, in that order
    print(format_table(plan, summaries, tuple(pythons)))
    worse = worse_rows(plan, summaries, tuple(pythons))
    for peer, rows in worse.items():
        print(f"\nfigures where ours is worse than {peer}: {len(rows)}")
        for row in rows:
            print(f"  {row}")
    print(f"\n{elapsed:.0f} s; results in {options.output}")

    document = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if options.quick else "full",
        "peers": [side for side in pythons if side != "ours"],
        "seconds": round(elapsed, 1),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "scenarios": results,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 1 if any("error" in result for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
