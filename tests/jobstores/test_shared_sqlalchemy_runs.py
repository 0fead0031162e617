"""
SQLAlchemyJobStore shared by several schedulers: the runs they have in progress.

Each test runs on SQLite and PostgreSQL, and on each through both ways the store has of doing
its work: the shortest the database allows (one statement for a whole batch of starts on
PostgreSQL, ``UPDATE … RETURNING``, ``DELETE … RETURNING``) and the portable one other
databases take (a transaction of several statements), which MariaDB takes too; and PostgreSQL
through psycopg2 as well as psycopg 3. The contract common to every shared store is in ``test_runs_contract``.
"""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import timedelta

import pytest

from apscheduler.jobstores.shared import AbandonedRun
from tests.services import require_module

from .conftest import external
from .leases import expire_leases
from .support import LOST, MAX_INSTANCES, NEXT, STARTED, T0, ids, make_job, start_for
from .test_shared_sqlalchemy import DATA, StubScheduler, _store_maker, add

sqlalchemy = pytest.importorskip("sqlalchemy")


@pytest.fixture(
    params=[
        pytest.param(("sqlite", "native"), id="sqlite"),
        pytest.param(("sqlite", "portable"), id="sqlite-portable"),
        pytest.param(("postgresql", "native"), id="postgresql", marks=external),
        pytest.param(("postgresql", "psycopg2"), id="postgresql-psycopg2", marks=external),
        pytest.param(("postgresql", "portable"), id="postgresql-portable", marks=external),
        pytest.param(("mysql", "portable"), id="mysql", marks=external),
    ]
)
def make_store(request, tmp_path):
    """Makes started stores on one table, each doing its work the way the test asks."""
    kind, way = request.param
    if way == "psycopg2":
        require_module("psycopg2")
    makers = _store_maker(kind, request, tmp_path)
    make = next(makers)

    def make_on_path(**options):
        if way == "psycopg2":
            url = request.getfixturevalue("postgres_url")
            options["url"] = url.replace("+psycopg:", "+psycopg2:")
        store = make(**options)
        if way == "portable":
            store._runs_sql.starts_in_one_statement = False
            store._runs_sql.takes_in_one_statement = False
            store._runs_sql.renews_in_one_statement = False
        return store

    yield make_on_path
    next(makers, None)  # closes the stores and drops the tables


@pytest.fixture
def make_postgres_store(request, tmp_path):
    yield from _store_maker("postgresql", request, tmp_path)


def start(store, owner, job, next_run_time=NEXT, run_id=None, run_times=(T0,)):
    [outcome] = store.start_claimed_runs(
        owner, [start_for(job, list(run_times), next_run_time, run_id or f"run-{job.id}")]
    )
    return outcome


def runs_in(store):
    """The rows of the runs table, as (run id, job id, owner, run times)."""
    table = store.runs_t
    with store.engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.select(
                table.c.run_id, table.c.job_id, table.c.owner, table.c.run_times
            ).order_by(table.c.run_id)
        ).all()
    return [tuple(row) for row in rows]


def test_starting_a_batch_moves_each_job_on_frees_it_and_records_its_runs(make_store):
    store, other = make_store(), make_store()
    add(store, "a", "b")
    jobs = store.acquire_due_jobs(T0, "one").jobs
    late = T0 + timedelta(seconds=30)

    outcomes = store.start_claimed_runs(
        "one", [start_for(jobs[0], [T0, late], NEXT, "r1"), start_for(jobs[1], [T0], NEXT, "r2")]
    )

    assert outcomes == [STARTED, STARTED]
    assert runs_in(other) == [
        ("r1", "a", "one", f"{T0.timestamp()!r} {late.timestamp()!r}"),
        ("r2", "b", "one", repr(T0.timestamp())),
    ]
    assert [job.next_run_time for job in other.get_all_jobs()] == [NEXT, NEXT]
    assert ids(other.acquire_due_jobs(NEXT, "two").jobs) == ["a", "b"]


def test_a_run_in_progress_elsewhere_skips_the_start_for_max_instances(make_store):
    first, second = make_store(), make_store()
    add(first, "a")  # max_instances=1
    (job,) = first.acquire_due_jobs(T0, "one").jobs
    assert start(first, "one", job) is STARTED

    (job,) = second.acquire_due_jobs(NEXT, "two").jobs
    outcome = start(second, "two", job, next_run_time=NEXT + timedelta(minutes=1), run_id="r2")

    assert outcome is MAX_INSTANCES
    assert first.lookup_job("a").next_run_time == NEXT + timedelta(minutes=1)
    assert [run[0] for run in runs_in(first)] == ["run-a"], "nothing recorded for the skip"
    assert ids(first.acquire_due_jobs(NEXT + timedelta(minutes=1), "three").jobs) == ["a"]


def test_runs_whose_lease_expired_no_longer_count_for_max_instances(make_store):
    store = make_store()
    add(store, "a")
    (job,) = store.acquire_due_jobs(T0, "dead").jobs
    start(store, "dead", job)
    expire_leases(store, "dead")

    (job,) = store.acquire_due_jobs(NEXT, "alive").jobs

    assert start(store, "alive", job, run_id="r2") is STARTED


def test_starts_whose_lease_is_gone_change_nothing(make_store):
    first, second = make_store(), make_store()
    add(first, "taken", "changed", "removed", "fine")
    jobs = first.acquire_due_jobs(T0, "slow").jobs
    expire_leases(first, "slow")
    assert ids(second.acquire_due_jobs(T0, "quick").jobs) == [
        "changed",
        "fine",
        "removed",
        "taken",
    ]
    for job_id in ("changed", "fine", "removed"):
        second.release_claimed_job(job_id, "quick")
    first.acquire_due_jobs(T0, "slow")  # renews the claims on the three released jobs
    second.update_job(make_job(second._scheduler, "changed", T0, args=("new",)))
    second.remove_job("removed")

    outcomes = first.start_claimed_runs(
        "slow", [start_for(job, [T0], NEXT, f"run-{job.id}") for job in jobs]
    )

    assert dict(zip(ids(jobs), outcomes, strict=True)) == {
        "changed": LOST,
        "fine": STARTED,
        "removed": LOST,
        "taken": LOST,
    }
    assert [run[0] for run in runs_in(first)] == ["run-fine"]
    stored = {job.id: job for job in first.get_all_jobs()}
    assert (stored["taken"].next_run_time, stored["changed"].args) == (T0, ("new",))


def test_a_start_retried_with_its_run_id_is_recognised_and_recorded_once(make_store):
    store = make_store()
    add(store, "a")
    (job,) = store.acquire_due_jobs(T0, "one").jobs
    assert start(store, "one", job) is STARTED

    assert start(store, "one", job) is STARTED
    assert len(runs_in(store)) == 1


def test_a_retry_after_a_lost_reply_gives_the_outcomes_of_the_first_attempt(
    make_store, monkeypatch
):
    """The first attempt commits, then the connection drops before its reply arrives."""
    store, other = make_store(), make_store()
    add(store, "busy")
    (busy,) = other.acquire_due_jobs(T0, "two").jobs
    assert start(other, "two", busy, run_id="elsewhere") is STARTED
    add(store, "free")
    jobs = store.acquire_due_jobs(NEXT, "one").jobs
    real_start = store._runs_sql.start
    attempts = []

    def start_and_lose_the_reply(connection, entries, params):
        attempts.append(len(entries))
        if len(attempts) > 1:
            return real_start(connection, entries, params)
        with store.engine.begin() as committing:
            real_start(committing, entries, params)
        raise sqlalchemy.exc.OperationalError(
            "…", {}, Exception("connection lost"), connection_invalidated=True
        )

    monkeypatch.setattr(store._runs_sql, "start", start_and_lose_the_reply)
    outcomes = store.start_claimed_runs(
        "one", [start_for(job, [T0], NEXT + timedelta(hours=1), f"r-{job.id}") for job in jobs]
    )

    assert attempts == [2, 2]
    assert dict(zip(ids(jobs), outcomes, strict=True)) == {"busy": MAX_INSTANCES, "free": STARTED}
    assert [run[0] for run in runs_in(store)] == ["elsewhere", "r-free"]


def test_a_job_twice_in_one_batch_starts_once(make_store):
    store = make_store()
    add(store, "a", "b")
    a, b = store.acquire_due_jobs(T0, "one").jobs

    outcomes = store.start_claimed_runs(
        "one",
        [
            start_for(a, [T0], NEXT, "r1"),
            start_for(b, [T0], NEXT, "r2"),
            start_for(a, [T0], NEXT, "r3"),
        ],
    )

    assert outcomes == [STARTED, STARTED, LOST]


def test_the_last_run_of_a_schedule_removes_the_job_and_is_recorded(make_store):
    store = make_store()
    add(store, "a")
    (job,) = store.acquire_due_jobs(T0, "one").jobs

    assert start(store, "one", job, next_run_time=None) is STARTED

    assert store.get_all_jobs() == []
    assert [run[:3] for run in runs_in(store)] == [("run-a", "a", "one")]


def test_finishing_runs_forgets_only_those_of_their_owner(make_store):
    store = make_store()
    add(store, "a", "b")
    a, b = store.acquire_due_jobs(T0, "one").jobs
    start(store, "one", a)
    start(store, "one", b)

    store.finish_runs("two", ["run-a"])
    store.finish_runs("one", ["run-b", "unknown"])
    store.finish_runs("one", ["run-b"])
    store.finish_runs("one", [])

    assert [run[0] for run in runs_in(store)] == ["run-a"]


def test_renewing_keeps_an_owners_runs_past_their_first_lease(make_store):
    store = make_store()
    add(store, "mine")
    start(store, "alive", *store.acquire_due_jobs(T0, "alive").jobs)
    add(store, "theirs")
    start(store, "dead", *store.acquire_due_jobs(T0, "dead").jobs)

    expire_leases(store)
    assert store.renew_runs("alive") == {"run-mine"}

    assert store.take_abandoned_runs() == [AbandonedRun("theirs", [T0], "dead")]
    assert [run[0] for run in runs_in(store)] == ["run-mine"]


def test_renewing_names_only_the_runs_nobody_took_over(make_store):
    """A scheduler that stopped for longer than the lease must not start the runs taken."""
    store, other = make_store(), make_store()
    add(store, "a")
    start(store, "paused", *store.acquire_due_jobs(T0, "paused").jobs)
    expire_leases(store, "paused")
    assert other.take_abandoned_runs() == [AbandonedRun("a", [T0], "paused")]
    add(store, "b")
    start(store, "paused", *store.acquire_due_jobs(T0, "paused").jobs)

    assert store.renew_runs("paused") == {"run-b"}
    assert store.renew_runs("nobody") == set()


def test_abandoned_runs_come_back_once_with_their_run_times(make_store):
    first, second = make_store(), make_store()
    add(first, "a")
    (job,) = first.acquire_due_jobs(T0, "dead").jobs
    late = T0 + timedelta(seconds=30, microseconds=250)
    start(first, "dead", job, run_times=(T0, late))
    assert second.take_abandoned_runs() == []
    expire_leases(first, "dead")

    assert second.take_abandoned_runs() == [AbandonedRun("a", [T0, late], "dead")]
    assert first.take_abandoned_runs() == []
    assert runs_in(first) == []


def test_schedulers_taking_abandoned_runs_at_once_each_get_different_ones(make_store):
    stores = [make_store() for _ in range(4)]
    job_ids = [f"job{index:02}" for index in range(40)]
    add(stores[0], *job_ids)
    jobs = (
        stores[0].acquire_due_jobs(T0, "dead").jobs + stores[0].acquire_due_jobs(T0, "dead").jobs
    )
    starts = [start_for(job, [T0], NEXT, job.id) for job in jobs]
    assert stores[0].start_claimed_runs("dead", starts) == [STARTED] * len(job_ids)
    expire_leases(stores[0], "dead")
    taken = {index: [] for index in range(4)}
    barrier = threading.Barrier(4)

    def take(index):
        barrier.wait()
        taken[index] = stores[index].take_abandoned_runs()

    threads = [threading.Thread(target=take, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    every_run = sorted(run.job_id for runs in taken.values() for run in runs)
    assert every_run == job_ids


def test_a_table_of_the_previous_release_gets_its_runs_table_and_keeps_its_jobs(make_store):
    store = make_store()
    add(store, "a")
    store.runs_t.drop(store.engine)

    upgraded = make_store()

    assert ids(upgraded.get_all_jobs()) == ["a"]
    assert start(upgraded, "one", *upgraded.acquire_due_jobs(T0, "one").jobs) is STARTED
    assert [run[0] for run in runs_in(upgraded)] == ["run-a"]


@external
def test_a_batch_of_starts_is_one_statement_on_postgresql(make_postgres_store):
    store = make_postgres_store()
    add(store, *(f"job{index:02}" for index in range(20)))
    jobs = store.acquire_due_jobs(T0, "one").jobs
    statements = []
    sqlalchemy.event.listen(
        store.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )

    outcomes = store.start_claimed_runs(
        "one", [start_for(job, [T0], NEXT, job.id) for job in jobs]
    )

    assert outcomes == [STARTED] * 20
    assert len(statements) == 1


def test_the_store_prepares_for_a_first_burst_by_its_first_claim_of_nothing(make_store, caplog):
    """
    A second pooled connection, and the batch start statement run once on no starts, both
    after the first claim that finds no due job (the scheduler's first pass), not at start.
    """
    with caplog.at_level(logging.DEBUG, "apscheduler.jobstores"):
        store = make_store()
        assert store.acquire_due_jobs(T0, "one").jobs == []
    add(store, "a")

    assert "Could not prepare" not in caplog.text
    assert store.engine.pool.checkedin() >= 2 or store.engine.dialect.name == "sqlite"
    with store.engine.begin() as connection:
        store._runs_sql.prepare(
            connection, store._jobs_sql.params(owner="", run_owner="", lease=0)
        )
    assert [job.next_run_time for job in store.get_all_jobs()] == [T0], "changes nothing"
    assert runs_in(store) == []


def test_a_pool_of_one_connection_is_not_asked_for_a_second(make_store, caplog):
    """Neither at start nor by the preparation for bursts after the first claim of nothing."""
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 1}
    with caplog.at_level(logging.DEBUG, "apscheduler.jobstores"):
        store = make_store(engine_options=pool)
        assert store.acquire_due_jobs(T0, "one").jobs == []

    assert "Could not prepare" not in caplog.text
    add(store, "a")
    assert ids(store.acquire_due_jobs(T0, "one").jobs) == ["a"]


def test_a_311_sqlite_file_gets_a_runs_table_and_its_jobs_can_start(tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)
    store = SQLAlchemyJobStore(url=f"sqlite:///{database}")
    store.start(StubScheduler(), "default")
    try:
        before = ids(store.get_all_jobs())
        jobs = store.acquire_due_jobs(T0, "upgraded").jobs
        outcomes = store.start_claimed_runs(
            "upgraded", [start_for(job, [T0], None, job.id) for job in jobs]
        )

        assert jobs and outcomes == [STARTED] * len(jobs)
        assert sorted(run[0] for run in runs_in(store)) == sorted(ids(jobs))
        assert sorted(ids(store.get_all_jobs())) == sorted(set(before) - set(ids(jobs)))
    finally:
        store.shutdown()


@external
def test_a_table_name_near_postgresqls_length_limit_gets_its_indexes_once(make_postgres_store):
    """Index names past 63 characters are shortened the same way at every start."""
    from uuid import uuid4

    tablename = f"jobs_{uuid4().hex}".ljust(58, "x")
    first = make_postgres_store(tablename=tablename)
    try:
        add(first, "a")
        second = make_postgres_store(tablename=tablename)

        inspector = sqlalchemy.inspect(second.engine)
        assert len(inspector.get_indexes(tablename)) == 2
        assert len(inspector.get_indexes(f"{tablename}_runs")) == 2
        assert start(second, "one", *second.acquire_due_jobs(T0, "one").jobs) is STARTED
    finally:
        first.jobs_t.metadata.drop_all(first.engine)
