"""Stores jobs in Redis: a hash of pickled jobs and a sorted set of their run times."""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone as timezone
from typing import Any, cast

from apscheduler.job import Job as Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    EVERY_JOB,
    UNKNOWN_RUN_TIME,
    StorageProblem,
)
from apscheduler.jobstores._shared import SharedPersistentStore
from apscheduler.jobstores.base import (
    BaseJobStore as BaseJobStore,
    ConflictingIdError,
    JobLookupError,
)
from apscheduler.jobstores.redis.facts_lua import FACT_KEY_TYPES, FactKeys
from apscheduler.jobstores.redis.history_lua import HISTORY_KEY_TYPES, HistoryKeys
from apscheduler.jobstores.redis.jobs_lua import (
    OWN_RUN_TIME_NOT_READ,
    JobKeys,
    RunTimeNotRead,
    score_text,
)
from apscheduler.jobstores.redis.runs_lua import (
    LOST,
    RUN_KEY_SUFFIXES,
    RUN_KEY_TYPES,
    RunKeys,
    start_entries,
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
    utc_timestamp_to_datetime as utc_timestamp_to_datetime,
)

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

try:
    # the redis-py package: imports are absolute, so this package's own name does not hide it
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.exceptions import (
        AuthenticationError,
        AuthorizationError,
        ClusterDownError,
        ConnectionError as RedisConnectionError,
        ReadOnlyError,
        ResponseError,
        TimeoutError as RedisTimeoutError,
        TryAgainError,
    )
    from redis.retry import Retry

    from apscheduler.jobstores.redis.listen import listens_apart, redis_listener
except ImportError as exc:  # pragma: no cover
    raise ImportError("RedisJobStore requires redis installed") from exc


#: KEYS: the keys to look at; returns their types, as TYPE names them
_KEY_TYPES = """
local found = {}
for i, key in ipairs(KEYS) do
    found[i] = redis.call('TYPE', key)['ok']
end
return found
"""


class RedisJobStore(SharedPersistentStore, RunHistory):
    """
    Stores jobs in a Redis database. Any leftover keyword arguments are directly passed to
    redis's :class:`~redis.Redis`.

    Jobs are kept in the hash ``jobs_key`` (job id → pickled job) and their next run times in
    the sorted set ``run_times_key``, as APScheduler 3 kept them.

    Several scheduler processes, on one machine or many, may share the keys: each due run time
    is started exactly once. A scheduler claims due jobs by taking a lease on them (owner and
    expiry, by the Redis server's clock, in the hash ``<jobs_key>.leases``), and records its
    runs in progress in the keys ``<jobs_key>.runs*`` as it starts them, while it still holds
    the lease, so that ``max_instances`` holds across processes. If a process dies holding a
    lease, the lease expires after ``lease_time`` seconds and another process runs the job (or
    reports the run missed, past its ``misfire_grace_time``); the runs it had in progress are
    reported missed once their leases expire. Runs asked for with ``request_run()`` wait in
    the hash ``<jobs_key>.requests`` (job id → JSON), and the job's score in ``run_times_key``
    is lowered to the oldest of them, so that it is due; its own next run time stays in the
    pickled job, and in the request record. The history of runs
    (:class:`~apscheduler.runs.RunHistory`) is kept in the keys ``<jobs_key>.history*``, as
    JSON, and so are the facts (:class:`~apscheduler.runs.SchedulerFact`), in
    ``<jobs_key>.history_facts`` and ``<jobs_key>.history_fact_times``. Every change to the jobs
    is published on the channel ``<jobs_key>.changes``, which every store listens on, so a job
    added, changed, removed or asked to run in one process is acted on by the others at once.
    Keys written by APScheduler 3 are used as they are; a process of APScheduler 3 itself must
    not use them at the same time, as it knows nothing of leases (nor of run requests: it would
    run their jobs early, by their lowered scores).

    Plugin alias: ``redis``

    :param db: the database number to store jobs in
    :param jobs_key: key to store jobs in
    :param run_times_key: key to store the jobs' next run times in
    :param pickle_protocol: pickle protocol level to use (for serialization), defaults to the
        highest available
    :param retry_timeout: seconds one operation keeps retrying a lost connection or another
        temporary error before raising it (``0`` disables retrying); unless ``retry`` is among
        the connection arguments, the client itself retries only once, at once
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :param lease_time: seconds a scheduler holds the due jobs it claims before another
        scheduler may take them over; the longest a run waits when its scheduler dies
    :param poll_interval: seconds between looks at the store while the change channel cannot
        be heard (while it can, the scheduler still looks every 5 seconds, in case a message
        got lost)
    :param serializer: how jobs are written: ``"pickle"`` (the default, APScheduler 3's format)
        or ``"json"``, which loads no code but the jobs' callables (see :doc:`/security`)
    :param pickle_secret: a secret to sign pickles with (bytes, or the name of an environment
        variable holding it): a pickle without a valid signature is then never unpickled, and
        is reported as an unloadable job
    :raises ValueError: if ``db``, ``jobs_key`` or ``run_times_key`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried; several schedulers may share the store; the store keeps the history of runs
        and the facts beside it, and takes run requests from any process.
    """

    def __init__(
        self,
        db: int | str = 0,
        jobs_key: str = "apscheduler.jobs",
        run_times_key: str = "apscheduler.run_times",
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
        if db is None:
            raise ValueError('The "db" parameter must not be empty')
        if not jobs_key:
            raise ValueError('The "jobs_key" parameter must not be empty')
        if not run_times_key:
            raise ValueError('The "run_times_key" parameter must not be empty')

        self.jobs_key = jobs_key
        self.run_times_key = run_times_key
        self.leases_key = f"{jobs_key}.leases"
        self.changes_channel = f"{jobs_key}.changes"
        # redis-py's own default retries a dead server for seconds inside every call; one quick
        # retry (for a pooled connection gone stale) leaves the timing to ``retry_timeout``
        connect_args.setdefault("retry", Retry(NoBackoff(), 1))
        self.redis = Redis(db=int(db), **connect_args)
        self._jobs = JobKeys(
            self.redis, jobs_key, run_times_key, self.changes_channel, self._token
        )
        # the runs in progress: keys of their own, which remove_all_jobs() leaves alone (runs
        # still going count for max_instances)
        self._runs = RunKeys(self.redis, self._jobs)
        # the history of runs: keys of their own too, which remove_all_jobs() leaves alone
        self._history = HistoryKeys(self.redis, jobs_key)
        # and the facts, beside the history
        self._facts = FactKeys(self.redis, jobs_key)
        self._interrupt_subscription: Any = None
        # set once the scheduler has looked at the store since it started it
        self._first_look = threading.Event()

    # --- set-up and error policy -----------------------------------------------------------

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._first_look = threading.Event()
        listener, self._interrupt_subscription = redis_listener(
            self.redis,
            self.changes_channel,
            self._on_change_message,
            self._wake_after_reconnect,
            # its own logger: an outage is reported once, by the store's operations
            logging.getLogger(f"{self._logger.name}.changes"),
            # it subscribes once the scheduler's first look is done, not in the middle of it
            self._first_look,
        )
        self._start_listener(listener)

    def _looked(self) -> None:
        """The scheduler looked at the store: the listener need not wait for that any more."""
        if not self._first_look.is_set():
            self._first_look.set()

    def _setup_storage(self) -> None:
        # Redis makes keys on first write: only a key of the wrong type can stand in the way
        keys = [*self._jobs.keys, *self._runs.keys, *self._history.keys, *self._facts.keys]
        wanted_types = (
            "hash",
            "zset",
            "hash",
            "hash",
            *RUN_KEY_TYPES,
            *HISTORY_KEY_TYPES,
            *FACT_KEY_TYPES,
        )
        kept = (
            "jobs",
            "run times",
            "leases",
            "run requests",
            *["runs in progress"] * len(RUN_KEY_SUFFIXES),
            *["run history"] * len(HISTORY_KEY_TYPES),
            *["facts"] * len(FACT_KEY_TYPES),
        )
        found_types = self._key_types(keys)
        for key, found, wanted, what in zip(keys, found_types, wanted_types, kept, strict=True):
            found = found.decode() if isinstance(found, bytes) else found
            if found not in (wanted, "none"):
                raise StorageProblem(
                    f"the Redis key {key!r} holds a {found}, not a {wanted} of {what}; "
                    f"pass other jobs_key= and run_times_key= values or delete that key"
                )

    def _key_types(self, keys: list[str]) -> list[Any]:
        """The type of each key (``"none"`` for a missing one), in one short reply."""
        try:
            # one command and one reply: a pipeline of TYPE commands costs the client about
            # twice as much to write and parse
            return cast("list[Any]", self.redis.eval(_KEY_TYPES, len(keys), *keys))
        except ResponseError:
            # a server that refuses scripts for now (out of memory, say) still answers TYPE
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.type(key)
            return pipe.execute()

    def _explain_setup_error(self, exc: Exception) -> str:
        message = super()._explain_setup_error(exc)
        if isinstance(exc, (AuthenticationError, AuthorizationError)) or (
            isinstance(exc, ResponseError) and "AUTH" in str(exc)
        ):
            return f"{message} (check the username= and password= given to the job store)"
        return message

    def _is_temporary_error(self, exc: BaseException) -> bool:
        if isinstance(exc, (AuthenticationError, AuthorizationError)):
            return False
        return isinstance(
            exc,
            (
                RedisConnectionError,
                RedisTimeoutError,
                ReadOnlyError,
                TryAgainError,
                ClusterDownError,
            ),
        )

    # --- reading ---------------------------------------------------------------------------

    def lookup_job(self, job_id: str) -> Job | None:
        data = self._run(lambda: self._jobs.lookup(job_id))
        return None if data is None else self._load(job_id, OWN_RUN_TIME_NOT_READ, data)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        timestamp = datetime_to_utc_timestamp(now)
        assert timestamp is not None  # now is a datetime
        try:
            return self._load_due(self._run(lambda: self._jobs.due(timestamp)), now)
        finally:
            self._looked()

    def get_next_run_time(self) -> datetime | None:
        # Known broken jobs are left out here; _next_run_time() brings in their recheck times.
        # A job leased to a scheduler counts at the moment its lease expires, by this
        # scheduler's clock, or the scheduler would wake up for it again and again.
        if self._shut_down:
            return None

        caller_now, left_out = self._scheduler_timestamp(), sorted(self._unloadable_ids())
        try:
            found = self._run(lambda: self._jobs.next_run_time(caller_now, left_out))
        finally:
            self._looked()
        return self._next_run_time([] if found is None else [(None, found)])

    def get_all_jobs(self) -> list[Job]:
        # the jobs that load take their places by the run times in their pickles
        known_broken = sorted(self._unloadable_ids())
        rows = self._run(lambda: self._jobs.everything(known_broken))
        return self._load_all(rows, EVERY_JOB)

    def _record_failure(
        self, job_id: str, exc: Exception, run_time: float | None, now: float | None
    ) -> None:
        """Record a job that failed to load, with the stored run time its row left unread."""
        if isinstance(run_time, RunTimeNotRead):
            run_time = self._stored_run_time(job_id, run_time.own)
        super()._record_failure(job_id, exc, run_time, now)

    def _stored_run_time(self, job_id: str, own: bool) -> float | None:
        """The run time a read left out, of a job that failed to load, for the books on it."""
        try:
            found = self._run(lambda: self._jobs.run_times([job_id], own))
        except Exception as exc:
            if not self._is_temporary_error(exc):
                raise
            # the next due-jobs pass tries the job at once, and reads its run time then
            return UNKNOWN_RUN_TIME
        return found.get(job_id)

    # --- writing ---------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        data, score = self._serialize(job), score_text(job.next_run_time)

        def added_before(added: bool) -> bool:
            # a retry after a reply that was lost finds its own job: that is fine
            return added or self._jobs.lookup(job.id) == data

        if not self._run(lambda: self._jobs.add(job.id, data, score), added_before):
            raise ConflictingIdError(job.id)
        self._clear_load_failure(job.id)

    def update_job(self, job: Job) -> None:
        data, score = self._serialize(job), score_text(job.next_run_time)
        if not self._run(lambda: self._jobs.update(job.id, data, score)):
            raise JobLookupError(job.id)
        self._clear_load_failure(job.id)

    def remove_job(self, job_id: str) -> None:
        # a retry after a reply that was lost finds the job gone: that is fine
        if not self._run(lambda: self._jobs.remove(job_id), applied_on_retry=lambda _: True):
            raise JobLookupError(job_id)
        self._clear_load_failure(job_id)

    def remove_all_jobs(self) -> None:
        self._run(self._jobs.remove_all)
        self._clear_load_failure()

    # --- sharing the store with other schedulers -------------------------------------------

    def acquire_due_jobs(self, now: datetime, owner: str) -> ClaimedJobs:
        if self._shut_down:
            return ClaimedJobs([], None)

        now_ts = datetime_to_utc_timestamp(now)
        assert now_ts is not None  # now is a datetime
        unclaimable = self._ids_to_leave_unclaimed(now_ts)
        # the broken jobs due for another try may be claimed, but count at their recheck time
        left_out = sorted(self._unloadable_ids().difference(unclaimable))
        caller_now = self._scheduler_timestamp()
        try:
            rows, requests, found, runs_in_progress = self._run(
                lambda: self._jobs.claim(
                    now_ts,
                    owner,
                    self.lease_time,
                    self.claim_batch,
                    caller_now,
                    unclaimable,
                    left_out,
                )
            )
            jobs = self._accept_claimed(rows, now, owner)
        finally:
            self._looked()
        # worked out after loading: a claimed job that failed to load counts at its recheck time
        next_run_time = self._next_run_time([] if found is None else [(None, found)])
        if not requests:
            return ClaimedJobs(jobs, next_run_time, runs_in_progress=runs_in_progress)
        # the requests of a job that failed to load stay with it, and it was given back
        return ClaimedJobs(
            jobs,
            next_run_time,
            {job.id: requests[job.id] for job in jobs if job.id in requests},
            runs_in_progress,
        )

    def request_run(self, job_id: str, request: RunRequest) -> bool:
        # asking again after a lost reply finds the request recorded, and records it once
        requested_at = score_text(request.requested_at)
        return self._run(
            lambda: self._jobs.request(job_id, request.run_id, requested_at, request.attempt)
        )

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        if not starts:
            return []

        entries = start_entries(starts, self._serialize)

        def moved_before(outcomes: list[RunStartOutcome]) -> list[RunStartOutcome]:
            # a retry finds the runs it recorded by their ids, but not the jobs it only moved on
            return self._runs.recognise_moves(entries, outcomes) if LOST in outcomes else outcomes

        # one script for the whole batch
        outcomes = self._run(
            lambda: self._runs.start(owner, self.lease_time, entries), moved_before
        )
        for start, outcome in zip(starts, outcomes, strict=True):
            if outcome is not LOST:
                self._clear_load_failure(start.job.id)
        return outcomes

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        if run_ids:
            self._run(lambda: self._runs.finish(owner, run_ids))

    def renew_runs(self, owner: str) -> set[str]:
        return self._run(lambda: self._runs.renew(owner, self.lease_time))

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        return self._run(self._runs.take_abandoned(self.retry_timeout))

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        self._run(lambda: self._jobs.release(owner, job_ids))

    # --- the history of runs ---------------------------------------------------------------

    def record_runs(self, runs: Sequence[JobRun]) -> None:
        # an upsert written twice leaves the same records: a retry after a lost reply is harmless
        if runs:
            self._run(lambda: self._history.record(runs))

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
        # deleting what a lost attempt deleted already deletes nothing more
        self._run(lambda: self._history.prune(policy, now))
        self._run(lambda: self._facts.prune(policy, now))

    def record_facts(self, facts: Sequence[SchedulerFact]) -> None:
        # a fact written twice is one fact: a retry after a lost reply is harmless
        if facts:
            self._run(lambda: self._facts.record(facts))

    def get_facts(
        self, *, until: datetime | None = None, limit: int = 1000
    ) -> list[SchedulerFact]:
        return self._run(lambda: self._facts.facts(until, limit))

    def _interrupt_listener(self) -> None:
        if self._interrupt_subscription is not None:
            self._interrupt_subscription()

    def _stop_listener(self, interrupt: Callable[[], None] | None = None) -> None:
        listener = self._listener
        if interrupt is None or listener is None or not listens_apart(self.redis):
            # a listener that gives its connection back to the store's pool must do so before
            # the pool is closed: wait for it
            super()._stop_listener(interrupt)
            return
        # The interrupt closes a subscribed connection, and a listener still connecting closes
        # its own connection as soon as it has one (it finds itself stopped): what its thread
        # does after the stop is not worth waiting for the thread to be scheduled again.
        self._listener = None
        listener.stop(interrupt, timeout=0)

    def _wake_after_reconnect(self) -> None:
        # a listener that finished connecting after the store shut down has nobody to wake
        if not self._shut_down:
            self._wake_scheduler()

    def shutdown(self) -> None:
        # a listener still waiting to connect has nothing to wait for any more
        self._looked()
        if not listens_apart(self.redis):
            # the listener's connection is one of the pool's: it must stop before the pool
            # closes that connection under it (which it would report as a lost connection)
            super().shutdown()
            self.redis.connection_pool.disconnect()
            return
        # The store's own connections go first: the listener's thread, which the interrupt
        # wakes, would otherwise tidy up (holding the GIL) in the middle of this shutdown.
        self._shut_down = True
        self.redis.connection_pool.disconnect()
        super().shutdown()
