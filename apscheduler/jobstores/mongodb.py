"""Stores jobs in a MongoDB collection, one document per job."""

from __future__ import annotations

import logging
import pickle
import warnings
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores import _mongo_shared as leases
from apscheduler.jobstores._persistent import DEFAULT_RECHECK_INTERVAL, DEFAULT_RETRY_TIMEOUT
from apscheduler.jobstores._shared import CLAIM_BATCH, DEFAULT_LEASE_TIME, DEFAULT_POLL_INTERVAL
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

    from apscheduler.jobstores._mongo_runs import RUNS_SUFFIX, MongoRunBook
except ImportError as exc:  # pragma: no cover
    raise ImportError("MongoDBJobStore requires PyMongo installed") from exc

__all__ = ["MongoClient", "MongoDBJobStore"]

_PROJECTION = {"next_run_time": True, "job_state": True}
_ORDER = [("next_run_time", ASCENDING), ("_id", ASCENDING)]
# server error codes of failed authentication and missing rights
_AUTH_ERROR_CODES = frozenset({13, 18})
#: how often one claim looks again for free jobs after losing its candidates to another
CLAIM_ATTEMPTS = 3


class MongoDBJobStore(MongoRunBook):
    """
    Stores jobs in a MongoDB collection. Any leftover keyword arguments are directly passed to
    pymongo's :class:`~pymongo.mongo_client.MongoClient`.

    Each job is a document ``{_id, next_run_time, job_state}`` as APScheduler 3 wrote it.

    Several scheduler processes, on one machine or many, may share the collection: each due run
    time is started exactly once. A scheduler claims due jobs by taking a lease on them (the
    fields ``lease_owner`` and ``lease_expires``, the expiry by the server's clock, ``$$NOW``),
    and, while it still holds the lease, moves each job on and records its runs as in progress
    in the collection named after this one with ``_runs`` added (created at start if missing),
    where ``max_instances`` counts the runs of every process. If a process dies holding a lease,
    the lease expires after ``lease_time`` seconds and another process runs the job (or reports
    the run missed, past its ``misfire_grace_time``); the runs it had in progress expire as
    well, and are reported missed by another process. This needs MongoDB 4.2 or later. On a
    replica set (one node will do), a change stream wakes the other schedulers as soon as a job
    is added or rescheduled; on a standalone server, each scheduler looks at the collection
    every ``poll_interval`` seconds instead. Documents written by APScheduler 3 are used as
    they are; a process of APScheduler 3 itself must not use the collection at the same time,
    as it knows nothing of leases.

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
    :param lease_time: seconds a scheduler holds the due jobs it claims before another
        scheduler may take them over; the longest a run waits when its scheduler dies
    :param poll_interval: seconds between looks at the collection while no change stream can
        be followed (while one can, the scheduler still looks every 5 seconds, in case a change
        got lost)
    :raises ValueError: if ``database`` or ``collection`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried; several schedulers may share the store.
    """

    def __init__(
        self,
        database: str = "apscheduler",
        collection: str = "jobs",
        client: MongoClient[Any] | str | None = None,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        *,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        lease_time: float = DEFAULT_LEASE_TIME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **connect_args: Any,
    ) -> None:
        super().__init__(
            pickle_protocol, retry_timeout, recheck_interval, lease_time, poll_interval
        )
        if not database:
            raise ValueError('The "database" parameter must not be empty')
        if not collection:
            raise ValueError('The "collection" parameter must not be empty')

        self.client: MongoClient[dict[str, Any]] = (
            maybe_ref(client) if client else MongoClient(**connect_args)
        )
        self.collection = self.client[database][collection]
        self.runs_collection = self.client[database][collection + RUNS_SUFFIX]
        # (owner, job id) → the pickle a claim found: a run is recorded only if the job is
        # still as claimed, so a change made meanwhile is never overwritten
        self._claims: dict[tuple[str, str], bytes] = {}
        self._unrenewed_runs: set[str] = set()

    @property
    def connection(self) -> MongoClient[dict[str, Any]]:
        """The client (deprecated: use :attr:`client`)."""
        warnings.warn(
            'The "connection" member is deprecated -- use "client" instead',
            DeprecationWarning,
            stacklevel=2,
        )
        return self.client

    # --- set-up and error policy -----------------------------------------------------------

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        if self._can_follow_changes():
            listener = leases.mongodb_listener(
                self.collection,
                self._on_change_message,
                self._wake_scheduler,
                # its own logger: an outage is reported once, by the store's operations
                logging.getLogger(f"{self._logger.name}.changes"),
            )
            self._start_listener(listener)

    def _can_follow_changes(self) -> bool:
        """Tell whether the server offers change streams (a standalone server does not)."""
        if self._needs_setup:
            # the server could not be reached: the listener finds out once it can
            return True
        try:
            self.collection.watch(max_await_time_ms=1).close()
        except (OperationFailure, NotImplementedError) as exc:
            if self._is_temporary_error(exc):
                return True
            self._logger.info(
                "Job store %r cannot follow changes on its collection (%s); it looks for "
                "changes made by other processes every %s seconds instead",
                self._alias,
                exc,
                self._poll_interval,
            )
            return False
        except PyMongoError:
            return True
        return True

    def _setup_storage(self) -> None:
        self.collection.create_index("next_run_time", sparse=True)
        self._set_up_run_book()

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
        # Known broken jobs are left out here; _next_run_time() brings in their recheck times.
        # A job leased to a scheduler counts at the moment its lease expires, by this
        # scheduler's clock, or the scheduler would wake up for it again and again.
        if self._shut_down:
            return None

        query = {"next_run_time": {"$ne": None}, "_id": {"$nin": list(self._unloadable_ids())}}

        def fetch() -> float | None:
            first_free = self.collection.find_one(
                {**query, **leases.FREE}, ["next_run_time"], sort=_ORDER
            )
            before = first_free["next_run_time"] if first_free else None
            pipeline = leases.earliest_lease_end(self._scheduler_timestamp(), before)
            pipeline[0]["$match"]["_id"] = query["_id"]
            held = next(iter(self.collection.aggregate(pipeline)), None)
            candidates = [before, held["free_at"] if held else None]
            return min((t for t in candidates if t is not None), default=None)

        earliest = self._run(fetch)
        return self._next_run_time([] if earliest is None else [(None, earliest)])

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
        self._claims.clear()
        self._forget()

    # --- sharing the store with other schedulers -------------------------------------------

    def acquire_due_jobs(self, now: datetime, owner: str) -> list[Job]:
        if self._shut_down:
            return []

        now_ts = datetime_to_utc_timestamp(now)
        assert now_ts is not None  # now is a datetime
        skip = self._ids_to_leave_unclaimed(now_ts)
        due = {"next_run_time": {"$lte": now_ts}, **leases.FREE}
        lease = leases.lease(owner, self.lease_time)

        def claim_some(limit: int) -> tuple[list[dict[str, Any]], bool]:
            """Claim up to ``limit`` due jobs; tell whether another scheduler took any first."""
            # the candidates, then one update that leases those still free: two round trips
            query = {**due, "_id": {"$nin": skip}}
            candidates = list(self.collection.find(query, _PROJECTION, sort=_ORDER, limit=limit))
            if not candidates:
                return [], False
            ids = [document["_id"] for document in candidates]
            result = self.collection.update_many({**due, "_id": {"$in": ids}}, lease)
            if result.matched_count == len(ids):
                return candidates, False
            won = {
                document["_id"]
                for document in self.collection.find(
                    {"_id": {"$in": ids}, "lease_owner": owner}, ["_id"]
                )
            }
            return [document for document in candidates if document["_id"] in won], True

        def claim() -> list[dict[str, Any]]:
            claimed: list[dict[str, Any]] = []
            # schedulers woken by the same due time pick the same candidates: the one that
            # loses some of them to another looks again (a few times) for the free ones left
            for _ in range(CLAIM_ATTEMPTS):
                documents, contended = claim_some(CLAIM_BATCH - len(claimed))
                claimed.extend(documents)
                if not contended or len(claimed) >= CLAIM_BATCH:
                    break
            return claimed

        documents = self._run(claim)
        rows = [self._row(document) for document in documents]
        return self._accept_claimed(rows, now, owner, lambda job_state: job_state)

    def release_claimed_job(self, job_id: str, owner: str) -> None:
        self._release_claimed_jobs([job_id], owner)

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        for job_id in job_ids:
            self._claims.pop((owner, job_id), None)
        self._run(
            lambda: self.collection.update_many(
                {"_id": {"$in": job_ids}, "lease_owner": owner}, leases.UNLEASE
            )
        )

    def _stop_listener(self, interrupt: Any = None) -> None:
        # A change stream cannot be interrupted: the listener ends after its current wait
        # (at most a second), when it finds the client closed. Nobody waits for that.
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop(timeout=0)

    def shutdown(self) -> None:
        already_shut_down = self._shut_down
        super().shutdown()
        # a second shutdown must not close the client again: pymongo raises for that
        if not already_shut_down:
            self.client.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (client={self.client})>"
