"""
SQLAlchemyJobStore over a connection that may only read a table APScheduler 3.11 made.

Dashboards and command line tools open a scheduler's table that way. The store cannot add its
lease columns and its table of runs then: it works read-only instead of failing at start.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta
from uuid import uuid4

import pytest

from apscheduler.events import EVENT_ALL
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.shared import RunRequest
from tests.conftest import FakeClock
from tests.services import require_module, unavailable

from .support import T0, RecordingScheduler, SteppedScheduler, make_job
from .test_compat_3x import DATA, EXPECTED_ORDER, RECORDS, check_jobs_as_311_wrote_them

sqlalchemy = pytest.importorskip("sqlalchemy")

from apscheduler.jobstores.sqlalchemy import (  # noqa: E402
    ReadOnlyJobStoreError,
    SQLAlchemyJobStore,
)

from .test_compat_3x import write_311_sql_table  # noqa: E402

EARLIEST_RUN_TIME = min(r["next_run_time"] for r in RECORDS.values() if r["next_run_time"])


@pytest.fixture
def database(tmp_path):
    """A copy of the SQLite file APScheduler 3.11 wrote."""
    path = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", path)
    return path


@pytest.fixture
def read_only_url(database):
    return f"sqlite:///file:{database.as_posix()}?mode=ro&uri=true"


@pytest.fixture
def stores():
    """Starts stores on a recording scheduler and shuts them down after the test."""
    started = []

    def start(url, **options):
        store = SQLAlchemyJobStore(url=url, **options)
        store.start(RecordingScheduler(), "default")
        started.append(store)
        return store

    yield start
    for store in started:
        store.shutdown()


def read_only_warnings(caplog):
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "works read-only" in record.getMessage()
    ]


def check_writes_are_refused(store, table="apscheduler_jobs"):
    job = store.lookup_job("interval")
    attempts = {
        "add_job": lambda: store.add_job(make_job(store._scheduler, "new")),
        "update_job": lambda: store.update_job(job),
        "remove_job": lambda: store.remove_job("interval"),
        "remove_all_jobs": store.remove_all_jobs,
        "request_run": lambda: store.request_run("interval", RunRequest("asked", T0)),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ReadOnlyJobStoreError) as raised:
            attempt()
        assert str(raised.value).startswith(
            f"Job store 'default' cannot change the table '{table}': this connection may only "
            f"read it ("
        ), name
    assert [job.id for job in store.get_all_jobs()] == EXPECTED_ORDER


def test_a_311_table_lists_its_jobs_over_a_read_only_sqlite_connection(
    stores, read_only_url, database, caplog
):
    written = database.read_bytes()
    with caplog.at_level(logging.WARNING):
        store = stores(read_only_url)

    check_jobs_as_311_wrote_them(store)
    assert store.lookup_job("interval").args == (1, "two")
    assert store.get_next_run_time().timestamp() == EARLIEST_RUN_TIME
    warning = (
        "Job store 'default' works read-only: this connection may read the table "
        "'apscheduler_jobs' but not change it (attempt to write a readonly database); it lists "
        "jobs but refuses to add, change, remove or run any. Connect with the right to write "
        "to upgrade the table in place"
    )
    assert read_only_warnings(caplog) == [warning]
    assert database.read_bytes() == written


def test_a_read_only_store_refuses_every_change_with_a_clear_error(
    stores, read_only_url, database
):
    written = database.read_bytes()
    store = stores(read_only_url)

    check_writes_are_refused(store)
    assert database.read_bytes() == written


def test_a_read_only_store_claims_nothing_and_refuses_to_claim_due_jobs(stores, read_only_url):
    store = stores(read_only_url)
    before_all = T0 - timedelta(days=30)

    claimed = store.acquire_due_jobs(before_all, "scheduler-1")
    assert claimed.jobs == []
    assert claimed.next_run_time.timestamp() == EARLIEST_RUN_TIME
    assert store.take_abandoned_runs() == []
    with pytest.raises(ReadOnlyJobStoreError, match="^Job store 'default' cannot run its due"):
        store.acquire_due_jobs(T0, "scheduler-1")


def test_the_same_table_over_a_connection_that_may_write_is_upgraded_in_place(
    stores, read_only_url, database, caplog
):
    stores(read_only_url).shutdown()
    caplog.clear()

    with caplog.at_level(logging.WARNING):
        store = stores(f"sqlite:///{database}")

    columns = {c["name"] for c in sqlalchemy.inspect(store.engine).get_columns("apscheduler_jobs")}
    assert {"lease_owner", "lease_expires"} <= columns
    assert sqlalchemy.inspect(store.engine).has_table("apscheduler_jobs_runs")
    assert read_only_warnings(caplog) == []
    store.remove_job("paused")
    assert "paused" not in [job.id for job in store.get_all_jobs()]


def test_a_table_of_this_store_works_read_only_too(stores, tmp_path, caplog):
    """Complete tables need no change at start: a write that changes nothing tells."""
    path = tmp_path / "ours.sqlite"
    writer = stores(f"sqlite:///{path}")
    writer.add_job(make_job(writer._scheduler, "ours"))
    writer.shutdown()
    caplog.clear()

    with caplog.at_level(logging.WARNING):
        store = stores(f"sqlite:///file:{path.as_posix()}?mode=ro&uri=true")

    assert [job.id for job in store.get_all_jobs()] == ["ours"]
    assert store.get_next_run_time() == T0
    assert store.take_abandoned_runs() == []
    assert len(read_only_warnings(caplog)) == 1
    with pytest.raises(ReadOnlyJobStoreError):
        store.remove_job("ours")


def test_a_scheduler_on_a_read_only_store_lists_the_jobs_but_runs_none(
    read_only_url, database, caplog
):
    """A run it could not record would start again on every pass: it logs and waits instead."""
    written = database.read_bytes()
    clock = FakeClock(T0 - timedelta(days=30))
    events = []
    scheduler = SteppedScheduler(
        timezone="UTC",
        clock=clock,
        executors={"default": DebugExecutor()},
        jobstores={"default": SQLAlchemyJobStore(url=read_only_url)},
    )
    scheduler.add_listener(events.append, EVENT_ALL)
    scheduler.start()
    try:
        with caplog.at_level(logging.WARNING):
            assert [job.id for job in scheduler.get_jobs()] == EXPECTED_ORDER
            # nothing due yet: a quiet pass, back at the poll interval
            assert scheduler._process_jobs() == scheduler._jobstores["default"].poll_interval
            quiet = [record for record in caplog.records if "works read-only" not in record.msg]
            assert quiet == []

            clock.advance(days=30)
            delay = scheduler._process_jobs()

        with pytest.raises(ReadOnlyJobStoreError):
            scheduler.add_job(print, "interval", minutes=1)
    finally:
        scheduler.shutdown()

    assert delay == scheduler.jobstore_retry_interval
    refusal = (
        "Error getting due jobs from job store 'default': Job store 'default' cannot run its "
        "due jobs: this connection may only read the table 'apscheduler_jobs' ("
    )
    # (the scheduler's facts, which it cannot record in this store either, are logged apart)
    assert any(record.getMessage().startswith(refusal) for record in caplog.records)
    job_events = [event for event in events if hasattr(event, "job_id")]
    assert job_events == []
    assert database.read_bytes() == written


@pytest.fixture
def read_only_postgres_role(postgres_url):
    """A 3.11 job table on PostgreSQL, and the URL of a role that may only SELECT from it."""
    require_module("psycopg")
    ns = uuid4().hex[:12]
    table, role = f"jobs_{ns}", f"reader_{ns}"
    owner = SQLAlchemyJobStore(url=postgres_url, tablename=table)
    write_311_sql_table(owner, RECORDS)
    text = sqlalchemy.text
    try:
        with owner.engine.begin() as connection:
            connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'reader'"))
            connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
            connection.execute(text(f"GRANT SELECT ON {table} TO {role}"))
    except sqlalchemy.exc.DBAPIError as exc:
        owner.jobs_t.drop(owner.engine)
        owner.engine.dispose()
        unavailable(f"cannot make a read-only PostgreSQL role: {exc.orig}")

    url = sqlalchemy.engine.make_url(postgres_url).set(username=role, password="reader")
    yield url.render_as_string(hide_password=False), table
    with owner.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {table}"))
        connection.execute(text(f"DROP OWNED BY {role}"))
        connection.execute(text(f"DROP ROLE {role}"))
    owner.engine.dispose()


@pytest.mark.external_service
def test_a_311_table_lists_its_jobs_for_a_postgresql_role_with_only_select(
    stores, read_only_postgres_role, caplog
):
    url, table = read_only_postgres_role
    with caplog.at_level(logging.WARNING):
        store = stores(url, tablename=table)

    check_jobs_as_311_wrote_them(store)
    assert store.get_next_run_time().timestamp() == EARLIEST_RUN_TIME
    [warning] = read_only_warnings(caplog)
    assert f"may read the table '{table}' but not change it (" in warning
    check_writes_are_refused(store, table)
