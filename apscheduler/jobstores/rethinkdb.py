"""Stores jobs in a RethinkDB table, one document per job."""

from __future__ import annotations

import pickle
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
)
from apscheduler.jobstores.base import (
    BaseJobStore as BaseJobStore,
    ConflictingIdError,
    JobLookupError,
)
from apscheduler.util import (
    datetime_to_utc_timestamp,
    maybe_ref,
    utc_timestamp_to_datetime as utc_timestamp_to_datetime,
)

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

try:
    from rethinkdb import RethinkDB as RethinkDB, r
    from rethinkdb.errors import (
        ReqlAuthError,
        ReqlAvailabilityError,
        ReqlDriverError,
        ReqlResourceLimitError,
    )
except ImportError as exc:  # pragma: no cover
    raise ImportError("RethinkDBJobStore requires rethinkdb installed") from exc


class RethinkDBJobStore(PersistentJobStore):
    """
    Stores jobs in a RethinkDB table. Any leftover keyword arguments are directly passed to
    rethinkdb's ``connect()``.

    Each job is a document ``{id, next_run_time, job_state}`` as APScheduler 3 wrote it. The
    connection is made at start, along with the database, the table and its
    ``next_run_time`` index if they are missing.

    Plugin alias: ``rethinkdb``

    :param database: database to store jobs in
    :param table: table to store jobs in
    :param client: a connection to use instead of providing connection arguments (may also be
        a ``module:name`` reference)
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to the
        highest available
    :param retry_timeout: seconds one operation keeps retrying a lost connection or another
        temporary error before raising it (``0`` disables retrying)
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :raises ValueError: if ``database`` or ``table`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried.
    """

    def __init__(
        self,
        database: str = "apscheduler",
        table: str = "jobs",
        client: Any = None,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        *,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        **connect_args: Any,
    ) -> None:
        super().__init__(pickle_protocol, retry_timeout, recheck_interval)
        if not database:
            raise ValueError('The "database" parameter must not be empty')
        if not table:
            raise ValueError('The "table" parameter must not be empty')

        self.database = database
        self.table_name = table
        self.table = r.db(database).table(table)
        self.client = client
        self.connect_args = connect_args
        self.conn: Any = None

    # --- set-up and error policy -----------------------------------------------------------

    def _setup_storage(self) -> None:
        if self.conn is None:
            if self.client:
                self.conn = maybe_ref(self.client)
            else:
                self.conn = r.connect(db=self.database, **self.connect_args)

        if self.database not in r.db_list().run(self.conn):
            r.db_create(self.database).run(self.conn)
        if self.table_name not in r.db(self.database).table_list().run(self.conn):
            r.db(self.database).table_create(self.table_name).run(self.conn)
        if "next_run_time" not in self.table.index_list().run(self.conn):
            self.table.index_create("next_run_time").run(self.conn)

    def _is_temporary_error(self, exc: BaseException) -> bool:
        if isinstance(exc, ReqlAuthError):
            return False
        return isinstance(exc, (ReqlDriverError, ReqlAvailabilityError, ReqlResourceLimitError))

    def _query(self, query: Any) -> Any:
        # the driver does not reconnect by itself after the server went away
        if not self.conn.is_open():
            self.conn.reconnect(noreply_wait=False)
        return query.run(self.conn)

    # --- reading ---------------------------------------------------------------------------

    def _rows(self, query: Any) -> list[tuple[str, float | None, bytes]]:
        documents = self._run(lambda: list(self._query(query)))
        return [(doc["id"], doc.get("next_run_time"), doc["job_state"]) for doc in documents]

    def lookup_job(self, job_id: str) -> Job | None:
        rows = self._rows(self.table.get_all(job_id).pluck("id", "next_run_time", "job_state"))
        return self._load(*rows[0]) if rows else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        timestamp = datetime_to_utc_timestamp(now)
        query = (
            self.table.filter(r.row["next_run_time"] != None)  # noqa: E711
            .filter(r.row["next_run_time"] <= timestamp)
            .order_by("next_run_time", "id")
            .pluck("id", "next_run_time", "job_state")
        )
        return self._load_due(self._rows(query), now)

    def get_next_run_time(self) -> datetime | None:
        query = (
            self.table.filter(r.row["next_run_time"] != None)  # noqa: E711
            .order_by("next_run_time", "id")
            .pluck("id", "next_run_time")
            .limit(len(self._unloadable_ids()) + 1)
        )
        documents = self._run(lambda: list(self._query(query)))
        return self._next_run_time((doc["id"], doc["next_run_time"]) for doc in documents)

    def get_all_jobs(self) -> list[Job]:
        return self._load_all(self._rows(self.table.pluck("id", "next_run_time", "job_state")))

    # --- writing ---------------------------------------------------------------------------

    def _document_fields(self, job: Job) -> dict[str, Any]:
        return {
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": r.binary(self._serialize(job)),
        }

    def add_job(self, job: Job) -> None:
        document = {"id": job.id, **self._document_fields(job)}
        result = self._run(lambda: self._query(self.table.insert(document)))
        if result["errors"] > 0:
            raise ConflictingIdError(job.id)
        self._clear_load_failure(job.id)

    def update_job(self, job: Job) -> None:
        changes = self._document_fields(job)
        result = self._run(lambda: self._query(self.table.get(job.id).update(changes)))
        if result["skipped"] > 0 or result["errors"] > 0:
            raise JobLookupError(job.id)
        self._clear_load_failure(job.id)

    def remove_job(self, job_id: str) -> None:
        result = self._run(lambda: self._query(self.table.get(job_id).delete()))
        if result["deleted"] != 1:
            raise JobLookupError(job_id)
        self._clear_load_failure(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self._query(self.table.delete()))
        self._clear_load_failure()

    def shutdown(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (connection={self.conn})>"
