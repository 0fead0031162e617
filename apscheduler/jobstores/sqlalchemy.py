"""Stores jobs in a database table through SQLAlchemy: SQLite, PostgreSQL or any other dialect."""

from __future__ import annotations

import pickle
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
    StorageProblem,
)
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, maybe_ref

try:
    from sqlalchemy import (
        Column,
        Float,
        LargeBinary,
        MetaData,
        Table,
        Unicode,
        bindparam,
        create_engine,
        delete,
        event,
        insert,
        inspect,
        select,
        update,
    )
    from sqlalchemy.engine import Engine
    from sqlalchemy.exc import (
        DBAPIError,
        DisconnectionError,
        IntegrityError,
        OperationalError,
        TimeoutError as PoolTimeoutError,
    )
except ImportError as exc:  # pragma: no cover
    raise ImportError("SQLAlchemyJobStore requires SQLAlchemy installed") from exc

__all__ = ["SQLAlchemyJobStore", "create_engine"]

_COLUMNS = ("id", "next_run_time", "job_state")
# words in driver messages of errors that retrying cannot fix
_PERMANENT_MARKERS = (
    "authentication",
    "password",
    "does not exist",
    "access denied",
    "unknown database",
    "unknown column",
    "permission denied",
    "no such table",
    "no such column",
    "unable to open database",
)
# SQLSTATE classes of errors that go away by themselves: connection exception, insufficient
# resources, transaction rollback (serialisation failure, deadlock), operator intervention
_TEMPORARY_SQLSTATE_CLASSES = frozenset({"08", "53", "40", "57"})


def _tune_sqlite_connection(dbapi_connection: Any, connection_record: Any) -> None:
    # Write-ahead logging makes a commit one append to the log instead of a rewrite of the
    # rollback journal, and lets readers work while the scheduler writes. NORMAL sync is
    # the documented safe pairing with WAL: a power cut can lose the last commits, not corrupt.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class SQLAlchemyJobStore(PersistentJobStore):
    """
    Stores jobs in a database table managed with SQLAlchemy 2.

    The table has the columns ``id``, ``next_run_time`` (UTC timestamp) and ``job_state``
    (pickled job), as APScheduler 3 made it, so an existing table keeps working. It is created
    at start if missing.

    When this store creates the engine for a SQLite database file, it switches the file to the
    write-ahead log journal (``PRAGMA journal_mode=WAL``), which makes adding jobs several times
    faster. Pass your own ``engine`` to keep full control of the connection settings.

    Plugin alias: ``sqlalchemy``

    :param url: connection string (a SQLAlchemy database URL, such as ``sqlite:///jobs.sqlite``)
    :param engine: an SQLAlchemy :class:`~sqlalchemy.engine.Engine` to use instead of creating
        a new one based on ``url`` (may also be a ``module:name`` reference)
    :param tablename: name of the table to store jobs in
    :param metadata: a :class:`~sqlalchemy.schema.MetaData` instance to use instead of creating
        a new one (may also be a reference)
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to the
        highest available
    :param tableschema: name of the (existing) schema in the target database where the table
        should be
    :param engine_options: keyword arguments to :func:`~sqlalchemy.create_engine` (ignored if
        ``engine`` is given)
    :param retry_timeout: seconds one operation keeps retrying a lost connection or another
        temporary error before raising it (``0`` disables retrying)
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :raises ValueError: if neither ``url`` nor ``engine`` is given

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried; SQLite files get a write-ahead log.
    """

    def __init__(
        self,
        url: str | None = None,
        engine: Engine | str | None = None,
        tablename: str = "apscheduler_jobs",
        metadata: MetaData | str | None = None,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        tableschema: str | None = None,
        engine_options: dict[str, Any] | None = None,
        *,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
    ) -> None:
        super().__init__(pickle_protocol, retry_timeout, recheck_interval)
        metadata = maybe_ref(metadata) or MetaData()

        if engine:
            self.engine: Engine = maybe_ref(engine)
        elif url:
            self.engine = create_engine(url, **(engine_options or {}))
            database = self.engine.url.database
            if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
                event.listen(self.engine, "connect", _tune_sqlite_connection)
        else:
            raise ValueError('Need either "engine" or "url" defined')

        # 191 = max key length in MySQL for InnoDB/utf8mb4 tables,
        # 25 = precision that translates to an 8-byte float
        self.jobs_t = Table(
            tablename,
            metadata,
            Column("id", Unicode(191), primary_key=True),
            Column("next_run_time", Float(25), index=True),
            Column("job_state", LargeBinary, nullable=False),
            schema=tableschema,
        )

        table = self.jobs_t.c
        every_column = select(table.id, table.next_run_time, table.job_state)
        self._select_by_id = every_column.where(table.id == bindparam("job_id"))
        self._select_due = every_column.where(table.next_run_time <= bindparam("now")).order_by(
            table.next_run_time, table.id
        )
        self._select_all = every_column
        self._select_state = select(table.job_state).where(table.id == bindparam("job_id"))
        self._insert = insert(self.jobs_t)
        self._update = (
            update(self.jobs_t)
            .where(table.id == bindparam("job_id"))
            .values(next_run_time=bindparam("run_time"), job_state=bindparam("state"))
        )
        self._delete_by_id = delete(self.jobs_t).where(table.id == bindparam("job_id"))

    # --- set-up and error policy -----------------------------------------------------------

    def _setup_storage(self) -> None:
        self.jobs_t.create(self.engine, checkfirst=True)
        found = inspect(self.engine).get_columns(self.jobs_t.name, schema=self.jobs_t.schema)
        missing = set(_COLUMNS) - {column["name"].lower() for column in found}
        if missing:
            raise StorageProblem(
                f"the table {self.jobs_t.fullname!r} exists but has no "
                f"{', '.join(sorted(missing))} column; it was not made by APScheduler. Pass "
                f"another tablename= or move that table out of the way"
            )

    def _explain_setup_error(self, exc: Exception) -> str:
        if not isinstance(exc, DBAPIError):
            return super()._explain_setup_error(exc)

        message = str(exc.orig).strip()
        lowered = message.lower()
        if "password" in lowered or "authentication" in lowered or "role" in lowered:
            advice = "check the user name and password in the URL"
        elif "database" in lowered and ("does not exist" in lowered or "unknown" in lowered):
            advice = "create the database, or fix its name in the URL"
        else:
            advice = "check the URL, the database and the rights of its user"
        return f"{message} ({advice}; URL: {self.engine.url})"

    def _is_temporary_error(self, exc: BaseException) -> bool:
        if isinstance(exc, (DisconnectionError, PoolTimeoutError)):
            return True
        if not isinstance(exc, DBAPIError):
            return False
        if exc.connection_invalidated:
            return True
        if not isinstance(exc, OperationalError):
            return False

        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if sqlstate:
            return sqlstate[:2] in _TEMPORARY_SQLSTATE_CLASSES

        message = str(exc.orig).lower()
        if self.engine.dialect.name == "sqlite":
            return "locked" in message or "busy" in message

        # a connection attempt that failed without a server verdict: refused, reset, timed out
        return not any(marker in message for marker in _PERMANENT_MARKERS)

    # --- reading ---------------------------------------------------------------------------

    def _fetch(self, statement: Any, **params: Any) -> list[Any]:
        def fetch() -> list[Any]:
            with self.engine.connect() as connection:
                return connection.execute(statement, params).all()

        return self._run(fetch)

    def lookup_job(self, job_id: str) -> Job | None:
        rows = self._fetch(self._select_by_id, job_id=job_id)
        return self._load(*rows[0]) if rows else None

    def get_due_jobs(self, now: Any) -> list[Job]:
        rows = self._fetch(self._select_due, now=datetime_to_utc_timestamp(now))
        return self._load_due(rows, now)

    def get_next_run_time(self) -> Any:
        table = self.jobs_t.c
        statement = (
            select(table.id, table.next_run_time)
            .where(table.next_run_time.is_not(None))
            .order_by(table.next_run_time, table.id)
            .limit(len(self._unloadable_ids()) + 1)
        )
        return self._next_run_time(self._fetch(statement))

    def get_all_jobs(self) -> list[Job]:
        return self._load_all(self._fetch(self._select_all))

    # --- writing ---------------------------------------------------------------------------

    def _write(self, statement: Any, params: dict[str, Any]) -> int:
        with self.engine.begin() as connection:
            return connection.execute(statement, params).rowcount

    def add_job(self, job: Job) -> None:
        params = {
            "id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": self._serialize(job),
        }
        attempts = 0

        def insert_row() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self._write(self._insert, params)
            except IntegrityError:
                # a retry after a commit whose reply was lost finds its own row: that is fine
                if attempts > 1 and self._stored_state(job.id) == params["job_state"]:
                    return
                raise ConflictingIdError(job.id) from None

        self._run(insert_row)
        self._forget(job.id)

    def _stored_state(self, job_id: str) -> bytes | None:
        with self.engine.connect() as connection:
            return connection.execute(self._select_state, {"job_id": job_id}).scalar()

    def update_job(self, job: Job) -> None:
        params = {
            "job_id": job.id,
            "run_time": datetime_to_utc_timestamp(job.next_run_time),
            "state": self._serialize(job),
        }
        if not self._run(lambda: self._write(self._update, params)):
            raise JobLookupError(job.id)
        self._forget(job.id)

    def remove_job(self, job_id: str) -> None:
        attempts = 0

        def delete_row() -> int:
            nonlocal attempts
            attempts += 1
            # a retry after a commit whose reply was lost finds the row gone: that is fine
            return self._write(self._delete_by_id, {"job_id": job_id}) or int(attempts > 1)

        if not self._run(delete_row):
            raise JobLookupError(job_id)
        self._forget(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self._write(delete(self.jobs_t), {}))
        self._forget()

    def shutdown(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (url={self.engine.url})>"
