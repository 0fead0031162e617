"""
Export files pass both ways between this library and the original APScheduler 3.11.

A virtualenv with APScheduler 3.11 from PyPI is made once per session; ``export_peer.py`` runs
there and here, so both libraries add, export, import and describe the same jobs.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from base64 import b64encode
from pathlib import Path

import pytest

from apscheduler.schedulers import _export
from apscheduler.util import obj_to_ref
from tests.services import unavailable

from . import export_peer

PEER_SCRIPT = Path(export_peer.__file__)
SUBPROCESS_TIMEOUT = 300


@pytest.fixture(scope="session")
def apscheduler_311(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python of a virtualenv holding APScheduler 3.11 from PyPI (skipped when offline)."""
    venv = tmp_path_factory.mktemp("apscheduler-3.11") / "venv"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "APScheduler==3.11.*"],
    ]
    for step in steps:
        try:
            result = subprocess.run(
                step, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            unavailable(f"timed out making a virtualenv with APScheduler 3.11: {step}")
        if result.returncode:
            unavailable(f"could not make a virtualenv with APScheduler 3.11: {result.stderr}")

    return python


def run_311(python: Path, command: str, path: Path) -> dict:
    """Run ``export_peer.py`` under APScheduler 3.11 and return what it printed."""
    # isolated mode (-I): neither this environment's variables nor the script's folder on the
    # path, so "apscheduler" can only be the installed 3.11
    result = subprocess.run(
        [str(python), "-I", str(PEER_SCRIPT), command, str(path)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=path.parent,
    )
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert described["version"].startswith("3.11."), described["version"]
    return described


def test_an_export_file_of_ours_reads_in_apscheduler_311_as_its_own(apscheduler_311, tmp_path):
    ours_file, their_file = tmp_path / "ours.json", tmp_path / "theirs.json"

    ours_reads_ours = export_peer.run("export", str(ours_file))
    theirs_reads_ours = run_311(apscheduler_311, "import", ours_file)
    theirs_reads_theirs = run_311(apscheduler_311, "export", their_file)

    assert theirs_reads_ours["jobs"] == theirs_reads_theirs["jobs"]
    assert theirs_reads_ours["jobs"] == ours_reads_ours["jobs"]


def test_an_export_file_of_apscheduler_311_reads_here_as_there(apscheduler_311, tmp_path):
    their_file = tmp_path / "theirs.json"
    theirs_reads_theirs = run_311(apscheduler_311, "export", their_file)

    ours_reads_theirs = export_peer.run("import", str(their_file))

    assert ours_reads_theirs["jobs"] == theirs_reads_theirs["jobs"]


def test_imported_jobs_keep_the_exported_args_and_the_offsets_of_their_dates(tmp_path):
    """What 3.11 gives back, checked here without it: the tests above compare with it."""
    path = tmp_path / "jobs.json"

    jobs = export_peer.run("export", str(path))["jobs"]

    assert jobs["date"]["args"] == ["list", [1, "two"]]
    assert jobs["interval"]["trigger"]["start_date"] == "2026-01-05T14:04:00+02:00"
    assert jobs["interval"]["trigger"]["end_date"] == "2026-06-01T00:00:00+02:00"
    assert jobs["interval"]["fire_times"][0] == "2026-01-05T14:04:00+01:00"
    assert jobs["cron"]["trigger"]["start_date"] == "2026-01-05T14:04:00+02:00"
    assert jobs["cron"]["fire_times"][0] == "2026-01-05T15:15:00+01:00"


def test_cron_fields_and_expressions_are_written_as_pickles(tmp_path):
    """APScheduler 3.11 rebuilds only objects with a __setstate__ from a class and state."""
    path = tmp_path / "jobs.json"
    export_peer.run("export", str(path))

    document = json.loads(path.read_text())
    [cron] = [job for job in document["jobs"] if job["id"] == "cron"]

    trigger = cron["trigger"]
    assert trigger["__apscheduler_class__"] == "apscheduler.triggers.cron:CronTrigger"
    fields = trigger["__apscheduler_state__"]["fields"]
    assert len(fields) == 8
    assert all(list(field) == ["__apscheduler_pickle__"] for field in fields)


def _encode_as_earlier_builds(obj):
    """The rule of earlier builds: class and state for whatever has a dict as its state."""
    state = getattr(obj, "__getstate__", None)
    if state is not None and not isinstance(obj, type) and isinstance(state(), dict):
        return {"__apscheduler_class__": obj_to_ref(type(obj)), "__apscheduler_state__": state()}

    return {"__apscheduler_pickle__": b64encode(pickle.dumps(obj)).decode("ascii")}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="object.__getstate__ is new in 3.11")
def test_an_export_file_with_fields_as_class_and_state_still_imports(tmp_path, monkeypatch):
    """Earlier builds of this library wrote cron fields and expressions that way."""
    old_file, new_file = tmp_path / "old.json", tmp_path / "new.json"
    monkeypatch.setattr(_export, "_encode", _encode_as_earlier_builds)
    export_peer.run("export", str(old_file))
    monkeypatch.undo()
    assert '"__apscheduler_class__": "apscheduler.triggers.cron.fields:' in old_file.read_text()

    reads_old = export_peer.run("import", str(old_file))

    assert reads_old["jobs"] == export_peer.run("export", str(new_file))["jobs"]
