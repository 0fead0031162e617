"""A real SQLite store with a real running scheduler on it, and dashboards on that store."""

from __future__ import annotations

import sqlite3
import time

import pytest

from apscheduler.client import SchedulerClient
from apscheduler.schedulers.background import BackgroundScheduler
from tests.web import _jobs

pytest.importorskip("sqlalchemy")

TOKEN = "let-me-in"
EVIL_NAME = "<script>alert('name')</script>"
EVIL_ARG = "<script>alert('args')</script>"


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def make_unloadable(db_file, job_id):
    """Spoil the stored state of a job, as a job whose code is gone would be."""
    with sqlite3.connect(db_file) as connection:
        connection.execute(
            "UPDATE apscheduler_jobs SET job_state = ? WHERE id = ?", (b"not a pickle", job_id)
        )
    connection.close()


@pytest.fixture
def db_file(tmp_path):
    return tmp_path / "jobs.sqlite"


@pytest.fixture
def store_config(db_file):
    return {"default": {"type": "sqlalchemy", "url": f"sqlite:///{db_file}"}}


@pytest.fixture
def running(store_config):
    """A scheduler running on the store, as another process's would."""
    _jobs.calls.clear()
    _jobs.release.clear()
    scheduler = BackgroundScheduler(timezone="UTC", jobstores=store_config)
    scheduler.start()
    scheduler.add_job(
        "tests.web._jobs:record", "cron", hour=3, args=["nightly"], id="nightly", name="Nightly"
    )
    scheduler.add_job(
        "tests.web._jobs:record",
        "interval",
        minutes=30,
        args=[EVIL_ARG],
        id="evil",
        name=EVIL_NAME,
    )
    scheduler.add_job("tests.web._jobs:hold", "interval", hours=6, id="slow", name="Slow")
    yield scheduler
    _jobs.release.set()
    scheduler.shutdown()


@pytest.fixture
def client(store_config, running):
    client = SchedulerClient(jobstores=store_config)
    yield client
    client.close()
