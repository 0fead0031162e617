"""
``run_job_now()`` from a client process: one of three scheduler processes makes the run, once.

The client is this test's process: a scheduler configured with the shared store that never
starts. The three workers are real processes (see :mod:`tests.multiprocess.worker`) on a real
store; the run they make is recorded in the store's history, which the client reads back.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from apscheduler.schedulers.background import BackgroundScheduler

from .harness import ChaosConfig, StoreSpec, Worker, read
from .test_chaos import postgresql_spec, sqlite_spec  # noqa: F401 (fixtures, used by name)
from .test_chaos_mongodb import mongodb_spec  # noqa: F401 (fixture, used by name)
from .test_chaos_redis import redis_spec  # noqa: F401 (fixture, used by name)

UTC = timezone.utc
WORKERS = 3
#: the longest a test waits for the workers to get somewhere
DEADLINE = 30.0


@pytest.fixture(
    params=[
        pytest.param("sqlite_spec", id="sqlite"),
        pytest.param("postgresql_spec", id="postgresql", marks=pytest.mark.external_service),
        pytest.param("redis_spec", id="redis", marks=pytest.mark.external_service),
        pytest.param("mongodb_spec", id="mongodb", marks=pytest.mark.external_service),
    ]
)
def store_spec(request: pytest.FixtureRequest) -> StoreSpec:
    spec: StoreSpec = request.getfixturevalue(request.param)
    return spec.with_options(lease_time=2.0)


def client_of(spec: StoreSpec) -> BackgroundScheduler:
    """A scheduler that only asks: it is never started."""
    return BackgroundScheduler(timezone="UTC", jobstores={"default": spec.make()})


def add_daily_job(spec: StoreSpec) -> None:
    """A job whose next run is a day away, added through a paused scheduler."""
    scheduler = BackgroundScheduler(timezone="UTC", jobstores={"default": spec.make()})
    scheduler.start(paused=True)
    try:
        scheduler.add_job(
            "tests.multiprocess.jobs:tick",
            "interval",
            days=1,
            start_date=datetime.now(UTC) + timedelta(days=1),
            id="report",
            args=["report"],
        )
    finally:
        scheduler.shutdown(wait=False)


def records_of(workdir: Path, kind: str) -> list:
    return [
        record for path in workdir.glob("*.record") for record in read(path) if record.kind == kind
    ]


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_client_asks_and_exactly_one_worker_runs_the_job(store_spec, tmp_path):
    add_daily_job(store_spec)
    workers = [Worker(index, store_spec, ChaosConfig(), tmp_path) for index in range(WORKERS)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: len(records_of(tmp_path, "ready")) == WORKERS, "the workers to start")
        client = client_of(store_spec)

        pending = client.run_job_now("report")

        assert pending.state == "pending"
        wait_for(lambda: records_of(tmp_path, "run"), "a worker to run the job")

        def recorded():
            return [run for run in client.get_job_runs("report") if run.run_id == pending.run_id]

        wait_for(lambda: recorded() and recorded()[0].state == "succeeded", "the run's record")
        time.sleep(1.0)  # time enough for a second worker to make the run, were it to
        [run] = recorded()
        runs = records_of(tmp_path, "run")
        assert len(runs) == 1, f"the job ran {len(runs)} times"
        assert run.pid == runs[0].pid, "the record names the worker that made the run"
        assert run.pid in {worker.process.pid for worker in workers if worker.process}
        assert client.get_job("report") is None, "the client holds no jobs of its own"
        explained = client.explain("report")
        assert explained.state == "scheduled"
        assert explained.last_runs[0].run_id == pending.run_id
        next_run = explained.next_run_times[0]
        assert next_run > datetime.now(UTC) + timedelta(hours=23), "the schedule is unchanged"
    finally:
        for worker in workers:
            worker.ask_to_stop()
        for worker in workers:
            worker.wait_stopped()
