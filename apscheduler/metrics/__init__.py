"""
Metrics of a scheduler's runs, jobs and job stores, for Prometheus or OpenTelemetry.

:mod:`apscheduler.metrics.prometheus` (the ``prometheus`` extra) and
:mod:`apscheduler.metrics.opentelemetry` (the ``opentelemetry`` extra) each have an
``instrument(scheduler, ...)`` function; :func:`instrument` picks one by name, as a
configuration file names it. Neither library is imported before it is asked for.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

__all__ = ("BACKENDS", "Instrumentation", "instrument")

#: the backends by the name :func:`instrument` takes
BACKENDS = ("prometheus", "opentelemetry")


class Instrumentation(Protocol):
    """What the ``instrument()`` functions return."""

    def detach(self) -> None:
        """Stop measuring the scheduler."""


def instrument(scheduler: BaseScheduler, config: str | Mapping[str, Any]) -> Instrumentation:
    """
    Measure ``scheduler`` with the backend that ``config`` names.

    :param config: ``"prometheus"`` or ``"opentelemetry"``, or a dict with a ``backend`` key
        of one of them and the keyword arguments of that backend's ``instrument()``
        (``per_job_labels``, ``cache_seconds``, ``registry``, ``meter_provider``, ...)
    :raises ValueError: for a backend that does not exist
    :raises ImportError: if the backend's library is not installed (the error names the extra)
    """
    options = {"backend": config} if isinstance(config, str) else dict(config)
    backend = options.pop("backend", None)
    if backend == "prometheus":
        from apscheduler.metrics import prometheus

        return prometheus.instrument(scheduler, **options)
    if backend == "opentelemetry":
        from apscheduler.metrics import opentelemetry

        return opentelemetry.instrument(scheduler, **options)
    raise ValueError(f"metrics backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
