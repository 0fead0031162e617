"""
Retries on a store that three scheduler processes share: every attempt runs once, somewhere.

A job fails on its first two attempts; each retry is a run request kept with the job, which one
of the workers claims. The job counts its calls in a file, across processes.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from apscheduler.schedulers.background import BackgroundScheduler

from .harness import ChaosConfig, StoreSpec, Worker, read
from .test_chaos import postgresql_spec, sqlite_spec  # noqa: F401 (fixtures, used by name)
from .test_chaos_redis import redis_spec  # noqa: F401 (fixture, used by name)

UTC = timezone.utc
WORKERS = 3
DEADLINE = 40.0


@pytest.fixture(
    params=[
        pytest.param("sqlite_spec", id="sqlite"),
        pytest.param("postgresql_spec", id="postgresql", marks=pytest.mark.external_service),
        pytest.param("redis_spec", id="redis", marks=pytest.mark.external_service),
    ]
)
def store_spec(request: pytest.FixtureRequest) -> StoreSpec:
    spec: StoreSpec = request.getfixturevalue(request.param)
    return spec.with_options(lease_time=2.0)


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_every_attempt_runs_once_across_three_processes(store_spec, tmp_path: Path):
    counter = tmp_path / "attempts"
    counter.touch()
    workers = [Worker(index, store_spec, ChaosConfig(), tmp_path) for index in range(WORKERS)]
    for worker in workers:
        worker.start()
    client = BackgroundScheduler(timezone="UTC", jobstores={"default": store_spec.make()})
    try:
        wait_for(
            lambda: (
                sum(r.kind == "ready" for p in tmp_path.glob("*.record") for r in read(p))
                == WORKERS
            ),
            "the workers to start",
        )
        client.start(paused=True)
        client.add_job(
            "tests.multiprocess.jobs:flaky",
            "interval",
            days=1,
            start_date=datetime.now(UTC) + timedelta(seconds=1),
            args=[str(counter), 2],
            id="flaky",
            max_retries=3,
            retry_delay=0.5,
            retry_backoff=1,
            misfire_grace_time=30,
        )

        def ended():
            return [run for run in client.get_job_runs("flaky") if run.state == "succeeded"]

        wait_for(ended, "the attempt that succeeds")
        time.sleep(1.5)  # time enough for an attempt to run twice, were it to

        pids = counter.read_text().split()
        assert len(pids) == 3, f"{len(pids)} calls for 3 attempts"
        runs = sorted(client.get_job_runs("flaky"), key=lambda run: run.attempt)
        assert [(run.attempt, run.state) for run in runs] == [
            (1, "failed"),
            (2, "failed"),
            (3, "succeeded"),
        ]
        assert {run.pid for run in runs} <= {w.process.pid for w in workers if w.process}
    finally:
        client.shutdown(wait=False)
        for worker in workers:
            worker.ask_to_stop()
        for worker in workers:
            worker.wait_stopped()
