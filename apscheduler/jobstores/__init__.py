"""Where schedulers keep their jobs; :func:`migrate` rewrites a store in another format."""

from __future__ import annotations

from apscheduler.jobstores._serializers import MigrationResult, migrate

__all__ = ["MigrationResult", "migrate"]
