"""
Stores ride out real outages: the Redis and PostgreSQL servers are stopped and started again
in the middle of store use (Redis keeps its data in an append-only file across the restart).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from apscheduler.events import EVENT_ALL, EVENT_JOB_EXECUTED
from apscheduler.executors.debug import DebugExecutor
from tests.conftest import FakeClock
from tests.services import require_module

from . import support
from .support import T0, RecordingScheduler, SteppedScheduler, make_job

pytestmark = pytest.mark.external_service


def redis_store(server, **options):
    require_module("redis")
    from apscheduler.jobstores.redis import RedisJobStore

    url = urlsplit(server.url)
    ns = uuid4().hex[:12]
    return RedisJobStore(
        host=url.hostname,
        port=url.port,
        jobs_key=f"{ns}.jobs",
        run_times_key=f"{ns}.run_times",
        **options,
    )


def postgres_store(server, **options):
    require_module("psycopg")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(server.url, tablename=f"jobs_{uuid4().hex[:12]}", **options)


class Outage:
    """Makes stores on one server that the test may stop and start again."""

    def __init__(self, server, make_store):
        self.server = server
        self.make_store = make_store
        self.stores = []

    def store(self, start=True, **options):
        store = self.make_store(self.server, **options)
        self.stores.append(store)
        if start:
            store.start(RecordingScheduler(), "default")
        return store

    def close(self):
        if getattr(self.server, "process", True) is None:
            self.server.start()  # a failed test must not leave the session without its server
        for store in self.stores:
            store.remove_all_jobs()
            store.shutdown()


@pytest.fixture(
    params=[("redis_server", redis_store), ("postgres_server", postgres_store)],
    ids=["redis", "postgresql"],
)
def outage(request):
    fixture_name, make_store = request.param
    outage = Outage(request.getfixturevalue(fixture_name), make_store)
    yield outage
    outage.close()


def outage_logs(caplog):
    return [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "apscheduler.jobstores.default" and record.levelno >= logging.INFO
    ]


def test_an_operation_during_a_restart_waits_for_the_server_and_loses_nothing(outage, caplog):
    store, server = outage.store(retry_timeout=30), outage.server
    for index in range(3):
        store.add_job(make_job(store._scheduler, f"job{index}", T0 + timedelta(seconds=index)))

    server.stop()
    outcome = []
    adding = threading.Thread(
        target=lambda: outcome.append(store.add_job(make_job(store._scheduler, "during", T0)))
    )
    with caplog.at_level(logging.INFO):
        adding.start()
        # the server must be started from this thread: it gets killed when its parent
        # thread ends, so that no server outlives a crashed test session
        time.sleep(0.5)
        server.start()
        adding.join(30)
        jobs = store.get_all_jobs()

    assert outcome == [None], "add_job() returned normally once the server was back"

    assert [job.id for job in jobs] == ["during", "job0", "job1", "job2"]
    (warning, recovery) = outage_logs(caplog)
    assert warning[0] == "WARNING" and "lost its connection" in warning[1]
    assert recovery[0] == "INFO" and "reached its storage again" in recovery[1]


def test_a_store_gives_up_in_bounded_time_and_works_again_after_the_outage(outage, caplog):
    store, server = outage.store(retry_timeout=0.5), outage.server
    store.add_job(make_job(store._scheduler, "kept", T0))

    server.stop()
    with caplog.at_level(logging.INFO):
        started = time.monotonic()
        with pytest.raises(Exception, match=r"\S") as failure:
            store.get_due_jobs(T0)
        assert time.monotonic() - started < store.retry_timeout + 2
        assert store._is_temporary_error(failure.value)
        with pytest.raises(Exception, match=r"."):
            store.add_job(make_job(store._scheduler, "refused", T0))

        server.start()
        due = store.get_due_jobs(T0)
        store.add_job(make_job(store._scheduler, "after", T0))

    assert [job.id for job in due] == ["kept"]
    assert [job.id for job in store.get_all_jobs()] == ["after", "kept"]
    levels = [level for level, _ in outage_logs(caplog)]
    assert levels == ["WARNING", "INFO"], "one warning per outage, one notice on recovery"


def test_a_store_started_during_an_outage_sets_itself_up_when_the_server_returns(outage, caplog):
    server = outage.server
    server.stop()
    try:
        late_store = outage.store(start=False, retry_timeout=0.2)
        with caplog.at_level(logging.WARNING):
            late_store.start(RecordingScheduler(), "default")
    finally:
        server.start()

    late_store.add_job(make_job(late_store._scheduler, "a", T0))

    assert [job.id for job in late_store.get_due_jobs(T0)] == ["a"]
    assert any("set it up on first use" in message for _, message in outage_logs(caplog))


# --- a scheduler driven step by step keeps its schedule through an outage ------------------


def test_a_scheduler_keeps_its_schedule_through_a_server_restart(outage, monkeypatch):
    # no other process shares the store: the scheduler sleeps as long as its jobs allow
    store, server = outage.store(start=False, retry_timeout=0.3, poll_interval=3600), outage.server
    monkeypatch.setattr(support, "RUNS", [])
    clock = FakeClock(T0)
    events = []
    scheduler = SteppedScheduler(
        timezone="UTC",
        clock=clock,
        executors={"default": DebugExecutor()},
        jobstores={"default": store},
        jobstore_retry_interval=10,
    )
    scheduler.add_listener(events.append, EVENT_ALL)
    scheduler.start()
    scheduler.add_job(
        support.record_run, "interval", seconds=30, args=["tick"], id="j", misfire_grace_time=None
    )

    clock.advance(seconds=30)
    assert scheduler._process_jobs() == 30
    assert support.RUNS == ["tick"]

    server.stop()
    try:
        clock.advance(seconds=30)
        assert scheduler._process_jobs() == 10, "retries after jobstore_retry_interval"
        assert support.RUNS == ["tick"]
    finally:
        server.start()

    clock.advance(seconds=10)
    scheduler._process_jobs()

    assert support.RUNS == ["tick", "tick"]
    executed = [event.scheduled_run_time for event in events if event.code == EVENT_JOB_EXECUTED]
    assert executed == [T0 + timedelta(seconds=30), T0 + timedelta(seconds=60)]
    assert scheduler.get_job("j").next_run_time == T0 + timedelta(seconds=90)
    scheduler.shutdown()
