"""SchedulerClient: a process that runs no scheduler works on the jobs of one that runs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from apscheduler.client import SchedulerClient
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

pytest.importorskip("sqlalchemy")
UTC = timezone.utc
calls: list[str] = []


def record(label: str) -> None:
    calls.append(label)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


@pytest.fixture
def running(url):
    """A scheduler running on the store, as another process's would."""
    calls.clear()
    scheduler = BackgroundScheduler(
        timezone="UTC", jobstores={"default": {"type": "sqlalchemy", "url": url}}
    )
    scheduler.start()
    scheduler.add_job(
        "tests.test_client:record", "interval", hours=1, args=["nightly"], id="nightly"
    )
    yield scheduler
    scheduler.shutdown()


@pytest.fixture
def client(url):
    client = SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": url}})
    yield client
    client.close()


def test_the_client_lists_the_jobs_of_the_store(running, client):
    assert [job.id for job in client.get_jobs()] == ["nightly"]
    assert client.get_job("nightly").args == ("nightly",)
    assert client.get_job("nothing") is None


def test_pausing_and_resuming_reach_the_running_scheduler(running, client):
    client.pause_job("nightly")
    assert running.get_job("nightly").next_run_time is None

    resumed = client.resume_job("nightly")

    assert resumed.next_run_time > datetime.now(UTC) + timedelta(minutes=59)
    assert running.get_job("nightly").next_run_time == resumed.next_run_time
    assert running.explain("nightly").state == "scheduled"


def test_a_run_asked_by_the_client_is_made_by_the_running_scheduler(running, client):
    pending = client.run_job_now("nightly")

    wait_for(lambda: calls == ["nightly"])
    wait_for(lambda: running.get_job_runs("nightly")[0].state == "succeeded")
    assert running.get_job_runs("nightly")[0].run_id == pending.run_id


def test_removing_through_the_client(running, client):
    client.remove_job("nightly")

    assert running.get_job("nightly") is None
    with pytest.raises(JobLookupError):
        client.remove_job("nightly")


def test_the_client_explains_and_lists_runs(running, client):
    client.run_job_now("nightly")
    wait_for(lambda: calls)

    wait_for(lambda: client.get_job_runs("nightly", state="succeeded"))
    assert client.explain("nightly").last_runs[0].state == "succeeded"
