"""
Prometheus metrics of a scheduler (the ``prometheus`` extra: ``prometheus_client``).

:func:`instrument` registers one collector with a registry; serve the registry as any other,
for instance with :func:`prometheus_wsgi_app` or ``prometheus_client.start_http_server()``.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

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
    from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import REGISTRY, Collector
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        "apscheduler.metrics.prometheus needs prometheus_client: install the "
        "'prometheus' extra (pip install apscheduler[prometheus])"
    ) from exc

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from apscheduler.schedulers.base import BaseScheduler

__all__ = ("PrometheusMetrics", "instrument", "prometheus_wsgi_app")


def instrument(
    scheduler: BaseScheduler,
    registry: CollectorRegistry | None = None,
    per_job_labels: bool = False,
    *,
    cache_seconds: float = DEFAULT_CACHE_SECONDS,
    duration_buckets: Sequence[float] = DURATION_BUCKETS,
    lateness_buckets: Sequence[float] = LATENESS_BUCKETS,
) -> PrometheusMetrics:
    """
    Measure ``scheduler`` in ``registry`` until :meth:`~PrometheusMetrics.detach`.

    :param registry: where the metrics are registered (default: ``prometheus_client.REGISTRY``)
    :param per_job_labels: add a ``job_id`` label to the run metrics; one series per job,
        so leave it off for schedulers with many (or generated) jobs
    :param cache_seconds: how long the gauges computed from the job stores are served again
        before they are read anew
    :param duration_buckets: upper bounds (seconds) of the run duration histogram
    :param lateness_buckets: upper bounds (seconds) of the lateness histogram
    :raises ValueError: if the registry holds these metrics already (from another scheduler)
    """
    metrics = PrometheusMetrics(
        scheduler,
        per_job_labels,
        cache_seconds=cache_seconds,
        duration_buckets=duration_buckets,
        lateness_buckets=lateness_buckets,
    )
    try:
        metrics.register(REGISTRY if registry is None else registry)
    except ValueError:
        metrics.detach()  # the scheduler must not stay watched for metrics nobody can read
        raise
    return metrics


def prometheus_wsgi_app(registry: CollectorRegistry | None = None) -> WSGIApplication:
    """
    A WSGI application that answers with the metrics of ``registry`` (the text format): for
    the ``extra_routes`` of :func:`apscheduler.web.make_app`, or any WSGI server.
    """
    app: WSGIApplication = make_wsgi_app(REGISTRY if registry is None else registry)
    return app


class PrometheusMetrics(Collector):
    """
    The metrics of one scheduler, as one Prometheus collector.

    Counters and histograms are updated as runs end; the gauges are computed when the
    registry is collected (at most once every ``cache_seconds``).
    """

    def __init__(
        self,
        scheduler: BaseScheduler,
        per_job_labels: bool = False,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        lateness_buckets: Sequence[float] = LATENESS_BUCKETS,
    ) -> None:
        self.per_job_labels = per_job_labels
        job = ["job_id"] if per_job_labels else []
        self._runs = Counter(
            "apscheduler_job_runs",
            "Runs of jobs that ended, by outcome",
            ["jobstore", *job, "outcome"],
            registry=None,
        )
        self._duration = Histogram(
            "apscheduler_job_run_duration_seconds",
            "Seconds the job function ran, by outcome",
            ["jobstore", *job, "outcome"],
            buckets=duration_buckets,
            registry=None,
        )
        self._lateness = Histogram(
            "apscheduler_job_run_lateness_seconds",
            "Seconds from a run's scheduled time to the call of the job function",
            ["jobstore", *job],
            buckets=lateness_buckets,
            registry=None,
        )
        self._store_errors = Counter(
            "apscheduler_jobstore_errors",
            "Looks for due jobs that failed because the job store could not be reached",
            ["jobstore"],
            registry=None,
        )
        self._store_outages = Counter(
            "apscheduler_jobstore_outages",
            "Times a job store became unreachable (once per outage)",
            ["jobstore"],
            registry=None,
        )
        self._takeovers = Counter(
            "apscheduler_lease_takeovers",
            "Runs found left in progress by a scheduler that stopped, reported as lost",
            ["jobstore", *job],
            registry=None,
        )
        self._event_metrics = (
            self._runs,
            self._duration,
            self._lateness,
            self._store_errors,
            self._store_outages,
            self._takeovers,
        )
        health = StoreHealth()
        self._state = StateCache(scheduler, health, per_job_labels, cache_seconds)
        self._registry: CollectorRegistry | None = None
        self._watch: SchedulerWatch | None = SchedulerWatch(scheduler, self, health)

    def register(self, registry: CollectorRegistry) -> None:
        """Add these metrics to ``registry`` (only one registry at a time)."""
        registry.register(self)
        self._registry = registry

    def detach(self) -> None:
        """Stop measuring the scheduler and remove the metrics from their registry."""
        if self._watch is not None:
            self._watch.detach()
            self._watch = None
        if self._registry is not None:
            self._registry.unregister(self)
            self._registry = None

    # ----- what the watch tells

    def run_ended(self, run: RunEnded) -> None:
        job = [run.job_id] if self.per_job_labels else []
        self._runs.labels(run.jobstore, *job, run.outcome).inc()
        if run.duration is not None:
            self._duration.labels(run.jobstore, *job, run.outcome).observe(run.duration)
        if run.lateness is not None:
            self._lateness.labels(run.jobstore, *job).observe(run.lateness)

    def store_error(self, jobstore: str, outage_began: bool) -> None:
        self._store_errors.labels(jobstore).inc()
        if outage_began:
            self._store_outages.labels(jobstore).inc()

    def runs_taken_over(self, jobstore: str, job_id: str, count: int) -> None:
        job = [job_id] if self.per_job_labels else []
        self._takeovers.labels(jobstore, *job).inc(count)

    # ----- the collector

    def describe(self) -> Iterable[Metric]:
        """The metric names, without computing the gauges (which reads the job stores)."""
        for metric in self._event_metrics:
            yield from metric.describe()
        yield from _state_families()

    def collect(self) -> Iterable[Metric]:
        state = self._state.get()
        for alias in state.stores_up:
            # a store that never failed has its zero series: rate() and alerts need one
            self._store_errors.labels(alias)
            self._store_outages.labels(alias)
        for metric in self._event_metrics:
            yield from metric.collect()
        yield from _state_families(state, self.per_job_labels)


def _state_families(
    state: SchedulerState | None = None, per_job_labels: bool = False
) -> Iterator[GaugeMetricFamily]:
    """The gauge families, filled in from ``state`` (empty without one)."""
    jobs = GaugeMetricFamily(
        "apscheduler_jobs", "Jobs in the job stores, by state", labels=["jobstore", "state"]
    )
    running = GaugeMetricFamily(
        "apscheduler_job_runs_running",
        "Runs in progress, as the run history has them",
        labels=["jobstore", "job_id"] if per_job_labels else ["jobstore"],
    )
    unloadable = GaugeMetricFamily(
        "apscheduler_jobs_unloadable",
        "Stored jobs that could not be loaded (broken callable, trigger or pickle)",
        labels=["jobstore"],
    )
    up = GaugeMetricFamily(
        "apscheduler_jobstore_up",
        "Whether the last look for due jobs in the job store worked (1) or failed (0)",
        labels=["jobstore"],
    )
    if state is not None:
        _fill(jobs, state.jobs, lambda key: list(key))
        _fill(running, state.running, lambda key: list(key) if per_job_labels else [key[0]])
        _fill(unloadable, state.unloadable, lambda key: [key])
        for alias, reachable in sorted(state.stores_up.items()):
            up.add_metric([alias], 1.0 if reachable else 0.0)
    yield from (jobs, running, unloadable, up)


def _fill(
    family: GaugeMetricFamily,
    counts: dict[Any, int] | None,
    labels_of: Callable[[Any], list[str]],
) -> None:
    """Add a sample per key of ``counts``; nothing if they could not be read."""
    for key, count in sorted((counts or {}).items()):
        family.add_metric(labels_of(key), float(count))
