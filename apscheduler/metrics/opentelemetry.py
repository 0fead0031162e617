"""
OpenTelemetry metrics of a scheduler (the ``opentelemetry`` extra: ``opentelemetry-api``).

:func:`instrument` creates the instruments on a meter of the given (or the global) meter
provider; the application's SDK setup decides where they are exported.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from apscheduler.metrics._watch import (
    DEFAULT_CACHE_SECONDS,
    DURATION_BUCKETS,
    LATENESS_BUCKETS,
    RunEnded,
    SchedulerState,
    SchedulerWatch,
    StateCache,
    StoreHealth,
)

try:
    from opentelemetry.metrics import (
        CallbackOptions,
        Histogram,
        Meter,
        MeterProvider,
        Observation,
        get_meter_provider,
    )
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "apscheduler.metrics.opentelemetry needs opentelemetry-api: install the "
        "'opentelemetry' extra (pip install apscheduler[opentelemetry])"
    ) from exc

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

__all__ = ("OpenTelemetryMetrics", "instrument")

#: the instrumentation scope of the instruments
METER_NAME = "apscheduler"

#: the attributes of one data point
Attributes = dict[str, str]


def instrument(
    scheduler: BaseScheduler,
    meter_provider: MeterProvider | None = None,
    per_job_labels: bool = False,
    *,
    cache_seconds: float = DEFAULT_CACHE_SECONDS,
    duration_buckets: Sequence[float] = DURATION_BUCKETS,
    lateness_buckets: Sequence[float] = LATENESS_BUCKETS,
) -> OpenTelemetryMetrics:
    """
    Measure ``scheduler`` with instruments of ``meter_provider`` until
    :meth:`~OpenTelemetryMetrics.detach`.

    :param meter_provider: where the meter comes from (default: the global meter provider)
    :param per_job_labels: add a ``job_id`` attribute to the run metrics; one series per
        job, so leave it off for schedulers with many (or generated) jobs
    :param cache_seconds: how long the gauges computed from the job stores are served again
        before they are read anew
    :param duration_buckets: bucket boundaries (seconds) advised for the run duration
    :param lateness_buckets: bucket boundaries (seconds) advised for the lateness
    """
    provider = meter_provider if meter_provider is not None else get_meter_provider()
    meter = provider.get_meter(METER_NAME)
    return OpenTelemetryMetrics(
        scheduler,
        meter,
        per_job_labels,
        cache_seconds=cache_seconds,
        duration_buckets=duration_buckets,
        lateness_buckets=lateness_buckets,
    )


class OpenTelemetryMetrics:
    """
    The instruments of one scheduler.

    Counters and histograms are recorded as runs end; the observable gauges are computed when
    the SDK collects (at most once every ``cache_seconds``). OpenTelemetry cannot remove an
    instrument: after :meth:`detach` the gauges observe nothing and nothing more is recorded.
    """

    def __init__(
        self,
        scheduler: BaseScheduler,
        meter: Meter,
        per_job_labels: bool = False,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        lateness_buckets: Sequence[float] = LATENESS_BUCKETS,
    ) -> None:
        self.per_job_labels = per_job_labels
        self._runs = meter.create_counter(
            "apscheduler.job.runs", "{run}", "Runs of jobs that ended, by outcome"
        )
        self._duration = _histogram(
            meter,
            "apscheduler.job.run.duration",
            "Seconds the job function ran, by outcome",
            duration_buckets,
        )
        self._lateness = _histogram(
            meter,
            "apscheduler.job.run.lateness",
            "Seconds from a run's scheduled time to the call of the job function",
            lateness_buckets,
        )
        self._store_errors = meter.create_counter(
            "apscheduler.jobstore.errors",
            "{error}",
            "Looks for due jobs that failed because the job store could not be reached",
        )
        self._store_outages = meter.create_counter(
            "apscheduler.jobstore.outages",
            "{outage}",
            "Times a job store became unreachable (once per outage)",
        )
        self._takeovers = meter.create_counter(
            "apscheduler.lease.takeovers",
            "{run}",
            "Runs found left in progress by a scheduler that stopped, reported as lost",
        )
        self._observe_gauges(meter)
        health = StoreHealth()
        self._state = StateCache(scheduler, health, per_job_labels, cache_seconds)
        self._watch: SchedulerWatch | None = SchedulerWatch(scheduler, self, health)

    def _observe_gauges(self, meter: Meter) -> None:
        meter.create_observable_gauge(
            "apscheduler.jobs",
            [self._gauge(_jobs_points)],
            "{job}",
            "Jobs in the job stores, by state",
        )
        meter.create_observable_gauge(
            "apscheduler.job.runs.running",
            [self._gauge(self._running_points)],
            "{run}",
            "Runs in progress, as the run history has them",
        )
        meter.create_observable_gauge(
            "apscheduler.jobs.unloadable",
            [self._gauge(_unloadable_points)],
            "{job}",
            "Stored jobs that could not be loaded (broken callable, trigger or pickle)",
        )
        meter.create_observable_gauge(
            "apscheduler.jobstore.up",
            [self._gauge(_up_points)],
            "1",
            "Whether the last look for due jobs in the job store worked (1) or failed (0)",
        )

    def detach(self) -> None:
        """Stop measuring the scheduler; the gauges observe nothing from now on."""
        if self._watch is not None:
            self._watch.detach()
            self._watch = None

    def _gauge(
        self, points: Callable[[SchedulerState], Iterable[tuple[float, Attributes]]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """A gauge callback that observes ``points`` of the (cached) scheduler state."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            if self._watch is None:
                return []
            state = self._state.get()
            return [Observation(value, attributes) for value, attributes in points(state)]

        return observe

    def _running_points(self, state: SchedulerState) -> Iterable[tuple[float, Attributes]]:
        for (alias, job_id), count in sorted((state.running or {}).items()):
            attributes = {"jobstore": alias}
            if self.per_job_labels:
                attributes["job_id"] = job_id
            yield float(count), attributes

    # ----- what the watch tells

    def run_ended(self, run: RunEnded) -> None:
        attributes = self._job_attributes(run.jobstore, run.job_id)
        self._runs.add(1, {**attributes, "outcome": run.outcome})
        if run.duration is not None:
            self._duration.record(run.duration, {**attributes, "outcome": run.outcome})
        if run.lateness is not None:
            self._lateness.record(run.lateness, attributes)

    def store_error(self, jobstore: str, outage_began: bool) -> None:
        self._store_errors.add(1, {"jobstore": jobstore})
        if outage_began:
            self._store_outages.add(1, {"jobstore": jobstore})

    def runs_taken_over(self, jobstore: str, job_id: str, count: int) -> None:
        self._takeovers.add(count, self._job_attributes(jobstore, job_id))

    def _job_attributes(self, jobstore: str, job_id: str) -> Attributes:
        if self.per_job_labels:
            return {"jobstore": jobstore, "job_id": job_id}
        return {"jobstore": jobstore}


def _jobs_points(state: SchedulerState) -> Iterable[tuple[float, Attributes]]:
    for (alias, job_state), count in sorted((state.jobs or {}).items()):
        yield float(count), {"jobstore": alias, "state": job_state}


def _unloadable_points(state: SchedulerState) -> Iterable[tuple[float, Attributes]]:
    for alias, count in sorted((state.unloadable or {}).items()):
        yield float(count), {"jobstore": alias}


def _up_points(state: SchedulerState) -> Iterable[tuple[float, Attributes]]:
    for alias, reachable in sorted(state.stores_up.items()):
        yield (1.0 if reachable else 0.0), {"jobstore": alias}


def _histogram(meter: Meter, name: str, description: str, buckets: Sequence[float]) -> Histogram:
    """A histogram in seconds with ``buckets`` advised (an API before 1.23 takes no advice)."""
    try:
        return meter.create_histogram(
            name, "s", description, explicit_bucket_boundaries_advisory=buckets
        )
    except TypeError:  # pragma: no cover - depends on what is installed
        return meter.create_histogram(name, "s", description)
