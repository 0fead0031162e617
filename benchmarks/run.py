"""
Compare the performance of this library with APScheduler 3.11, side by side.

Every scenario is a script under ``scenarios/`` that uses only the public 3.x API. It runs in a
fresh process per side (this interpreter, with this library installed, and a cached virtualenv
with APScheduler 3.11 from PyPI), alternately ours, peer, ours, peer..., so slow phases of a
noisy machine hit both sides alike. The report gives the median and the spread (min-max) of
every figure, the ratio ours/peer of the medians, and whether our goal is met.

Usage::

    python benchmarks/run.py [--quick] [--only add_job,cron] [--output results.json]
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
from plan import Scenario, build_plan
from report import SIDES, format_table, summarise

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


class ScenarioFailed(RuntimeError):
    pass


def clean_environment() -> dict[str, str]:
    """The variables the scenario processes get: ours, minus anything that redirects imports."""
    environment = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONTRACEMALLOC"):
        environment.pop(name, None)

    return environment


def run_once(python: str, scenario: Scenario, args: tuple[str, ...], workdir: str) -> dict:
    """Run one scenario script in a fresh process and return its JSON result."""
    command = [python, str(scenario.path), *args]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=scenario.timeout,
            cwd=workdir,
            env=clean_environment(),
        )
    except subprocess.TimeoutExpired as exc:
        raise ScenarioFailed(f"{' '.join(command)} took longer than {exc.timeout} s") from None

    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise ScenarioFailed(
            f"{' '.join(command)} failed (exit {completed.returncode}):\n{completed.stderr}"
        )

    return json.loads(lines[-1])


def check_library(side: str, library: dict[str, str], peer_python: str) -> None:
    """Refuse results measured on the wrong library (a stray PYTHONPATH, a broken install)."""
    location = Path(library["location"]).resolve()
    if side == "ours" and location != REPO_ROOT / "apscheduler":
        raise ScenarioFailed(
            f"this interpreter imports apscheduler from {location}, not from {REPO_ROOT}; "
            f"run the benchmark with the interpreter of a virtualenv where this repository is "
            f"installed (pip install -e .)"
        )
    if side == "peer" and not (
        library["version"].startswith(peer_env.PEER_VERSION_PREFIX)
        and Path(peer_python).parent.parent.resolve() in location.parents
    ):
        raise ScenarioFailed(f"the reference interpreter imported {library}")


def run_scenario(
    scenario: Scenario, pythons: dict[str, str], quick: bool, repeats: int | None
) -> dict[str, Any]:
    """Run the scenario ``repeats`` times per side, alternating sides, and collect the runs."""
    args = scenario.quick_args if quick else scenario.args
    count = repeats or (scenario.quick_repeats if quick else scenario.repeats)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    libraries: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="apscheduler-bench-") as workdir:
        for _ in range(count):
            for side in SIDES:
                result = run_once(pythons[side], scenario, args, workdir)
                check_library(side, result["library"], pythons["peer"])
                # where each side's library lives was checked above; the saved results keep
                # only what was measured, not the paths of this machine
                libraries[side] = {
                    key: value for key, value in result["library"].items() if key != "location"
                }
                runs[side].append(result["metrics"])
                # progress: one letter per finished run
                print(side[0], end="", file=sys.stderr, flush=True)

    print(file=sys.stderr)
    return {"args": list(args), "libraries": libraries, "runs": runs}


def import_profile(python: str) -> list[tuple[str, int]]:
    """Return the ten modules with the largest cumulative import time (µs), via -X importtime."""
    completed = subprocess.run(
        [python, "-X", "importtime", "-c", "import apscheduler.schedulers.background"],
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
        "--peer-python",
        help="interpreter that has APScheduler 3.11 installed (default: a cached virtualenv)",
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

    peer_python = options.peer_python or str(peer_env.ensure_peer_python())
    pythons = {"ours": sys.executable, "peer": peer_python}
    started = time.monotonic()
    results: dict[str, Any] = {}
    summaries: dict[str, Any] = {}
    for scenario in plan:
        print(f"{scenario.title} ", end="", file=sys.stderr, flush=True)
        try:
            results[scenario.name] = run_scenario(
                scenario, pythons, options.quick, options.repeats
            )
        except ScenarioFailed as exc:
            print(f"\n  FAILED: {exc}", file=sys.stderr)
            results[scenario.name] = {"error": str(exc)}
            continue
        summaries[scenario.name] = summarise(scenario, results[scenario.name]["runs"])
        results[scenario.name]["summary"] = summaries[scenario.name]
        if scenario.name == "import":
            results[scenario.name]["slowest_imports_us"] = {
                side: import_profile(python) for side, python in pythons.items()
            }

    elapsed = time.monotonic() - started
    print()
    print(format_table(plan, summaries))
    print(f"\n{elapsed:.0f} s; results in {options.output}")

    document = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if options.quick else "full",
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
