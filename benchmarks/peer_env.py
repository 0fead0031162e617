"""
The interpreter that runs the reference side: a virtualenv with APScheduler 3.11 from PyPI.

It lives in a cache folder outside the repository (``~/.cache/apscheduler-bench/peer-venv``
unless ``APSCHEDULER_BENCH_PEER_VENV`` or ``APSCHEDULER_BENCH_CACHE`` says otherwise), is built
on first use and reused afterwards. The reference library is only installed and run there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PEER_REQUIREMENTS = ("APScheduler==3.11.*", "tzlocal")
PEER_VERSION_PREFIX = "3.11."


def peer_venv_path() -> Path:
    """Return where the reference virtualenv is (or will be) kept."""
    explicit = os.environ.get("APSCHEDULER_BENCH_PEER_VENV")
    if explicit:
        return Path(explicit).expanduser()

    cache = os.environ.get("APSCHEDULER_BENCH_CACHE", "~/.cache/apscheduler-bench")
    return Path(cache).expanduser() / "peer-venv"


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"

    return venv / "bin" / "python"


def installed_version(python: Path | str) -> str | None:
    """Return the APScheduler version ``python`` imports, or ``None`` if it has none."""
    try:
        completed = subprocess.run(
            [str(python), "-c", "import apscheduler; print(apscheduler.release)"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(python).parent,
        )
    except OSError:
        return None

    return completed.stdout.strip() if completed.returncode == 0 else None


def ensure_peer_python(log=print) -> Path:
    """
    Return the reference interpreter, creating its virtualenv and installing into it if needed.

    The virtualenv is built from the interpreter running this script (its base installation,
    even when that interpreter is itself in a virtualenv), so both sides run the same Python.

    :raises RuntimeError: if the virtualenv cannot be built or holds the wrong version
    """
    venv = peer_venv_path()
    python = _venv_python(venv)
    version = installed_version(python) if python.exists() else None
    if version is not None and version.startswith(PEER_VERSION_PREFIX):
        return python

    if not python.exists():
        log(f"Creating the reference virtualenv in {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)

    log(f"Installing {' '.join(PEER_REQUIREMENTS)} into {venv}")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PEER_REQUIREMENTS,
        ],
        check=True,
    )
    version = installed_version(python)
    if version is None or not version.startswith(PEER_VERSION_PREFIX):
        raise RuntimeError(f"{venv} should hold APScheduler {PEER_VERSION_PREFIX}x, has {version}")

    return python
