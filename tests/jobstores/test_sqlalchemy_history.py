"""
SQLAlchemyJobStore keeps the history of runs in ``<tablename>_history``.

What every store's history does is checked in ``test_history_contract.py``; here is what is
the SQL store's own: the portable way that databases without their own upsert or window
functions take (a delete and an insert in one transaction, and runs ranked in this process for
pruning), the tables beside the job table (the history and its facts), their upgrade, and
read-only databases.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from uuid import uuid4

import pytest

from apscheduler.runs import FAILED, RUNNING, MemoryRunHistory, RetentionPolicy

from .conftest import _factory, external
from .support import T0, RecordingScheduler
from .test_compat_3x import DATA, RECORDS, check_jobs_as_311_wrote_them, write_311_sql_table
from .test_history_contract import fact, fact_ids, mixed_runs, run, run_ids
from .test_shared_sqlalchemy import _store_maker

sqlalchemy = pytest.importorskip("sqlalchemy")

from apscheduler.jobstores.sqlalchemy import (  # noqa: E402
    ReadOnlyJobStoreError,
    SQLAlchemyJobStore,
)

PORTABLE_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=external),
    pytest.param("mysql", id="mysql", marks=external),
]


@pytest.fixture(params=PORTABLE_KINDS)
def portable_store(request, tmp_path):
    """
    A started store that writes its history the portable way, as on a database without its
    own upsert or window functions (the native way is in ``test_history_contract.py``).
    """
    makers = _store_maker(request.param, request, tmp_path)
    store = next(makers)()
    store._history_sql.upserts_in_one_statement = False
    store._history_sql.prunes_with_window = False
    store._facts_sql.upserts_in_one_statement = False
    yield store
    next(makers, None)  # closes the stores and drops the tables


# --- the portable way: a delete and an insert, and runs ranked in this process -------------


def test_the_portable_way_replaces_records_as_an_upsert_does(portable_store):
    store = portable_store
    started = run("run-1", state=RUNNING, started_at=T0, host="h", pid=7)
    store.record_runs([started, run("run-2", minutes=-1)])
    ended = started.evolve(state=FAILED, exception="bad: ünïcode", traceback="tb\n" * 5000)

    store.record_runs([ended])
    store.record_runs([ended])  # a retry after a lost reply
    store.record_runs([run("run-3", minutes=1, state=RUNNING), run("run-3", minutes=1)])
    store.record_runs([])

    assert store.get_job_runs(limit=1000) == [
        run("run-3", minutes=1),
        ended,
        run("run-2", minutes=-1),
    ]


def test_the_portable_way_prunes_as_the_memory_history_does(portable_store):
    store = portable_store
    now = T0 + timedelta(hours=3)
    runs = mixed_runs()
    policies = [
        RetentionPolicy(max_runs=20, max_age=None),
        RetentionPolicy(max_runs=100, max_age=timedelta(hours=2)),
        RetentionPolicy(max_runs=8, max_age=timedelta(hours=1)),
        RetentionPolicy(max_runs=0, max_age=None),
    ]
    memory = MemoryRunHistory()
    memory.record_runs(runs)
    store.record_runs(runs)

    for policy in policies:
        memory.prune_runs(policy, now)
        store.prune_runs(policy, now)

        assert store.get_job_runs(limit=1000) == memory.get_job_runs(limit=1000), policy
    # no history at all: only the running ones are left
    assert {run.state for run in store.get_job_runs(limit=1000)} == {RUNNING}


def test_the_portable_way_replaces_facts_as_an_upsert_does(portable_store):
    store = portable_store
    store.record_facts([fact("a", 0), fact("b", 10)])

    store.record_facts([fact("a", 0, detail="again"), fact("a", 20)])  # the last one counts
    store.record_facts([fact("a", 20)])  # a retry after a lost reply

    assert store.get_facts() == [fact("a", 20), fact("b", 10)]


# --- the table at start ------------------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=external),
        pytest.param("mysql", id="mysql", marks=external),
    ]
)
def store_factory(request, tmp_path):
    """Makes stores of one kind on one table (started unless asked otherwise)."""
    yield from _factory(request.param, request, tmp_path)


def table_names(store):
    return set(sqlalchemy.inspect(store.engine).get_table_names(schema=store.jobs_t.schema))


def test_a_311_job_table_gains_a_history_table_beside_it(store_factory):
    write_311_sql_table(store_factory(start=False), RECORDS)

    store = store_factory()
    store.record_runs([run("run-1", "interval")])

    check_jobs_as_311_wrote_them(store)
    name = store.jobs_t.name
    assert {name, f"{name}_runs", f"{name}_history", f"{name}_facts"} <= table_names(store)
    assert run_ids(store.get_job_runs("interval")) == ["run-1"]


def test_the_tables_of_the_previous_release_gain_a_facts_table_and_keep_their_rows(
    store_factory,
):
    store = store_factory()
    store.record_runs([run("kept")])
    store.facts_t.drop(store.engine)
    store.shutdown()

    upgraded = store_factory()
    upgraded.record_facts([fact("a", 0)])

    assert upgraded.facts_t.name == f"{upgraded.jobs_t.name}_facts"
    assert fact_ids(upgraded.get_facts()) == ["a"]
    assert run_ids(upgraded.get_job_runs()) == ["kept"]


def test_the_newest_facts_are_read_from_the_index_with_no_sort(tmp_path):
    store = SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    store.start(RecordingScheduler(), "default")
    try:
        sql = store._facts_sql
        [index] = store.facts_t.indexes
        with store.engine.connect() as connection:
            for statement in (sql._newest, sql._newest_until, sql._first_beyond_count):
                compiled = statement.compile(store.engine)
                params = dict.fromkeys(compiled.params, 1)
                plan = connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {compiled}", tuple(params.values())
                ).all()
                steps = " / ".join(row[-1] for row in plan)
                assert f"INDEX {index.name}" in steps, steps
                assert "TEMP B-TREE" not in steps, steps
    finally:
        store.shutdown()


def test_an_apscheduler_311_sqlite_file_gains_a_history(tmp_path):
    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)
    store = SQLAlchemyJobStore(url=f"sqlite:///{database}")
    store.start(RecordingScheduler(), "default")
    try:
        store.record_runs([run("run-1", "interval")])
        check_jobs_as_311_wrote_them(store)
        assert "apscheduler_jobs_history" in table_names(store)
        assert run_ids(store.get_job_runs("interval")) == ["run-1"]
    finally:
        store.shutdown()


def test_a_history_table_that_lacks_columns_gains_them_and_keeps_its_rows(store_factory):
    store = store_factory()
    store.record_runs([run("kept", host="h", pid=7)])
    quoting = store.engine.dialect.identifier_preparer
    history = quoting.format_table(store.history_t)
    with store.engine.begin() as connection:
        for name in ("host", "pid"):
            connection.exec_driver_sql(f"ALTER TABLE {history} DROP COLUMN {name}")
    store.shutdown()

    upgraded = store_factory()
    upgraded.record_runs([run("new", minutes=1, host="h", pid=8)])

    assert upgraded.get_job_runs() == [
        run("new", minutes=1, host="h", pid=8),
        run("kept"),
    ]


def test_the_history_does_not_take_the_name_of_the_runs_in_progress(store_factory):
    store = store_factory()
    names = {store.jobs_t.name, store.runs_t.name, store.history_t.name}

    assert len(names) == 3
    assert store.history_t.name == f"{store.jobs_t.name}_history"


# --- read-only ---------------------------------------------------------------------------


def read_only(database):
    return f"sqlite:///file:{database.as_posix()}?mode=ro&uri=true"


def test_a_read_only_store_reads_the_history_and_refuses_to_write_it(tmp_path):
    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)
    writer = SQLAlchemyJobStore(url=f"sqlite:///{database}")
    writer.start(RecordingScheduler(), "default")
    writer.record_runs([run("run-1"), run("run-2", minutes=1)])
    writer.record_facts([fact("a", 0)])
    writer.shutdown()
    # a read-only connection reads the write-ahead log too, but cannot make its index
    database.with_name("jobs.sqlite-wal").unlink(missing_ok=True)
    written = database.read_bytes()

    store = SQLAlchemyJobStore(url=read_only(database))
    store.start(RecordingScheduler(), "default")
    try:
        assert run_ids(store.get_job_runs("job")) == ["run-2", "run-1"]
        assert fact_ids(store.get_facts()) == ["a"]
        attempts = {
            "record_runs": lambda: store.record_runs([run("run-3")]),
            "prune_runs": lambda: store.prune_runs(RetentionPolicy(max_runs=1), T0),
            "record_facts": lambda: store.record_facts([fact("b", 10)]),
        }
        for name, attempt in attempts.items():
            with pytest.raises(ReadOnlyJobStoreError, match="this connection may only read"):
                attempt()
            assert run_ids(store.get_job_runs("job")) == ["run-2", "run-1"], name
            assert fact_ids(store.get_facts()) == ["a"], name
    finally:
        store.shutdown()
    assert database.read_bytes() == written


def test_a_read_only_311_file_without_a_history_has_no_runs_or_facts_to_show(tmp_path):
    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)

    store = SQLAlchemyJobStore(url=read_only(database))
    store.start(RecordingScheduler(), "default")
    try:
        assert store.get_job_runs() == []
        assert store.get_facts() == []
        with pytest.raises(ReadOnlyJobStoreError):
            store.record_runs([run("run-1")])
        check_jobs_as_311_wrote_them(store)
        assert store.lookup_job("interval") is not None
    finally:
        store.shutdown()


@external
def test_a_table_name_near_postgresqls_length_limit_gets_a_history_that_fits(request, tmp_path):
    """The names of the history and its facts are shortened with a hash, the same way at every
    start."""
    tablename = f"jobs_{uuid4().hex}".ljust(58, "x")
    makers = _store_maker("postgresql", request, tmp_path)
    make = next(makers)
    try:
        first = make(tablename=tablename)
        first.record_runs([run("run-1")])
        first.record_facts([fact("a", 0)])
        second = make(tablename=tablename)

        name = second.history_t.name
        assert len(name) == 63 and name.endswith("_history")
        assert name in table_names(second)
        assert len(sqlalchemy.inspect(second.engine).get_indexes(name)) == 2
        assert run_ids(second.get_job_runs()) == ["run-1"]
        facts = second.facts_t.name
        assert len(facts) == 63 and facts.endswith("_facts")
        assert facts.split("_")[-2] == name.split("_")[-2], "the same hash as the history's"
        assert len(sqlalchemy.inspect(second.engine).get_indexes(facts)) == 1
        assert fact_ids(second.get_facts()) == ["a"]
    finally:
        next(makers, None)
