"""An in-process job scheduler, compatible with APScheduler 3."""

from importlib.metadata import PackageNotFoundError, version as _dist_version

try:
    release: str = _dist_version("APScheduler")
except PackageNotFoundError:  # running from a source tree that was never installed
    release = "3.5.0"

version_info: tuple = tuple(int(part) if part.isdigit() else part for part in release.split("."))
version: str = ".".join(str(part) for part in version_info[:3])
__version__ = version

del _dist_version, PackageNotFoundError
