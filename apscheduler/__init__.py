"""An in-process job scheduler, compatible with APScheduler 3."""

from __future__ import annotations

from typing import Any

# The version attributes come from the installed distribution's metadata. Reading it imports
# importlib.metadata (and, through it, the email package), which costs more than the rest of
# the scheduler's imports together, so it is done on first access instead of at import time.
_VERSION_ATTRIBUTES = frozenset({"release", "version_info", "version", "__version__"})


def _read_versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version as distribution_version

    try:
        release = distribution_version("APScheduler")
    except PackageNotFoundError:  # running from a source tree that was never installed
        release = "3.5.0"

    version_info = tuple(int(part) if part.isdigit() else part for part in release.split("."))
    version = ".".join(str(part) for part in version_info[:3])
    return {
        "release": release,
        "version_info": version_info,
        "version": version,
        "__version__": version,
    }


def __getattr__(name: str) -> Any:
    if name in _VERSION_ATTRIBUTES:
        versions = _read_versions()
        # later lookups find plain module attributes and never come back here
        globals().update(versions)
        return versions[name]

    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _VERSION_ATTRIBUTES)
