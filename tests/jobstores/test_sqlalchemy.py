"""SQLAlchemyJobStore: options, table layout, SQLite tuning and errors that need the user."""

from __future__ import annotations

import pickle
import time

import pytest

from .support import T0, RecordingScheduler, make_job

sqlalchemy = pytest.importorskip("sqlalchemy")

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # noqa: E402

from . import support  # noqa: E402


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


@pytest.fixture
def started():
    stores = []

    def start(store):
        store.start(RecordingScheduler(), "default")
        stores.append(store)
        return store

    yield start
    for store in stores:
        store.shutdown()


def test_the_module_offers_sqlalchemys_create_engine():
    from apscheduler.jobstores.sqlalchemy import create_engine

    assert create_engine is sqlalchemy.create_engine


def test_a_url_or_an_engine_is_required():
    with pytest.raises(ValueError, match='Need either "engine" or "url" defined'):
        SQLAlchemyJobStore()


def test_repr_shows_the_url_with_the_password_hidden():
    store = SQLAlchemyJobStore(url="sqlite:///jobs.sqlite")
    hidden = SQLAlchemyJobStore(url="postgresql+psycopg://scott:tiger@db.example/jobs")

    assert repr(store) == "<SQLAlchemyJobStore (url=sqlite:///jobs.sqlite)>"
    assert (
        repr(hidden) == "<SQLAlchemyJobStore (url=postgresql+psycopg://scott:***@db.example/jobs)>"
    )


def test_engine_and_metadata_may_be_given_as_text_references(sqlite_url, monkeypatch, started):
    engine = sqlalchemy.create_engine(sqlite_url)
    metadata = sqlalchemy.MetaData()
    monkeypatch.setattr(support, "ENGINE", engine, raising=False)
    monkeypatch.setattr(support, "METADATA", metadata, raising=False)
    module = support.__name__

    store = started(
        SQLAlchemyJobStore(engine=f"{module}:ENGINE", metadata=f"{module}:METADATA", tablename="t")
    )

    assert store.engine is engine
    assert metadata.tables["t"] is store.jobs_t


def test_the_table_is_made_at_start_with_the_columns_of_apscheduler_3(sqlite_url, started):
    """
    The columns of APScheduler 3, the two that let several schedulers share the table and the
    two that keep run requests.
    """
    store = started(SQLAlchemyJobStore(url=sqlite_url))
    inspector = sqlalchemy.inspect(store.engine)

    columns = {c["name"]: str(c["type"]) for c in inspector.get_columns("apscheduler_jobs")}
    indexes = inspector.get_indexes("apscheduler_jobs")

    assert columns == {
        "id": "VARCHAR(191)",
        "next_run_time": "FLOAT",
        "job_state": "BLOB",
        "lease_owner": "VARCHAR(191)",
        "lease_expires": "FLOAT",
        "run_requests": "TEXT",
        "requested_at": "FLOAT",
    }
    assert sorted(index["column_names"] for index in indexes) == [
        ["lease_expires"],
        ["next_run_time"],
    ]


def test_a_row_holds_the_pickled_job_state_and_the_run_time_as_a_timestamp(sqlite_url, started):
    store = started(SQLAlchemyJobStore(url=sqlite_url))
    job = make_job(store._scheduler, "a", T0, args=(1,))
    store.add_job(job)

    with store.engine.connect() as connection:
        row = connection.execute(sqlalchemy.select(store.jobs_t)).one()

    assert (row.id, row.next_run_time) == ("a", T0.timestamp())
    assert pickle.loads(row.job_state) == job.__getstate__()


def test_a_sqlite_file_gets_a_write_ahead_log(sqlite_url, started):
    store = started(SQLAlchemyJobStore(url=sqlite_url))

    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()

    assert mode == "wal"


def test_a_given_engine_keeps_its_own_settings(sqlite_url, started):
    store = started(SQLAlchemyJobStore(engine=sqlalchemy.create_engine(sqlite_url)))

    with store.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()

    assert mode == "delete"


def test_engine_options_reach_the_engine(sqlite_url):
    store = SQLAlchemyJobStore(url=sqlite_url, engine_options={"pool_recycle": 123})

    assert store.engine.pool._recycle == 123


def test_a_table_of_another_shape_is_refused_at_start_with_advice(sqlite_url):
    engine = sqlalchemy.create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE apscheduler_jobs (id INTEGER, payload TEXT)")
    store = SQLAlchemyJobStore(engine=engine)

    with pytest.raises(
        RuntimeError, match=r"'apscheduler_jobs' .* no job_state, next_run_time .* tablename="
    ):
        store.start(RecordingScheduler(), "default")


def test_a_corrupt_row_is_reported_and_kept(sqlite_url, started):
    store = started(SQLAlchemyJobStore(url=sqlite_url))
    store.add_job(make_job(store._scheduler, "a", T0))
    with store.engine.begin() as connection:
        connection.execute(sqlalchemy.update(store.jobs_t).values(job_state=b"not a pickle"))

    assert store.get_due_jobs(T0) == []
    (report,) = store.get_unloadable_jobs()
    assert report.job_id == "a" and "UnpicklingError" in report.reason
    with store.engine.connect() as connection:
        assert connection.execute(sqlalchemy.select(store.jobs_t.c.id)).scalars().all() == ["a"]


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def pg_url(postgres_url):
    pytest.importorskip("psycopg")
    return sqlalchemy.engine.make_url(postgres_url)


@pytest.mark.external_service
@pytest.mark.parametrize(
    "change, advice",
    [
        ({"database": "no_such_database"}, "create the database, or fix its name in the URL"),
        ({"username": "nobody"}, "check the user name and password in the URL"),
    ],
    ids=["missing-database", "unknown-user"],
)
def test_a_permanent_connection_error_fails_start_at_once_with_advice(pg_url, change, advice):
    store = SQLAlchemyJobStore(engine=sqlalchemy.create_engine(pg_url.set(**change)))

    started = time.monotonic()
    with pytest.raises(RuntimeError, match=advice):
        store.start(RecordingScheduler(), "default")

    assert time.monotonic() - started < store.retry_timeout, "not retried"
    store.shutdown()


@pytest.mark.external_service
def test_tableschema_puts_the_table_in_that_schema(pg_url, started):
    engine = sqlalchemy.create_engine(pg_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS aps_tests")
    store = started(SQLAlchemyJobStore(engine=engine, tablename="jobs", tableschema="aps_tests"))
    try:
        store.add_job(make_job(store._scheduler, "a", T0))

        assert sqlalchemy.inspect(engine).has_table("jobs", schema="aps_tests")
        assert [job.id for job in store.get_due_jobs(T0)] == ["a"]
    finally:
        store.jobs_t.drop(engine)


# --- which errors are worth retrying -----------------------------------------------------


class DriverError(Exception):
    """A stand-in for a driver exception, with the SQLSTATE code some drivers attach."""

    def __init__(self, message, sqlstate=None):
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "url, error, temporary",
    [
        ("postgresql+psycopg://h/db", DriverError("connection refused"), True),
        ("postgresql+psycopg://h/db", DriverError("server closed the connection"), True),
        ("postgresql+psycopg://h/db", DriverError("x", sqlstate="57P01"), True),
        ("postgresql+psycopg://h/db", DriverError("x", sqlstate="40001"), True),
        ("postgresql+psycopg://h/db", DriverError("x", sqlstate="42P01"), False),
        ("postgresql+psycopg://h/db", DriverError('FATAL: database "x" does not exist'), False),
        ("postgresql+psycopg://h/db", DriverError("password authentication failed"), False),
        ("sqlite:///jobs.sqlite", DriverError("database is locked"), True),
        ("sqlite:///jobs.sqlite", DriverError("no such table: apscheduler_jobs"), False),
    ],
    ids=[
        "refused",
        "server-gone",
        "admin-shutdown",
        "serialization-failure",
        "undefined-table",
        "missing-database",
        "bad-password",
        "sqlite-locked",
        "sqlite-no-table",
    ],
)
def test_connection_problems_are_retried_and_mistakes_are_not(url, error, temporary):
    store = SQLAlchemyJobStore(url=url)
    wrapped = sqlalchemy.exc.OperationalError("SELECT 1", {}, error)

    assert store._is_temporary_error(wrapped) is temporary


def test_an_invalidated_connection_is_retried_whatever_the_error():
    store = SQLAlchemyJobStore(url="sqlite:///jobs.sqlite")
    error = sqlalchemy.exc.InterfaceError(
        "SELECT 1", {}, DriverError("closed"), connection_invalidated=True
    )

    assert store._is_temporary_error(error)
    assert not store._is_temporary_error(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception()))
