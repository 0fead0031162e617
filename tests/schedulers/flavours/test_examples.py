"""The example programs of each flavour run to their end, as the documentation shows them."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.schedulers.flavours.harnesses import TIMEOUT
from tests.services import require_module

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

# example file -> the package it needs
TICKING_EXAMPLES = {
    "asyncio_scheduler.py": "asyncio",
    "gevent_scheduler.py": "gevent",
    "tornado_scheduler.py": "tornado",
    "twisted_scheduler.py": "twisted",
    "qt_scheduler.py": "PySide6",
}


def load_example(file_name):
    spec = importlib.util.spec_from_file_location(Path(file_name).stem, EXAMPLES / file_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lifespan_example_starts_and_stops_its_scheduler(capsys):
    example = load_example("asyncio_lifespan.py")

    refreshes = asyncio.run(asyncio.wait_for(example.main(refreshes=3, interval=0.02), TIMEOUT))

    assert refreshes == 3
    output = capsys.readouterr().out
    assert "Refresh 3: {'EUR': " in output
    assert "The application stopped, and its scheduler with it: True" in output


@pytest.fixture(scope="module")
def example_runs():
    """
    Start every ticking example at once, each in its own process.

    Each ticks once a second, three times, so running them side by side saves the suite
    several seconds. A process is needed anyway: gevent monkey patches the whole program, and
    a Twisted reactor runs only once in a process.
    """
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs = {}
    for file_name, package in TICKING_EXAMPLES.items():
        if importlib.util.find_spec(package) is not None:
            runs[file_name] = subprocess.Popen(
                [sys.executable, str(EXAMPLES / file_name)],
                cwd=EXAMPLES.parent,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
    yield runs
    for process in runs.values():
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
        process.wait()


@pytest.mark.parametrize("file_name", list(TICKING_EXAMPLES), ids=lambda name: name[:-3])
def test_the_example_ticks_three_times_and_ends(example_runs, file_name):
    require_module(TICKING_EXAMPLES[file_name])
    process = example_runs[file_name]

    stdout, stderr = process.communicate(timeout=TIMEOUT + 20)

    assert process.returncode == 0, stderr
    assert stdout.count("Tick! The time is: ") == 3
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
