"""What an OpenTelemetry SDK collecting a measured scheduler's instruments reads."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import apscheduler.metrics
from apscheduler.metrics.opentelemetry import instrument
from tests.schedulers import targets


@pytest.fixture
def reader():
    return InMemoryMetricReader()


@pytest.fixture
def provider(reader):
    provider = MeterProvider(metric_readers=[reader])
    yield provider
    provider.shutdown()


def collect(reader):
    """Metric name -> (unit, [(attributes, data point)]) of one collection."""
    collected = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "apscheduler"
            for metric in scope.metrics:
                points = [(dict(point.attributes), point) for point in metric.data.data_points]
                collected[metric.name] = (metric.unit, points)
    return collected


def point(collected, name, **attributes):
    """The data point of ``name`` with exactly ``attributes`` (``None`` if there is none)."""
    for found, data_point in collected.get(name, (None, []))[1]:
        if found == attributes:
            return data_point
    return None


@pytest.fixture
def measured(make_scheduler, provider):
    def factory(per_job_labels=False, **options):
        scheduler = make_scheduler(**options)
        metrics = instrument(scheduler, provider, per_job_labels, cache_seconds=0)
        scheduler.start()
        return scheduler, metrics

    return factory


def test_runs_are_counted_by_outcome_with_their_duration_and_lateness(
    measured, fake_clock, later_executor, reader
):
    scheduler, _ = measured(executors={"default": later_executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    scheduler.add_job(targets.fail, "interval", seconds=10, id="broken", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(seconds=2)
    later_executor.run_waiting()

    collected = collect(reader)
    assert collected["apscheduler.job.runs"][0] == "{run}"
    assert (
        point(collected, "apscheduler.job.runs", jobstore="default", outcome="succeeded").value
        == 1
    )
    assert (
        point(collected, "apscheduler.job.runs", jobstore="default", outcome="failed").value == 1
    )
    lateness = point(collected, "apscheduler.job.run.lateness", jobstore="default")
    assert (lateness.count, lateness.sum) == (2, 4.0)
    assert collected["apscheduler.job.run.lateness"][0] == "s"
    assert 0.005 in lateness.explicit_bounds
    duration = point(
        collected, "apscheduler.job.run.duration", jobstore="default", outcome="failed"
    )
    assert duration.count == 1
    assert 3600.0 in duration.explicit_bounds


def test_the_gauges_show_jobs_by_state_runs_in_progress_and_stores(
    measured, fake_clock, later_executor, reader
):
    scheduler, _ = measured(executors={"default": later_executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    scheduler.add_job(targets.record, "interval", seconds=10, id="idle").pause()
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    collected = collect(reader)
    assert point(collected, "apscheduler.jobs", jobstore="default", state="scheduled").value == 1
    assert point(collected, "apscheduler.jobs", jobstore="default", state="paused").value == 1
    assert point(collected, "apscheduler.job.runs.running", jobstore="default").value == 1
    assert point(collected, "apscheduler.jobs.unloadable", jobstore="default").value == 0
    assert point(collected, "apscheduler.jobstore.up", jobstore="default").value == 1

    later_executor.run_waiting()
    assert point(collect(reader), "apscheduler.job.runs.running", jobstore="default").value == 0


def test_per_job_labels_add_the_job_id_attribute(measured, fake_clock, reader):
    scheduler, _ = measured(per_job_labels=True)
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    collected = collect(reader)
    runs = point(
        collected, "apscheduler.job.runs", jobstore="default", job_id="tick", outcome="succeeded"
    )
    assert runs.value == 1
    assert point(collected, "apscheduler.job.run.lateness", jobstore="default", job_id="tick")


def test_store_errors_and_outages_are_counted(measured, flaky_store, reader):
    scheduler, _ = measured(jobstores={"default": flaky_store})
    flaky_store.down = True
    for _ in range(3):
        scheduler._process_jobs()

    collected = collect(reader)
    assert point(collected, "apscheduler.jobstore.errors", jobstore="default").value == 3
    assert point(collected, "apscheduler.jobstore.outages", jobstore="default").value == 1
    assert point(collected, "apscheduler.jobstore.up", jobstore="default").value == 0


def test_after_detach_nothing_more_is_recorded_or_observed(measured, fake_clock, reader):
    scheduler, metrics = measured()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    metrics.detach()
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    collected = collect(reader)
    assert (
        point(collected, "apscheduler.job.runs", jobstore="default", outcome="succeeded").value
        == 1
    )
    assert point(collected, "apscheduler.jobs", jobstore="default", state="scheduled") is None


def test_the_backend_can_be_named_as_configuration_names_it(make_scheduler, provider, reader):
    scheduler = make_scheduler()
    apscheduler.metrics.instrument(
        scheduler, {"backend": "opentelemetry", "meter_provider": provider}
    )
    scheduler.start()
    scheduler.add_job(targets.record, id="now")
    scheduler._process_jobs()

    collected = collect(reader)
    assert (
        point(collected, "apscheduler.job.runs", jobstore="default", outcome="succeeded").value
        == 1
    )
