"""
The interpreters that run the reference sides: virtualenvs with an APScheduler release from PyPI.

Two peers: APScheduler 3.11 (the API this library implements) and 4.0.0a6 (the newest release,
with another API). Each lives in a cache folder outside the repository
(``~/.cache/apscheduler-bench/peer-venv`` and ``peer-venv-4.0`` unless
``APSCHEDULER_BENCH_CACHE`` says otherwise; ``APSCHEDULER_BENCH_PEER_VENV`` overrides the 3.11
one), is built on first use and reused afterwards. The reference library is only installed and
run there, beside the client libraries the persistent-store scenarios need (SQLAlchemy, redis,
psycopg) at this interpreter's versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Peer:
    """One reference release: what to install, the version it must report, where it lives."""

    name: str
    requirements: tuple[str, ...]
    version_prefix: str
    venv_name: str
    #: other distributions it needs, installed at any version and checked for
    extras: tuple[str, ...] = ()


PEERS = {
    "3.11": Peer("3.11", ("APScheduler==3.11.*",), "3.11.", "peer-venv", ("tzlocal",)),
    # 4.0's SQLAlchemy store imports sniffio and SQLAlchemy's asyncio extension (greenlet),
    # which its own requirements leave out
    "4.0": Peer(
        "4.0", ("APScheduler==4.0.0a6",), "4.0.0a6", "peer-venv-4.0", ("greenlet", "sniffio")
    ),
}
PEER_REQUIREMENTS = PEERS["3.11"].requirements
PEER_VERSION_PREFIX = PEERS["3.11"].version_prefix
# Client libraries of the persistent-store scenarios. The reference side gets the versions this
# interpreter has, so that a difference between the sides comes from the schedulers, not from
# the drivers. The first two are needed; the PostgreSQL driver only where this side has it.
STORE_CLIENTS = ("SQLAlchemy", "redis")
OPTIONAL_STORE_CLIENTS = ("psycopg", "psycopg-binary")

_PROBE = """
import json
from importlib import metadata
names = json.loads(input())
versions = {}
for name in names:
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        versions[name] = None
print(json.dumps({"release": metadata.version("APScheduler"), "clients": versions}))
"""


def peer_venv_path(peer: Peer = PEERS["3.11"]) -> Path:
    """Return where the reference virtualenv is (or will be) kept."""
    explicit = os.environ.get("APSCHEDULER_BENCH_PEER_VENV")
    if explicit and peer.name == "3.11":
        return Path(explicit).expanduser()

    cache = os.environ.get("APSCHEDULER_BENCH_CACHE", "~/.cache/apscheduler-bench")
    return Path(cache).expanduser() / peer.venv_name


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"

    return venv / "bin" / "python"


def store_client_versions() -> dict[str, str | None]:
    """Return the wanted store client versions: this interpreter's, ``None`` for "any"."""
    wanted: dict[str, str | None] = {}
    for name in STORE_CLIENTS + OPTIONAL_STORE_CLIENTS:
        try:
            wanted[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name in STORE_CLIENTS:
                wanted[name] = None

    return wanted


def _probe(python: Path | str, names: list[str]) -> dict[str, Any] | None:
    """Ask ``python`` for its APScheduler release and the versions of ``names``."""
    try:
        completed = subprocess.run(
            [str(python), "-c", _PROBE],
            input=json.dumps(names) + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(python).parent,
        )
    except OSError:
        return None

    if completed.returncode != 0:
        return None

    found: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return found


def installed_version(python: Path | str) -> str | None:
    """Return the APScheduler version ``python`` imports, or ``None`` if it has none."""
    found = _probe(python, [])
    return found["release"] if found else None


def _is_complete(python: Path, wanted: dict[str, str | None], peer: Peer) -> bool:
    """Whether ``python`` has the peer's release and the wanted store clients."""
    found = _probe(python, list(wanted))
    if found is None or not str(found["release"]).startswith(peer.version_prefix):
        return False

    return all(
        found["clients"].get(name) is not None
        and (version is None or found["clients"][name] == version)
        for name, version in wanted.items()
    )


def ensure_peer_python(log: Callable[[str], object] = print, peer: Peer = PEERS["3.11"]) -> Path:
    """
    Return the reference interpreter, creating its virtualenv and installing into it if needed.

    The virtualenv is built from the interpreter running this script (its base installation,
    even when that interpreter is itself in a virtualenv), so both sides run the same Python.
    A cached virtualenv that lacks a store client, or has another version of one, gets it
    installed.

    :raises RuntimeError: if the virtualenv cannot be built or holds the wrong version
    """
    venv = peer_venv_path(peer)
    python = _venv_python(venv)
    wanted = {**store_client_versions(), **dict.fromkeys(peer.extras)}
    # a virtualenv cached by an earlier version of this script may lack the store clients
    if python.exists() and _is_complete(python, wanted, peer):
        return python

    if not python.exists():
        log(f"Creating the reference virtualenv in {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)

    requirements = [
        *peer.requirements,
        *(name if version is None else f"{name}=={version}" for name, version in wanted.items()),
    ]
    log(f"Installing {' '.join(requirements)} into {venv}")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        check=True,
    )
    if not _is_complete(python, wanted, peer):
        raise RuntimeError(
            f"{venv} should hold APScheduler {peer.version_prefix}x and {', '.join(requirements)}"
            f" (has {installed_version(python)})"
        )

    return python
