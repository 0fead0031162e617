"""
SQLAlchemyJobStore keeps the history of runs in ``<tablename>_history``.

Each test runs on SQLite, PostgreSQL and MySQL (MariaDB), and on each also the portable way
that databases without their own upsert or window functions take: a delete and an insert in one
transaction, and runs ranked in this process for pruning.
"""

from __future__ import annotations

import shutil
from datetime import timedelta, timezone
from uuid import uuid4

import pytest

from apscheduler.runs import (
    FAILED,
    MISSED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    JobRun,
    MemoryRunHistory,
    RetentionPolicy,
)

from .conftest import _factory, external
from .support import T0, RecordingScheduler, make_job
from .test_compat_3x import DATA, RECORDS, check_jobs_as_311_wrote_them, write_311_sql_table
from .test_shared_sqlalchemy import _store_maker

sqlalchemy = pytest.importorskip("sqlalchemy")

from apscheduler.jobstores.sqlalchemy import (  # noqa: E402
    ReadOnlyJobStoreError,
    SQLAlchemyJobStore,
)

KINDS = [
    pytest.param(("sqlite", "native"), id="sqlite"),
    pytest.param(("sqlite", "portable"), id="sqlite-portable"),
    pytest.param(("postgresql", "native"), id="postgresql", marks=external),
    pytest.param(("postgresql", "portable"), id="postgresql-portable", marks=external),
    pytest.param(("mysql", "native"), id="mysql", marks=external),
    pytest.param(("mysql", "portable"), id="mysql-portable", marks=external),
]


@pytest.fixture(params=KINDS)
def make_store(request, tmp_path):
    """Makes started stores on one table, each doing its work the way the test asks."""
    kind, way = request.param
    makers = _store_maker(kind, request, tmp_path)
    make = next(makers)

    def make_in_way(**options):
        store = make(**options)
        if way == "portable":
            store._history_sql.upserts_in_one_statement = False
            store._history_sql.prunes_with_window = False
        return store

    yield make_in_way
    next(makers, None)  # closes the stores and drops the tables


@pytest.fixture
def store(make_store):
    return make_store()


def run(run_id, job_id="job", minutes=0, state=SUCCEEDED, **fields):
    """A run of ``job_id`` scheduled ``minutes`` after T0, finished a second later."""
    scheduled = T0 + timedelta(minutes=minutes)
    if state != RUNNING:
        fields.setdefault("finished_at", scheduled + timedelta(seconds=1))
    return JobRun(run_id, job_id, "default", scheduled, state, **fields)


def run_ids(runs):
    return [run.run_id for run in runs]


def test_every_field_of_a_run_reads_back_as_recorded(store):
    eastern = timezone(timedelta(hours=-5))
    failed = JobRun(
        run_id="run-1",
        job_id="job",
        jobstore="default",
        scheduled_run_time=T0,
        state=FAILED,
        submitted_at=T0 + timedelta(microseconds=1500),
        started_at=(T0 + timedelta(seconds=1, microseconds=250_001)).astimezone(eastern),
        finished_at=T0 + timedelta(seconds=3, microseconds=999_999),
        reason=None,
        exception_type="builtins.ValueError",
        exception="bad value: ünïcode",
        traceback="Traceback (most recent call last):\n" + "  line\n" * 5000,
        host="worker-1.example.com",
        pid=4_194_303,
    )
    missed = JobRun(
        "run-2",
        "job",
        None,
        T0 - timedelta(minutes=1),
        MISSED,
        reason="started 12.4 s after its scheduled time, beyond misfire_grace_time=1",
    )

    store.record_runs([failed, missed])

    [read_failed, read_missed] = store.get_job_runs("job")
    assert read_failed == failed
    assert read_missed == missed
    for moment in (read_failed.scheduled_run_time, read_failed.started_at):
        assert moment.utcoffset() == timedelta(0)
    assert read_missed.submitted_at is None and read_missed.finished_at is None


def test_recording_a_run_again_replaces_its_record(store):
    """A run is recorded when it is submitted and again, under the same id, when it ends."""
    started = run("run-1", state=RUNNING, started_at=T0)
    store.record_runs([started, run("run-2", minutes=-1)])
    ended = started.evolve(state=SUCCEEDED, finished_at=T0 + timedelta(seconds=2))

    store.record_runs([ended])
    store.record_runs([ended])  # a retry after a lost reply

    assert store.get_job_runs("job") == [ended, run("run-2", minutes=-1)]


def test_a_batch_that_names_a_run_twice_keeps_its_last_record(store):
    started = run("run-1", state=RUNNING)
    ended = started.evolve(state=FAILED, exception="boom")

    store.record_runs([started, run("other"), ended])
    store.record_runs([])

    assert store.get_job_runs() == [ended, run("other")]


def test_runs_come_newest_first_with_ties_broken_by_the_later_run_id(store):
    runs = [
        run("b", minutes=1),
        run("a", minutes=1),
        run("c", minutes=-5),
        run("d", "other", minutes=3),
        run("e", "other", minutes=1),
    ]
    memory = MemoryRunHistory()
    memory.record_runs(runs)

    store.record_runs(runs)

    assert run_ids(store.get_job_runs()) == ["d", "e", "b", "a", "c"]
    assert store.get_job_runs() == memory.get_job_runs()
    assert run_ids(store.get_job_runs("job")) == ["b", "a", "c"]


def test_runs_are_filtered_by_job_state_time_and_count(store):
    runs = [
        run("r0", minutes=0, state=SUCCEEDED),
        run("r1", minutes=1, state=FAILED),
        run("r2", minutes=2, state=SKIPPED, reason="max_instances=1 reached"),
        run("r3", minutes=3, state=RUNNING),
        run("x1", "other", minutes=1, state=FAILED),
    ]
    store.record_runs(runs)

    assert run_ids(store.get_job_runs("job")) == ["r3", "r2", "r1", "r0"]
    assert run_ids(store.get_job_runs("missing")) == []
    assert run_ids(store.get_job_runs(states={FAILED})) == ["x1", "r1"]
    assert run_ids(store.get_job_runs("job", states=[RUNNING, SKIPPED])) == ["r3", "r2"]
    assert run_ids(store.get_job_runs(states=())) == []
    # since is inclusive, and any time zone names the same moment
    since = (T0 + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=9)))
    assert run_ids(store.get_job_runs("job", since=since)) == ["r3", "r2", "r1"]
    assert run_ids(store.get_job_runs(limit=2)) == ["r3", "r2"]
    assert store.get_job_runs(limit=0) == []
    assert run_ids(store.get_job_runs("job", states={FAILED, SUCCEEDED}, since=T0, limit=1)) == [
        "r1"
    ]


def test_pruning_keeps_the_newest_runs_of_each_job_and_every_running_one(store):
    runs = [run(f"job-{i}", minutes=i) for i in range(6)]
    runs += [run(f"other-{i}", "other", minutes=i) for i in range(2)]
    # the oldest run of the job is still going on: it is kept, though it counts
    runs[0] = run("job-0", minutes=0, state=RUNNING)
    store.record_runs(runs)

    store.prune_runs(RetentionPolicy(max_runs=3, max_age=None), T0)

    assert run_ids(store.get_job_runs("job")) == ["job-5", "job-4", "job-3", "job-0"]
    assert run_ids(store.get_job_runs("other")) == ["other-1", "other-0"]


def test_pruning_drops_runs_that_ended_too_long_ago_but_not_running_ones(store):
    now = T0 + timedelta(days=10)
    store.record_runs(
        [
            run("old", minutes=0),
            run("old-running", minutes=1, state=RUNNING),
            run("old-unfinished", minutes=2, state=SKIPPED, finished_at=None),  # kept by age
            run("recent", minutes=3, finished_at=now - timedelta(days=1)),
            run("new", minutes=4, finished_at=now),
        ]
    )

    store.prune_runs(RetentionPolicy(max_runs=100, max_age=timedelta(days=2)), now)

    assert run_ids(store.get_job_runs()) == ["new", "recent", "old-unfinished", "old-running"]


def test_pruning_by_count_and_age_keeps_what_the_memory_history_keeps(store):
    now = T0 + timedelta(hours=3)
    states = [SUCCEEDED, FAILED, RUNNING, MISSED, SKIPPED]
    runs = [
        run(
            f"{job_id}-{i:02d}",
            job_id,
            minutes=(i * 7) % 50,
            state=states[i % len(states)],
            finished_at=None if i % 5 == 2 else T0 + timedelta(minutes=i * 9),
        )
        for job_id in ("a", "b", "c")
        for i in range(30)
    ]
    memory = MemoryRunHistory()
    memory.record_runs(runs)
    store.record_runs(runs)
    policy = RetentionPolicy(max_runs=8, max_age=timedelta(hours=1))

    memory.prune_runs(policy, now)
    store.prune_runs(policy, now)

    assert store.get_job_runs(limit=1000) == memory.get_job_runs(limit=1000)
    assert len(store.get_job_runs(limit=1000)) < len(runs)


def test_no_history_at_all_drops_every_finished_run(store):
    store.record_runs([run("done"), run("going", minutes=1, state=RUNNING)])

    store.prune_runs(RetentionPolicy(max_runs=0, max_age=None), T0)

    assert run_ids(store.get_job_runs()) == ["going"]


def test_the_history_outlives_the_store_that_wrote_it(make_store):
    first = make_store()
    first.record_runs([run("run-1"), run("run-2", minutes=1, state=RUNNING)])
    first.shutdown()

    second = make_store()

    assert run_ids(second.get_job_runs("job")) == ["run-2", "run-1"]


def test_the_history_is_shared_by_every_store_on_the_table(make_store):
    first, second = make_store(), make_store()

    first.record_runs([run("from-first")])
    second.record_runs([run("from-second", minutes=1)])

    assert run_ids(first.get_job_runs()) == ["from-second", "from-first"]
    assert second.get_job_runs() == first.get_job_runs()


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
    assert {name, f"{name}_runs", f"{name}_history"} <= table_names(store)
    assert run_ids(store.get_job_runs("interval")) == ["run-1"]


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
    writer.shutdown()
    # a read-only connection reads the write-ahead log too, but cannot make its index
    database.with_name("jobs.sqlite-wal").unlink(missing_ok=True)
    written = database.read_bytes()

    store = SQLAlchemyJobStore(url=read_only(database))
    store.start(RecordingScheduler(), "default")
    try:
        assert run_ids(store.get_job_runs("job")) == ["run-2", "run-1"]
        attempts = {
            "record_runs": lambda: store.record_runs([run("run-3")]),
            "prune_runs": lambda: store.prune_runs(RetentionPolicy(max_runs=1), T0),
        }
        for name, attempt in attempts.items():
            with pytest.raises(ReadOnlyJobStoreError, match="this connection may only read"):
                attempt()
            assert run_ids(store.get_job_runs("job")) == ["run-2", "run-1"], name
    finally:
        store.shutdown()
    assert database.read_bytes() == written


def test_a_read_only_311_file_without_a_history_has_no_runs_to_show(tmp_path):
    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)

    store = SQLAlchemyJobStore(url=read_only(database))
    store.start(RecordingScheduler(), "default")
    try:
        assert store.get_job_runs() == []
        with pytest.raises(ReadOnlyJobStoreError):
            store.record_runs([run("run-1")])
        check_jobs_as_311_wrote_them(store)
        assert store.lookup_job("interval") is not None
    finally:
        store.shutdown()


def test_history_and_jobs_live_side_by_side(store):
    """Removing every job leaves their history: it tells what ran, also of removed jobs."""
    store.add_job(make_job(store._scheduler, "job", T0))
    store.record_runs([run("run-1")])

    store.remove_all_jobs()

    assert run_ids(store.get_job_runs("job")) == ["run-1"]


@external
def test_a_table_name_near_postgresqls_length_limit_gets_a_history_that_fits(request, tmp_path):
    """The history's name is shortened with a hash, the same way at every start."""
    tablename = f"jobs_{uuid4().hex}".ljust(58, "x")
    makers = _store_maker("postgresql", request, tmp_path)
    make = next(makers)
    try:
        first = make(tablename=tablename)
        first.record_runs([run("run-1")])
        second = make(tablename=tablename)

        name = second.history_t.name
        assert len(name) == 63 and name.endswith("_history")
        assert name in table_names(second)
        assert len(sqlalchemy.inspect(second.engine).get_indexes(name)) == 2
        assert run_ids(second.get_job_runs()) == ["run-1"]
    finally:
        next(makers, None)
