"""Stores jobs in Redis: a hash of pickled jobs and a sorted set of their run times."""

from __future__ import annotations

import pickle
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
    StorageProblem,
)
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp

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

# Each write is one server-side script, so it is atomic and costs a single round trip: the
# hash entry and the run time entry never disagree, and a conflicting id changes nothing.
_ADD_SCRIPT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
if ARGV[3] ~= '' then
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""
_UPDATE_SCRIPT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then
    redis.call('ZREM', KEYS[2], ARGV[1])
else
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""


def _score(run_time: datetime | None) -> str:
    # repr() gives the shortest text that reads back as the same float
    return "" if run_time is None else repr(datetime_to_utc_timestamp(run_time))


class RedisJobStore(PersistentJobStore):
    """
    Stores jobs in a Redis database. Any leftover keyword arguments are directly passed to
    redis's :class:`~redis.Redis`.

    Jobs are kept in the hash ``jobs_key`` (job id → pickled job) and their next run times in
    the sorted set ``run_times_key``, as APScheduler 3 kept them.

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
    :raises ValueError: if ``db``, ``jobs_key`` or ``run_times_key`` is empty

    .. versionchanged:: 3.12.0
        Jobs that fail to load are kept and reported instead of deleted; temporary errors are
        retried.
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
        **connect_args: Any,
    ) -> None:
        super().__init__(pickle_protocol, retry_timeout, recheck_interval)
        if db is None:
            raise ValueError('The "db" parameter must not be empty')
        if not jobs_key:
            raise ValueError('The "jobs_key" parameter must not be empty')
        if not run_times_key:
            raise ValueError('The "run_times_key" parameter must not be empty')

        self.jobs_key = jobs_key
        self.run_times_key = run_times_key
        # redis-py's own default retries a dead server for seconds inside every call; one quick
        # retry (for a pooled connection gone stale) leaves the timing to ``retry_timeout``
        connect_args.setdefault("retry", Retry(NoBackoff(), 1))
        self.redis = Redis(db=int(db), **connect_args)
        self._keys = [jobs_key, run_times_key]
        self._add_script = self.redis.register_script(_ADD_SCRIPT)
        self._update_script = self.redis.register_script(_UPDATE_SCRIPT)

    # --- set-up and error policy -----------------------------------------------------------

    def _setup_storage(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.type(self.jobs_key)
        pipe.type(self.run_times_key)
        for key, found, wanted in zip(self._keys, pipe.execute(), (b"hash", b"zset"), strict=True):
            found = found.decode() if isinstance(found, bytes) else found
            if found not in (wanted.decode(), "none"):
                raise StorageProblem(
                    f"the Redis key {key!r} holds a {found}, not a {wanted.decode()} of jobs; "
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

        def fetch() -> list[tuple[str, float, bytes]]:
            due = self.redis.zrangebyscore(self.run_times_key, "-inf", timestamp, withscores=True)
            if not due:
                return []
            states = self.redis.hmget(self.jobs_key, [job_id for job_id, _ in due])
            return [
                (job_id.decode(), run_time, state)
                for (job_id, run_time), state in zip(due, states, strict=True)
                if state is not None  # removed between the two calls
            ]

        return self._load_due(self._run(fetch), now)

    def get_next_run_time(self) -> datetime | None:
        limit = len(self._unloadable_ids())
        rows = self._run(lambda: self.redis.zrange(self.run_times_key, 0, limit, withscores=True))
        return self._next_run_time((job_id.decode(), run_time) for job_id, run_time in rows)

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
        args = [job.id, data, _score(job.next_run_time)]
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
        args = [job.id, self._serialize(job), _score(job.next_run_time)]
        if not self._run(lambda: self._update_script(keys=self._keys, args=args)):
            raise JobLookupError(job.id)
        self._forget(job.id)

    def remove_job(self, job_id: str) -> None:
        attempts = 0

        def remove() -> bool:
            nonlocal attempts
            attempts += 1
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(self.jobs_key, job_id)
            pipe.zrem(self.run_times_key, job_id)
            removed, _ = pipe.execute()
            # a retry after a reply that was lost finds the job gone: that is fine
            return bool(removed) or attempts > 1

        if not self._run(remove):
            raise JobLookupError(job_id)
        self._forget(job_id)

    def remove_all_jobs(self) -> None:
        self._run(lambda: self.redis.delete(self.jobs_key, self.run_times_key))
        self._forget()

    def shutdown(self) -> None:
        self.redis.connection_pool.disconnect()
