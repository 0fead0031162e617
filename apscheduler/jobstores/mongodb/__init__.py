"""Stores jobs in a MongoDB collection, one document per job."""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from apscheduler.job import Job as Job
from apscheduler.jobstores._persistent import DEFAULT_RECHECK_INTERVAL, DEFAULT_RETRY_TIMEOUT
from apscheduler.jobstores._shared import SharedPersistentStore
from apscheduler.jobstores.base import (
    BaseJobStore as BaseJobStore,
    ConflictingIdError as ConflictingIdError,
    JobLookupError,
)
from apscheduler.jobstores.shared import (
    DEFAULT_LEASE_TIME,
    DEFAULT_POLL_INTERVAL,
    AbandonedRun,
    ClaimedJobs,
    RunRequest,
    RunStart,
    RunStartOutcome,
)
from apscheduler.runs import JobRun, RetentionPolicy, RunHistory, SchedulerFact
from apscheduler.util import (
    datetime_to_utc_timestamp,
    maybe_ref,
    utc_timestamp_to_datetime as utc_timestamp_to_datetime,
)

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

try:
    # the PyMongo package: imports are absolute, so this package's own name does not hide it
    from bson.binary import Binary
    from pymongo import ASCENDING as ASCENDING, MongoClient
    from pymongo.errors import (
        ConnectionFailure,
        DuplicateKeyError,
        ExecutionTimeout,
        OperationFailure,
        PyMongoError,
        WTimeoutError,
    )

    from apscheduler.jobstores.mongodb.facts import FACTS_SUFFIX, MongoFacts
    from apscheduler.jobstores.mongodb.history import HISTORY_SUFFIX, MongoHistory
    from apscheduler.jobstores.mongodb.leases import (
        UNLEASE_STAGE,
        Fate,
        MongoLeases,
        Move,
        Outlook,
    )
    from apscheduler.jobstores.mongodb.listen import mongodb_listener
    from apscheduler.jobstores.mongodb.run_requests import (
        REQUESTS,
        due_time,
        request_pipeline,
        requests_of,
    )
    from apscheduler.jobstores.mongodb.runs import RUNS_SUFFIX, MongoRuns, abandoned
except ImportError as exc:  # pragma: no cover
    raise ImportError("MongoDBJobStore requires PyMongo installed") from exc

__all__ = ["MongoClient", "MongoDBJobStore"]

STARTED = RunStartOutcome.STARTED
MAX_INSTANCES = RunStartOutcome.MAX_INSTANCES
LOST = RunStartOutcome.LOST

_PROJECTION = {"next_run_time": True, "job_state": True}
# server error codes of failed authentication and missing rights
_AUTH_ERROR_CODES = frozenset({13, 18})


class MongoDBJobStore(SharedPersistentStore, RunHistory):
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

    Any process may ask for an extra run of a job (``request_run()``): the request is kept in
    the job's document, in an array field ``requests``, and the document's ``next_run_time``
    is brought forward to it (the run time in the pickled job, its own schedule, stays as it
    is), so that the scheduler that claims the job next makes the run, and forgets the request
    as it starts the job.

    The store keeps the history of runs (:class:`~apscheduler.runs.RunHistory`) in the
    collection named after this one with ``_history`` added, and the facts recorded beside them
    (:meth:`record_facts`) in the one with ``_facts`` added, which every process sharing the
    store reads; removing jobs leaves their history in place.

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
    :param serializer: how jobs are written: ``"pickle"`` (the default, APScheduler 3's format)
        or ``"json"``, which loads no code but the jobs' callables (see :doc:`/security`)
    :param pickle_secret: a secret to sign pickles with (bytes, or the name of an environment
        variable holding it): a pickle without a valid signature is then never unpickled, and
        is reported as an unloadable job
    :raises ValueError: if ``database`` or ``collection`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried; several schedulers may share the store, and take run requests; the store
        keeps the history of runs, and facts.
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
        serializer: str = "pickle",
        pickle_secret: bytes | str | None = None,
        **connect_args: Any,
    ) -> None:
        super().__init__(
            pickle_protocol,
            retry_timeout,
            recheck_interval,
            lease_time,
            poll_interval,
            serializer=serializer,
            pickle_secret=pickle_secret,
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
        self.history_collection = self.client[database][collection + HISTORY_SUFFIX]
        self.facts_collection = self.client[database][collection + FACTS_SUFFIX]
        self._leases = MongoLeases(self.collection, self.lease_time)
        self._runs = MongoRuns(self.runs_collection, self.lease_time)
        self._history = MongoHistory(self.history_collection)
        self._facts = MongoFacts(self.facts_collection)

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
            listener = mongodb_listener(
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
        self._leases.create_indexes()
        self._runs.create_indexes()
        self._history.create_indexes()
        self._facts.create_indexes()

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
        order = [("next_run_time", ASCENDING), ("_id", ASCENDING)]
        documents = self._run(lambda: list(self.collection.find(query, _PROJECTION, sort=order)))
        return self._load_due(map(self._row, documents), now)

    def get_next_run_time(self) -> datetime | None:
        # Known broken jobs are left out here; _next_run_time() brings in their recheck times.
        # A job leased to a scheduler counts at the moment its lease expires, by this
        # scheduler's clock, or the scheduler would wake up for it again and again.
        if self._shut_down:
            return None

        left_out = list(self._unloadable_ids())
        outlook = self._run(
            lambda: self._leases.outlook(self._scheduler_timestamp(), left_out, 1, None)
        )
        times = [row["next_run_time"] for row in outlook.rows]
        if outlook.held_until is not None:
            times.append(outlook.held_until)
        return self._next_run_time([(None, min(times))] if times else [])

    def get_all_jobs(self) -> list[Job]:
        documents = self._run(lambda: list(self.collection.find({}, _PROJECTION)))
        return self._load_all(map(self._row, documents))

    # --- writing: each ends any scheduler's claim on the job ---------------------------------

    def add_job(self, job: Job) -> None:
        document = {
            "_id": job.id,
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": Binary(self._serialize(job)),
        }

        def insert() -> bool:
            try:
                self.collection.insert_one(document)
            except DuplicateKeyError:
                return False
            return True

        def inserted_before(inserted: bool) -> bool:
            # a retry after a reply that was lost finds its own document: that is fine
            stored = None if inserted else self.collection.find_one(job.id, ["job_state"])
            return inserted or (
                stored is not None and stored["job_state"] == document["job_state"]
            )

        if not self._run(insert, applied_on_retry=inserted_before):
            raise ConflictingIdError(job.id)
        self._clear_load_failure(job.id)

    def update_job(self, job: Job) -> None:
        changes = {
            # still due for the run requests pending, if any
            "next_run_time": due_time(datetime_to_utc_timestamp(job.next_run_time)),
            "job_state": {"$literal": Binary(self._serialize(job))},
        }
        # a change made by the user ends any claim: the claimer's copy must not overwrite it
        update = [{"$set": changes}, UNLEASE_STAGE]
        result = self._run(lambda: self.collection.update_one({"_id": job.id}, update))
        if result.matched_count == 0:
            raise JobLookupError(job.id)
        self._clear_load_failure(job.id)

    def remove_job(self, job_id: str) -> None:
        def delete() -> bool:
            return bool(self.collection.delete_one({"_id": job_id}).deleted_count)

        # a retry after a reply that was lost finds the document gone: that is fine
        if not self._run(delete, applied_on_retry=lambda removed: True):
            raise JobLookupError(job_id)
        self._clear_load_failure(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self.collection.delete_many({}))
        self._clear_load_failure()

    # --- sharing the store with other schedulers -------------------------------------------

    def request_run(self, job_id: str, request: RunRequest) -> bool:
        # one update: the request is kept once, even when a retry sends it again; the change
        # stream tells the other schedulers, as the due time moves (if it does)
        pipeline = request_pipeline(request)
        return self._run(
            lambda: self.collection.update_one({"_id": job_id}, pipeline).matched_count > 0
        )

    def acquire_due_jobs(self, now: datetime, owner: str) -> ClaimedJobs:
        # Two round trips: one read of the free jobs first in line (which also tells when the
        # first held job is free), then one write that leases the due ones among them; a third
        # when another scheduler took some of them first.
        if self._shut_down:
            return ClaimedJobs([], None)

        now_ts = datetime_to_utc_timestamp(now)
        assert now_ts is not None  # now is a datetime
        skip = self._ids_to_leave_unclaimed(now_ts)
        # a batch, one row past it for the next run time, and the broken jobs due for another
        # try, which the next run time leaves out
        limit = self.claim_batch + 1 + len(self._unloadable_ids()) - len(skip)

        def claim() -> tuple[Outlook, set[str], set[str], list[float]]:
            caller_now = self._scheduler_timestamp()
            outlook = self._leases.outlook(caller_now, skip, limit, now_ts)
            due = [row for row in outlook.rows if row["next_run_time"] <= now_ts]
            due = due[: self.claim_batch]
            if not due:
                return outlook, set(), set(), []
            won, taken_at = self._leases.lease(owner, now_ts, due, caller_now)
            return outlook, {row["_id"] for row in due}, won, taken_at

        outlook, tried, won, taken_at = self._run(claim)
        rows = [self._row(row) for row in outlook.rows if row["_id"] in won]
        jobs = self._accept_claimed(rows, now, owner)
        # what else there is: the free jobs not tried, and the held ones once their lease ends
        later = [
            (row["_id"], row["next_run_time"]) for row in outlook.rows if row["_id"] not in tried
        ]
        if outlook.held_until is not None:
            taken_at.append(outlook.held_until)
        later += [(None, free_at) for free_at in taken_at]
        later.sort(key=lambda pair: pair[1])
        loaded = {job.id for job in jobs}
        requests = {
            row["_id"]: requests_of(row)
            for row in outlook.rows
            if REQUESTS in row and row["_id"] in loaded
        }
        return ClaimedJobs(jobs, self._next_run_time(later), requests)

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        self._run(lambda: self._leases.release(owner, job_ids))

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        # Round trips: one look at the runs in progress of the whole batch, one write of its
        # run records, one write that moves its jobs on (two if some are removed), and one more
        # read if that write did not match every job; lost starts cost one more.
        starts = list(starts)
        if not starts:
            return []

        recorded, in_progress = self._run(lambda: self._runs.survey(starts))
        outcomes: list[RunStartOutcome] = []
        to_record: list[RunStart] = []
        for start in starts:
            if start.run_id in recorded:
                # recorded by an earlier call with this run id: a retry after a lost reply
                outcomes.append(STARTED)
            elif in_progress[start.job.id] >= start.job.max_instances:
                outcomes.append(MAX_INSTANCES)
            else:
                in_progress[start.job.id] += 1
                to_record.append(start)
                outcomes.append(STARTED)

        if to_record:
            try:
                self._run(lambda: self._runs.record(owner, to_record))
            except Exception:
                # no job has moved: whatever got recorded is dropped when it expires
                self._runs.give_up(start.run_id for start in to_record)
                raise

        # the starts recorded by an earlier call moved their job then
        moving = [start for start in starts if start.run_id not in recorded]
        fates = self._move_on(owner, moving)
        lost = set()
        for start, fate in zip(moving, fates, strict=True):
            if fate is Fate.MOVED:
                self._clear_load_failure(start.job.id)
            else:
                lost.add(start.run_id)
        self._give_up(owner, moving, fates, {start.run_id for start in to_record})
        pairs = zip(starts, outcomes, strict=True)
        return [LOST if start.run_id in lost else outcome for start, outcome in pairs]

    def _move_on(self, owner: str, starts: list[RunStart]) -> list[Fate]:
        """Store each job as the scheduler moved it on, while it is still leased to ``owner``."""
        if not starts:
            return []
        moves = [self._move(start) for start in starts]
        try:
            return self._run(
                lambda: self._leases.move_on(owner, moves),
                # a write whose reply was lost may have gone through: the stored jobs tell
                applied_on_retry=lambda fates: self._leases.recognise(owner, moves, fates),
            )
        except Exception as exc:
            failure = exc
        unknown = [Fate.UNKNOWN] * len(moves)
        try:
            fates = self._run(lambda: self._leases.recognise(owner, moves, unknown))
        except Exception:
            fates = unknown
        self._logger.warning(
            "Job store %r could not record the start of jobs %s (%s: %s); they were not started",
            self._alias,
            [
                move.job_id
                for move, fate in zip(moves, fates, strict=True)
                if fate is not Fate.MOVED
            ],
            type(failure).__name__,
            failure,
        )
        return fates

    def _move(self, start: RunStart) -> Move:
        job = start.job
        if start.removes_job:
            return Move(job.id, None, None)
        # a paused job run on request alone stays stored, paused
        run_time = datetime_to_utc_timestamp(job.next_run_time)
        return Move(job.id, run_time, Binary(self._serialize(job)))

    def _give_up(
        self, owner: str, starts: list[RunStart], fates: list[Fate], recorded_now: set[str]
    ) -> None:
        """Deal with the starts that did not move their job: their records, their leases."""
        stale: list[str] = []
        held: list[str] = []
        for start, fate in zip(starts, fates, strict=True):
            if fate is Fate.HELD:
                held.append(start.job.id)
            if start.run_id not in recorded_now or fate is Fate.MOVED:
                continue
            if fate is Fate.UNKNOWN:
                # did it move? Then its runs never started: the record expires unrenewed, and
                # then the job's state tells whether they were missed
                self._runs.give_up([start.run_id])
            else:
                stale.append(start.run_id)
        try:
            if stale:
                self._run(lambda: self._runs.forget(owner, stale))
            if held:
                # not moved and still ours: offered again at once, as it is
                self._release_claimed_jobs(held, owner)
        except Exception as exc:
            self._runs.give_up(stale)
            self._logger.warning("Could not give up the claims on %s: %s", held or stale, exc)

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        ids = list(run_ids)
        if ids:
            self._run(lambda: self._runs.forget(owner, ids))

    def renew_runs(self, owner: str) -> set[str]:
        return self._run(lambda: self._runs.renew(owner))

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        if self._shut_down:
            return []

        taken = []
        for run_id in self._run(self._runs.expired_ids):
            record = self._run(partial(self._runs.take, run_id))
            if record is not None:
                taken.append(record)
        if not taken:
            return []

        job_ids = list({record["job_id"] for record in taken})
        query = {"_id": {"$in": job_ids}}
        try:
            next_run_times = self._run(
                lambda: {
                    document["_id"]: document.get("next_run_time")
                    for document in self.collection.find(query, ["next_run_time"])
                }
            )
        except Exception as exc:
            # they are taken already: reporting them all beats losing them
            self._logger.warning("Could not check the jobs of abandoned runs: %s", exc)
            return abandoned(taken, None)
        return abandoned(taken, next_run_times)

    # --- the history of runs ---------------------------------------------------------------

    def record_runs(self, runs: Sequence[JobRun]) -> None:
        """Store ``runs`` in the history collection, replacing the records of the same run ids."""
        batch = list(runs)
        if batch:
            # whole documents replaced by id: a retry after a lost reply writes the same ones
            self._run(lambda: self._history.record(batch))

    def get_job_runs(
        self,
        job_id: str | None = None,
        *,
        states: Collection[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        return self._run(lambda: self._history.runs(job_id, states, since, limit))

    def prune_runs(self, policy: RetentionPolicy, now: datetime) -> None:
        """Drop the finished runs and the facts that ``policy`` no longer keeps."""
        # deleting what a lost attempt deleted already deletes nothing more
        self._run(lambda: self._history.prune(policy, now))
        self._run(lambda: self._facts.prune(policy, now))

    def record_facts(self, facts: Sequence[SchedulerFact]) -> None:
        """Store ``facts`` in the facts collection, replacing those of the same fact ids."""
        batch = list(facts)
        if batch:
            # whole documents replaced by id: a retry after a lost reply writes the same ones
            self._run(lambda: self._facts.record(batch))

    def get_facts(
        self, *, until: datetime | None = None, limit: int = 1000
    ) -> list[SchedulerFact]:
        return self._run(lambda: self._facts.facts(until, limit))

    # --- shutting down ---------------------------------------------------------------------

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
