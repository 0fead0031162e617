"""What a Prometheus server scraping a measured scheduler sees."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone as dt_timezone
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import sqlalchemy
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import apscheduler.metrics
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.metrics.prometheus import instrument, prometheus_wsgi_app
from apscheduler.schedulers.background import BackgroundScheduler
from tests.executors import targets as executor_targets
from tests.jobstores.reference_store import ReferenceJobStore, ReferenceStorage
from tests.jobstores.support import RecordingScheduler, start_for, wait_until
from tests.schedulers import targets

UTC = dt_timezone.utc
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels`` in a scrape, ``None`` if absent."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


def names(text: str) -> set[str]:
    return {
        found.name for family in text_string_to_metric_families(text) for found in family.samples
    }


def label_names(text: str, name: str) -> set[str]:
    return {
        label
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name
        for label in found.labels
    }


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serving(app):
    """Serve the WSGI ``app`` with the standard library's server; give its base URL."""
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def measured(make_scheduler, registry):
    """A stepped scheduler on the fake clock, started and measured without a gauge cache."""

    def factory(per_job_labels=False, **options):
        scheduler = make_scheduler(**options)
        metrics = instrument(scheduler, registry, per_job_labels, cache_seconds=0)
        scheduler.start()
        return scheduler, metrics

    return factory


@pytest.fixture
def background():
    schedulers = []

    def factory(**options):
        scheduler = BackgroundScheduler(timezone="UTC", **options)
        schedulers.append(scheduler)
        return scheduler

    yield factory
    for scheduler in schedulers:
        if scheduler.running:
            scheduler.shutdown()


def test_the_http_endpoint_of_a_running_scheduler_shows_its_runs_and_jobs(background, registry):
    scheduler = background()
    instrument(scheduler, registry, cache_seconds=0)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        scheduler.start()
        scheduler.add_job(targets.record, id="once")
        scheduler.add_job(targets.fail, id="broken")
        scheduler.add_job(targets.record, "interval", hours=1, id="hourly")
        scheduler.add_job(targets.record, "interval", hours=1, id="idle").pause()

        def both_ended():
            text = fetch(url)
            return all(
                sample(text, "apscheduler_job_runs_total", jobstore="default", outcome=outcome)
                for outcome in ("succeeded", "failed")
            )

        assert wait_until(both_ended)
        text = fetch(url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    runs = {"jobstore": "default", "outcome": "succeeded"}
    assert sample(text, "apscheduler_job_runs_total", **runs) == 1
    assert sample(text, "apscheduler_job_runs_total", jobstore="default", outcome="failed") == 1
    assert sample(text, "apscheduler_job_run_duration_seconds_count", **runs) == 1
    assert sample(text, "apscheduler_job_run_lateness_seconds_count", jobstore="default") == 2
    assert sample(text, "apscheduler_jobs", jobstore="default", state="scheduled") == 1
    assert sample(text, "apscheduler_jobs", jobstore="default", state="paused") == 1
    assert sample(text, "apscheduler_job_runs_running", jobstore="default") == 0
    assert sample(text, "apscheduler_jobs_unloadable", jobstore="default") == 0
    assert sample(text, "apscheduler_jobstore_up", jobstore="default") == 1
    assert sample(text, "apscheduler_jobstore_errors_total", jobstore="default") == 0
    assert "job_id" not in label_names(text, "apscheduler_job_runs_total")


def test_the_wsgi_app_serves_the_metrics_to_a_wsgi_server(background, registry):
    scheduler = background()
    instrument(scheduler, registry)
    scheduler.start()
    scheduler.add_job(targets.record, "interval", hours=1, id="hourly")

    with serving(prometheus_wsgi_app(registry)) as base_url:
        text = fetch(f"{base_url}/metrics")

    assert sample(text, "apscheduler_jobs", jobstore="default", state="scheduled") == 1


def test_the_web_dashboard_serves_the_metrics_at_its_extra_route(background, registry, tmp_path):
    from apscheduler.client import SchedulerClient
    from apscheduler.web import make_app

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    scheduler = background(jobstores={"default": SQLAlchemyJobStore(url=url)})
    instrument(scheduler, registry)
    scheduler.start()
    scheduler.add_job(targets.record, "interval", hours=1, id="hourly")
    client = SchedulerClient({"default": SQLAlchemyJobStore(url=url)})
    app = make_app(client, extra_routes={"/metrics": prometheus_wsgi_app(registry)})

    with serving(app) as base_url:
        text = fetch(f"{base_url}/metrics")

    assert sample(text, "apscheduler_jobs", jobstore="default", state="scheduled") == 1


def test_a_timed_out_run_is_counted_as_such(background, registry):
    scheduler = background(executors={"default": ThreadPoolExecutor(2)})
    instrument(scheduler, registry)
    scheduler.start()
    scheduler.add_job(executor_targets.spin, args=(60,), id="spin", timeout=0.2)

    timed_out = {"jobstore": "default", "outcome": "timed_out"}
    assert wait_until(lambda: sample(scrape(registry), "apscheduler_job_runs_total", **timed_out))
    assert sample(scrape(registry), "apscheduler_job_runs_total", **timed_out) == 1


def test_lateness_is_the_wait_between_the_scheduled_time_and_the_call(
    measured, fake_clock, later_executor, registry
):
    scheduler, _ = measured(executors={"default": later_executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    assert sample(scrape(registry), "apscheduler_job_runs_running", jobstore="default") == 1

    fake_clock.advance(seconds=3)
    later_executor.run_waiting()

    text = scrape(registry)
    lateness = "apscheduler_job_run_lateness_seconds"
    assert sample(text, f"{lateness}_sum", jobstore="default") == 3.0
    assert sample(text, f"{lateness}_bucket", jobstore="default", le="1.0") == 0
    assert sample(text, f"{lateness}_bucket", jobstore="default", le="5.0") == 1
    assert sample(text, "apscheduler_job_runs_running", jobstore="default") == 0


def test_missed_and_skipped_runs_are_counted_by_outcome(
    measured, fake_clock, later_executor, registry
):
    scheduler, _ = measured(executors={"default": later_executor})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=1)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()  # the first run still waits: max_instances=1
    later_executor.run_waiting()  # it starts 10 s late, beyond its grace time

    text = scrape(registry)
    assert sample(text, "apscheduler_job_runs_total", jobstore="default", outcome="skipped") == 1
    assert sample(text, "apscheduler_job_runs_total", jobstore="default", outcome="missed") == 1
    assert sample(text, "apscheduler_job_run_lateness_seconds_count", jobstore="default") is None


def test_per_job_labels_add_the_job_id_when_asked_for(measured, fake_clock, registry):
    scheduler, _ = measured(per_job_labels=True)
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    scheduler.add_job(targets.fail, "interval", seconds=10, id="broken")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    text = scrape(registry)
    runs = "apscheduler_job_runs_total"
    assert sample(text, runs, jobstore="default", job_id="tick", outcome="succeeded") == 1
    assert sample(text, runs, jobstore="default", job_id="broken", outcome="failed") == 1
    assert "job_id" in label_names(text, "apscheduler_job_run_duration_seconds_count")


def test_store_errors_count_every_failed_look_and_outages_once_each(
    measured, flaky_store, registry
):
    scheduler, _ = measured(jobstores={"default": flaky_store})
    flaky_store.down = True
    scheduler._process_jobs()
    scheduler._process_jobs()

    text = scrape(registry)
    assert sample(text, "apscheduler_jobstore_errors_total", jobstore="default") == 2
    assert sample(text, "apscheduler_jobstore_outages_total", jobstore="default") == 1
    assert sample(text, "apscheduler_jobstore_up", jobstore="default") == 0

    flaky_store.down = False
    scheduler._process_jobs()
    assert sample(scrape(registry), "apscheduler_jobstore_up", jobstore="default") == 1

    flaky_store.down = True
    scheduler._process_jobs()
    assert sample(scrape(registry), "apscheduler_jobstore_outages_total", jobstore="default") == 2


def test_a_run_taken_over_from_a_stopped_scheduler_is_lost_not_missed(
    measured, fake_clock, registry
):
    storage = ReferenceStorage(clock=lambda: fake_clock.now(UTC).timestamp())
    other_process = ReferenceJobStore(storage, lease_time=5.0, poll_interval=1.0)
    other_process.start(RecordingScheduler(), "default")
    store = ReferenceJobStore(storage, lease_time=5.0, poll_interval=1.0)
    scheduler, _ = measured(jobstores={"default": store})
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    owner = "worker-7:4242:0123456789ab"
    [job] = other_process.acquire_due_jobs(fake_clock.now(UTC), owner).jobs
    other_process.start_claimed_runs(owner, [start_for(job, [job.next_run_time], NOON, "r1")])
    fake_clock.advance(seconds=6)  # past the run's lease

    scheduler._process_jobs()

    text = scrape(registry)
    assert sample(text, "apscheduler_lease_takeovers_total", jobstore="default") == 1
    assert sample(text, "apscheduler_job_runs_total", jobstore="default", outcome="lost") == 1
    assert sample(text, "apscheduler_job_runs_total", jobstore="default", outcome="missed") is None


def test_unloadable_jobs_are_counted_per_store(measured, registry, tmp_path):
    store = SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    scheduler, _ = measured(jobstores={"default": store})
    scheduler.add_job(targets.record, "interval", seconds=10, id="fine")
    scheduler.add_job(targets.record, "interval", seconds=10, id="corrupt")
    with store.engine.begin() as connection:
        connection.execute(
            sqlalchemy.update(store.jobs_t)
            .where(store.jobs_t.c.id == "corrupt")
            .values(job_state=b"not a pickle")
        )

    text = scrape(registry)
    assert sample(text, "apscheduler_jobs_unloadable", jobstore="default") == 1
    assert sample(text, "apscheduler_jobs", jobstore="default", state="scheduled") == 1


def test_gauges_are_read_again_only_after_the_cache_time(make_scheduler, registry):
    scheduler = make_scheduler()
    instrument(scheduler, registry, cache_seconds=3600)
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    assert sample(scrape(registry), "apscheduler_jobs", jobstore="default", state="scheduled") == 1

    scheduler.add_job(targets.record, "interval", seconds=10, id="tock")

    assert sample(scrape(registry), "apscheduler_jobs", jobstore="default", state="scheduled") == 1


def test_detach_removes_the_metrics_and_leaves_the_scheduler_as_it_was(
    measured, fake_clock, registry
):
    scheduler, metrics = measured()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")

    metrics.detach()
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    assert not any(name.startswith("apscheduler_") for name in names(scrape(registry)))
    assert not {"lost", "store_reachable", "store_unreachable"} & set(
        vars(scheduler._run_recorder)
    )
    assert [run.state for run in scheduler.get_job_runs("tick")] == ["succeeded"]
    instrument(scheduler, registry)  # the names are free again


def test_two_schedulers_cannot_share_one_registry(make_scheduler, registry):
    instrument(make_scheduler(), registry)
    second = make_scheduler()

    with pytest.raises(ValueError, match="apscheduler_job_runs"):
        instrument(second, registry)

    assert not {"lost", "store_reachable", "store_unreachable"} & set(vars(second._run_recorder))


def test_the_backend_can_be_named_as_configuration_names_it(measured, make_scheduler, registry):
    scheduler = make_scheduler()
    metrics = apscheduler.metrics.instrument(
        scheduler, {"backend": "prometheus", "registry": registry, "per_job_labels": True}
    )
    scheduler.start()
    scheduler.add_job(targets.record, id="now")
    scheduler._process_jobs()

    text = scrape(registry)
    assert (
        sample(
            text,
            "apscheduler_job_runs_total",
            jobstore="default",
            job_id="now",
            outcome="succeeded",
        )
        == 1
    )
    metrics.detach()

    with pytest.raises(ValueError, match="prometheus, opentelemetry, got 'statsd'"):
        apscheduler.metrics.instrument(scheduler, "statsd")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_the_scheduler_and_metrics_package_imports_no_metrics_library():
    result = run_python(
        "import sys, apscheduler.metrics, apscheduler.schedulers.background\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('prometheus_client', 'opentelemetry')))"
    )

    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize(
    "module, library, extra",
    [
        ("prometheus", "prometheus_client", "prometheus"),
        ("opentelemetry", "opentelemetry", "opentelemetry"),
    ],
)
def test_a_missing_library_names_the_extra_to_install(module, library, extra):
    result = run_python(
        f"import sys; sys.modules[{library!r}] = None\n"
        "from apscheduler.schedulers.background import BackgroundScheduler\n"
        "import apscheduler.metrics\n"
        f"apscheduler.metrics.instrument(BackgroundScheduler(), {module!r})"
    )

    assert result.returncode != 0
    assert f"install the '{extra}' extra" in result.stderr


def test_a_store_that_cannot_be_read_leaves_the_other_metrics_scrapable(
    measured, flaky_store, registry, monkeypatch
):
    scheduler, _ = measured(jobstores={"default": flaky_store})

    def unreachable(*args, **kwargs):
        raise ConnectionError("the store is away")

    monkeypatch.setattr(flaky_store, "get_all_jobs", unreachable)

    text = scrape(registry)
    assert sample(text, "apscheduler_jobs", jobstore="default", state="scheduled") is None
    assert sample(text, "apscheduler_jobstore_up", jobstore="default") == 1


def test_the_metrics_scheduler_option_attaches_and_reconfiguring_detaches():
    prometheus_client = pytest.importorskip("prometheus_client")
    from apscheduler.schedulers.background import BackgroundScheduler

    registry = prometheus_client.CollectorRegistry()
    scheduler = BackgroundScheduler(
        timezone="UTC", metrics={"backend": "prometheus", "registry": registry}
    )
    assert "apscheduler_job_runs_total" in prometheus_client.generate_latest(registry).decode()

    scheduler.configure(timezone="UTC")

    assert "apscheduler_job_runs" not in prometheus_client.generate_latest(registry).decode()
