"""Stores jobs in a MongoDB collection, one document per job."""

from __future__ import annotations

import pickle
import warnings
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
)
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, maybe_ref

try:
    from bson.binary import Binary
    from pymongo import ASCENDING, MongoClient
    from pymongo.errors import (
        ConnectionFailure,
        DuplicateKeyError,
        ExecutionTimeout,
        OperationFailure,
        PyMongoError,
        WTimeoutError,
    )
except ImportError as exc:  # pragma: no cover
    raise ImportError("MongoDBJobStore requires PyMongo installed") from exc

__all__ = ["MongoClient", "MongoDBJobStore"]

_PROJECTION = {"next_run_time": True, "job_state": True}
_ORDER = [("next_run_time", ASCENDING), ("_id", ASCENDING)]
# server error codes of failed authentication and missing rights
_AUTH_ERROR_CODES = frozenset({13, 18})


class MongoDBJobStore(PersistentJobStore):
    """
    Stores jobs in a MongoDB collection. Any leftover keyword arguments are directly passed to
    pymongo's :class:`~pymongo.mongo_client.MongoClient`.

    Each job is a document ``{_id, next_run_time, job_state}`` as APScheduler 3 wrote it.

    Plugin alias: ``mongodb``

    :param database: database to store jobs in
    :param collection: collection to store jobs in
    :param client: a :class:`~pymongo.mongo_client.MongoClient` instance to use instead of
        providing connection arguments (may also be a ``module:name`` reference)
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to the
        highest available
    :param retry_timeout: seconds one operation keeps retrying a lost connection or another
        temporary error before raising it (``0`` disables retrying)
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :raises ValueError: if ``database`` or ``collection`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried.
    """

    def __init__(
        self,
        database: str = "apscheduler",
        collection: str = "jobs",
        client: MongoClient | str | None = None,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        *,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        **connect_args: Any,
    ) -> None:
        super().__init__(pickle_protocol, retry_timeout, recheck_interval)
        if not database:
            raise ValueError('The "database" parameter must not be empty')
        if not collection:
            raise ValueError('The "collection" parameter must not be empty')

        self.client: MongoClient = maybe_ref(client) if client else MongoClient(**connect_args)
        self.collection = self.client[database][collection]

    @property
    def connection(self) -> MongoClient:
        """The client (deprecated: use :attr:`client`)."""
        warnings.warn(
            'The "connection" member is deprecated -- use "client" instead',
            DeprecationWarning,
            stacklevel=2,
        )
        return self.client

    # --- set-up and error policy -----------------------------------------------------------

    def _setup_storage(self) -> None:
        self.collection.create_index("next_run_time", sparse=True)

    def _explain_setup_error(self, exc: Exception) -> str:
        message = super()._explain_setup_error(exc)
        if isinstance(exc, OperationFailure) and exc.code in _AUTH_ERROR_CODES:
            return f"{message} (check the user name, password and authSource of the client)"
        return message

    def _is_temporary_error(self, exc: BaseException) -> bool:
        if isinstance(exc, (ConnectionFailure, ExecutionTimeout, WTimeoutError)):
            return True
        return isinstance(exc, PyMongoError) and (
            exc.has_error_label("RetryableWriteError")
            or exc.has_error_label("TransientTransactionError")
        )

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _row(document: dict[str, Any]) -> tuple[str, float | None, bytes]:
        return document["_id"], document.get("next_run_time"), document["job_state"]

    def lookup_job(self, job_id: str) -> Job | None:
        document = self._run(lambda: self.collection.find_one(job_id, _PROJECTION))
        return self._load(*self._row(document)) if document else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        query = {"next_run_time": {"$lte": datetime_to_utc_timestamp(now)}}
        documents = self._run(lambda: list(self.collection.find(query, _PROJECTION, sort=_ORDER)))
        return self._load_due(map(self._row, documents), now)

    def get_next_run_time(self) -> datetime | None:
        limit = len(self._unloadable_ids()) + 1
        documents = self._run(
            lambda: list(
                self.collection.find(
                    {"next_run_time": {"$ne": None}}, ["next_run_time"], sort=_ORDER, limit=limit
                )
            )
        )
        return self._next_run_time((doc["_id"], doc["next_run_time"]) for doc in documents)

    def get_all_jobs(self) -> list[Job]:
        documents = self._run(lambda: list(self.collection.find({}, _PROJECTION)))
        return self._load_all(map(self._row, documents))

    # --- writing ---------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        document = {
            "_id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": Binary(self._serialize(job)),
        }
        attempts = 0

        def insert() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self.collection.insert_one(document)
            except DuplicateKeyError:
                # a retry after a reply that was lost finds its own document: that is fine
                stored = self.collection.find_one(job.id, ["job_state"]) if attempts > 1 else None
                if stored is None or stored["job_state"] != document["job_state"]:
                    raise ConflictingIdError(job.id) from None

        self._run(insert)
        self._forget(job.id)

    def update_job(self, job: Job) -> None:
        changes = {
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": Binary(self._serialize(job)),
        }
        result = self._run(lambda: self.collection.update_one({"_id": job.id}, {"$set": changes}))
        if result.matched_count == 0:
            raise JobLookupError(job.id)
        self._forget(job.id)

    def remove_job(self, job_id: str) -> None:
        attempts = 0

        def delete() -> bool:
            nonlocal attempts
            attempts += 1
            # a retry after a reply that was lost finds the document gone: that is fine
            return bool(self.collection.delete_one({"_id": job_id}).deleted_count) or attempts > 1

        if not self._run(delete):
            raise JobLookupError(job_id)
        self._forget(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self.collection.delete_many({}))
        self._forget()

    def shutdown(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (client={self.client})>"
