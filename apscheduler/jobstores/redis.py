"""Stores jobs in Redis: a hash of pickled jobs and a sorted set of their run times."""

from __future__ import annotations

import logging
import math
import pickle
from collections.abc import Sequence
from datetime import datetime, timezone as timezone
from hashlib import sha1
from typing import Any, cast
from uuid import uuid4

from apscheduler.job import Job
from apscheduler.jobstores import _redis_runs as runs, _redis_scripts as scripts
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    StorageProblem,
)
from apscheduler.jobstores._redis_notify import redis_listener
from apscheduler.jobstores._shared import (
    CLAIM_BATCH,
    DEFAULT_LEASE_TIME,
    DEFAULT_POLL_INTERVAL,
    SharedJobStore,
)
from apscheduler.jobstores.base import (
    AbandonedRun,
    BaseJobStore as BaseJobStore,
    ConflictingIdError,
    JobLookupError,
    RunStart,
    RunStartOutcome,
)
from apscheduler.util import (
    datetime_to_utc_timestamp,
    utc_timestamp_to_datetime as utc_timestamp_to_datetime,
)

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

try:
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
except ImportError as exc:  # pragma: no cover
    raise ImportError("RedisJobStore requires redis installed") from exc


def _score(run_time: datetime | None) -> str:
    # repr() gives the shortest text that reads back as the same float
    return "" if run_time is None else repr(datetime_to_utc_timestamp(run_time))


class RedisJobStore(SharedJobStore):
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
    reported missed once their leases expire. Every change to the jobs is
    published on the channel ``<jobs_key>.changes``, which every store listens on, so a job
    added, changed or removed in one process is acted on by the others at once. Keys written by
    APScheduler 3 are used as they are; a process of APScheduler 3 itself must not use them at
    the same time, as it knows nothing of leases.

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
    :raises ValueError: if ``db``, ``jobs_key`` or ``run_times_key`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried; several schedulers may share the store.
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
        **connect_args: Any,
    ) -> None:
        super().__init__(
            pickle_protocol, retry_timeout, recheck_interval, lease_time, poll_interval
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
        self._keys = [jobs_key, run_times_key, self.leases_key]
        # the runs in progress: new keys, which remove_all_jobs() leaves alone (runs still
        # going count for max_instances)
        self._run_keys = [f"{jobs_key}{suffix}" for suffix in runs.RUN_KEY_SUFFIXES]
        self._interrupt_subscription: Any = None
        # (owner, job id) → SHA-1 of the pickle a claim found: a run is recorded only if the
        # job is still as claimed, so a change made meanwhile is never overwritten
        self._claims: dict[tuple[str, str], str] = {}
        self._register_scripts()

    def _register_scripts(self) -> None:
        self._add_script = self.redis.register_script(scripts.ADD)
        self._update_script = self.redis.register_script(scripts.UPDATE)
        self._remove_script = self.redis.register_script(scripts.REMOVE)
        self._acquire_script = self.redis.register_script(scripts.ACQUIRE)
        self._start_runs_script = self.redis.register_script(runs.START_RUNS)
        self._finish_runs_script = self.redis.register_script(runs.FINISH_RUNS)
        self._renew_runs_script = self.redis.register_script(runs.RENEW_RUNS)
        self._take_abandoned_script = self.redis.register_script(runs.TAKE_ABANDONED_RUNS)
        self._release_script = self.redis.register_script(scripts.RELEASE)
        self._next_run_time_script = self.redis.register_script(scripts.NEXT_RUN_TIME)

    # --- set-up and error policy -----------------------------------------------------------

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        listener, self._interrupt_subscription = redis_listener(
            self.redis,
            self.changes_channel,
            self._on_change_message,
            self._wake_scheduler,
            # its own logger: an outage is reported once, by the store's operations
            logging.getLogger(f"{self._logger.name}.changes"),
        )
        self._start_listener(listener)

    def _setup_storage(self) -> None:
        # Redis makes keys on first write: only a key of the wrong type can stand in the way
        keys = [*self._keys, *self._run_keys]
        wanted_types = ("hash", "zset", "hash", *runs.RUN_KEY_TYPES)
        kept = ("jobs", "run times", "leases", *["runs in progress"] * len(self._run_keys))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        found_types = pipe.execute()
        for key, found, wanted, what in zip(keys, found_types, wanted_types, kept, strict=True):
            found = found.decode() if isinstance(found, bytes) else found
            if found not in (wanted, "none"):
                raise StorageProblem(
                    f"the Redis key {key!r} holds a {found}, not a {wanted} of {what}; "
                    f"pass other jobs_key= and run_times_key= values or delete that key"
                )

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
        def fetch() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(self.jobs_key, job_id)
            pipe.zscore(self.run_times_key, job_id)
            return pipe.execute()

        data, run_time = self._run(fetch)
        return self._load(job_id, run_time, data) if data is not None else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        timestamp = datetime_to_utc_timestamp(now)
        assert timestamp is not None  # now is a datetime

        def fetch() -> list[tuple[str, float, bytes]]:
            # (member, score) pairs, as bytes: the client does not decode (jobs are pickles)
            due = cast(
                "list[tuple[bytes, float]]",
                self.redis.zrangebyscore(self.run_times_key, "-inf", timestamp, withscores=True),
            )
            if not due:
                return []
            states = cast(
                "list[bytes | None]",
                self.redis.hmget(self.jobs_key, [job_id for job_id, _ in due]),
            )
            return [
                (job_id.decode(), run_time, state)
                for (job_id, run_time), state in zip(due, states, strict=True)
                if state is not None  # removed between the two calls
            ]

        return self._load_due(self._run(fetch), now)

    def get_next_run_time(self) -> datetime | None:
        # Known broken jobs are left out here; _next_run_time() brings in their recheck times.
        # A job leased to a scheduler counts at the moment its lease expires, by this
        # scheduler's clock, or the scheduler would wake up for it again and again.
        if self._shut_down:
            return None

        args = [repr(self._scheduler_timestamp()), *self._unloadable_ids()]
        found = self._run(lambda: self._next_run_time_script(keys=self._keys, args=args))
        return self._next_run_time([] if found is None else [(None, float(found))])

    def get_all_jobs(self) -> list[Job]:
        def fetch() -> list[Any]:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hgetall(self.jobs_key)
            pipe.zrange(self.run_times_key, 0, -1, withscores=True)
            return pipe.execute()

        states, run_times = self._run(fetch)
        scores = dict(run_times)
        return self._load_all(
            (job_id.decode(), scores.get(job_id), state) for job_id, state in states.items()
        )

    # --- writing ---------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        data = self._serialize(job)
        args: list[str | bytes] = [
            self.changes_channel,
            self._token,
            job.id,
            data,
            _score(job.next_run_time),
        ]
        attempts = 0

        def add() -> bool:
            nonlocal attempts
            attempts += 1
            if self._add_script(keys=self._keys, args=args):
                return True
            # a retry after a reply that was lost finds its own job: that is fine
            return attempts > 1 and self.redis.hget(self.jobs_key, job.id) == data

        if not self._run(add):
            raise ConflictingIdError(job.id)
        self._forget(job.id)

    def update_job(self, job: Job) -> None:
        data = self._serialize(job)
        args: list[str | bytes] = [
            self.changes_channel,
            self._token,
            job.id,
            data,
            _score(job.next_run_time),
        ]
        if not self._run(lambda: self._update_script(keys=self._keys, args=args)):
            raise JobLookupError(job.id)
        self._forget(job.id)

    def remove_job(self, job_id: str) -> None:
        attempts = 0

        def remove() -> bool:
            nonlocal attempts
            attempts += 1
            # a retry after a reply that was lost finds the job gone: that is fine
            return bool(self._remove_script(keys=self._keys, args=[job_id])) or attempts > 1

        if not self._run(remove):
            raise JobLookupError(job_id)
        self._forget(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self.redis.delete(*self._keys))
        self._claims.clear()
        self._forget()

    # --- sharing the store with other schedulers -------------------------------------------

    def acquire_due_jobs(self, now: datetime, owner: str) -> list[Job]:
        if self._shut_down:
            return []

        now_ts = datetime_to_utc_timestamp(now)
        assert now_ts is not None  # now is a datetime
        args: list[str | int] = [repr(now_ts), owner, repr(self.lease_time), CLAIM_BATCH]
        args.extend(self._ids_to_leave_unclaimed(now_ts))
        found = self._run(lambda: self._acquire_script(keys=self._keys, args=args))
        rows = [
            (found[i].decode(), float(found[i + 1]), found[i + 2]) for i in range(0, len(found), 3)
        ]
        return self._accept_claimed(rows, now, owner, lambda data: sha1(data).hexdigest())

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        if not starts:
            return []

        args: list[Any] = [self.changes_channel, self._token, owner, repr(self.lease_time)]
        for start in starts:
            args.extend(self._start_fields(owner, start))
        keys = [*self._keys, *self._run_keys]
        # one script for the whole batch; a retry finds the runs it recorded by their ids
        codes = self._run(lambda: self._start_runs_script(keys=keys, args=args))

        earliest = None
        changed = False
        for start, code in zip(starts, codes, strict=True):
            job_id = start.job.id
            self._claims.pop((owner, job_id), None)
            if runs.OUTCOMES[code] is RunStartOutcome.LOST:
                changed = changed or code == runs.CHANGED
                continue
            self._forget(job_id)
            if start.next_run_time is not None and (
                earliest is None or start.next_run_time < earliest
            ):
                earliest = start.next_run_time
        if changed:
            # a job changed by someone else since it was claimed is offered again as it is now
            self._wake_scheduler()
        # while leased, the jobs counted at their lease expiry, which may come later
        self._wake_scheduler_for(earliest)
        return [runs.OUTCOMES[code] for code in codes]

    def _start_fields(self, owner: str, start: RunStart) -> list[Any]:
        """The arguments of one start for the script, the job moved on to its next run time."""
        job = start.job
        if start.next_run_time is None:
            data, score = b"", ""
        else:
            job._modify(next_run_time=start.next_run_time)
            data, score = self._serialize(job), _score(start.next_run_time)
        return [
            job.id,
            start.run_id,
            data,
            score,
            self._claims.get((owner, job.id), ""),
            job.max_instances,
            runs.run_times_text(start.run_times),
        ]

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        if run_ids:
            args = [owner, *run_ids]
            self._run(lambda: self._finish_runs_script(keys=self._run_keys, args=args))

    def renew_runs(self, owner: str) -> None:
        args = [owner, repr(self.lease_time)]
        self._run(lambda: self._renew_runs_script(keys=self._run_keys, args=args))

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        # the receipt lets a retry after a lost reply get the runs this call took
        keys = [f"{self.jobs_key}.runs_taken:{uuid4().hex}", *self._run_keys]
        args = [runs.ABANDONED_BATCH, 60 + math.ceil(self.retry_timeout)]
        records = self._run(lambda: self._take_abandoned_script(keys=keys, args=args))
        return runs.decode_abandoned(records)

    def release_claimed_job(self, job_id: str, owner: str) -> None:
        self._release_claimed_jobs([job_id], owner)

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        """Give up the leases ``owner`` holds on the jobs ``job_ids``, in one round trip."""
        for job_id in job_ids:
            self._claims.pop((owner, job_id), None)
        self._run(lambda: self._release_script(keys=self._keys, args=[owner, *job_ids]))

    def _interrupt_listener(self) -> None:
        if self._interrupt_subscription is not None:
            self._interrupt_subscription()

    def shutdown(self) -> None:
        super().shutdown()
        self.redis.connection_pool.disconnect()
