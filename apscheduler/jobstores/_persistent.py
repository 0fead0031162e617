"""
What every job store that keeps jobs outside the process has in common.

Jobs are stored as pickled :meth:`Job.__getstate__` dictionaries (the format APScheduler 3 wrote,
so existing tables keep working), as signed pickles or as JSON (the ``pickle_secret`` and
``serializer`` options, see :mod:`apscheduler.jobstores._serializers`). This module turns jobs
into bytes and back, keeps books on
stored jobs that fail to load (they are kept and reported, never deleted), and rides out
temporary outages of the storage server by retrying with backoff for a bounded time.
"""

from __future__ import annotations

import inspect
import math
import pickle
import threading
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from apscheduler.events import EVENT_JOB_UNLOADABLE, JobUnloadableEvent
from apscheduler.job import Job
from apscheduler.jobstores._serializers import (
    NotJSONSerializableError,
    PickleSerializer,
    Serializer,
    make_serializer,
)
from apscheduler.jobstores.base import BaseJobStore, TransientJobError, UnloadableJob
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

T = TypeVar("T")

#: seconds one store operation keeps retrying a temporary error before it gives up
DEFAULT_RETRY_TIMEOUT = 5.0
#: seconds between attempts to load a due job that failed to load before
DEFAULT_RECHECK_INTERVAL = 60.0

# the errors pickle raises for objects it cannot serialise (local objects give AttributeError)
_PICKLING_ERRORS = (pickle.PicklingError, TypeError, AttributeError, RecursionError)
# a run time before every real one, for broken jobs whose run time cannot be read
UNKNOWN_RUN_TIME = -math.inf
_UTC = timezone.utc


class _EveryJob:
    """Contains every job id: a listing takes the run times of all loaded jobs from them."""

    def __contains__(self, job_id: object) -> bool:
        return True


#: for :meth:`PersistentJobStore._load_all` (``own_run_times``), whose rows hold no run times
EVERY_JOB: Container[str] = _EveryJob()


@dataclass
class _LoadFailure:
    reason: str
    #: stored next run time (UTC timestamp), None when paused, -inf when unreadable
    run_time: float | None
    #: earliest time (UTC timestamp) a due-jobs pass tries it again, set by such a pass
    retry_after: float | None

    @property
    def recheck_at(self) -> float | None:
        """When the next due-jobs pass should try this job again (None: never by itself)."""
        if self.run_time is None:
            return None
        if self.retry_after is None:
            return self.run_time

        return max(self.run_time, self.retry_after)


class StorageProblem(Exception):
    """A permanent problem with the storage found at set-up; the message says what to fix."""


def _positive_seconds(value: Any, name: str, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds < 0 or (seconds == 0 and not allow_zero) or math.isnan(seconds):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def _transient_job_error(job: Job, why: str) -> TransientJobError:
    error = TransientJobError(job.id)
    message = (
        f"{error.args[0]} {why} Schedule a module-level function instead (or its "
        f"'module:function' text reference) with picklable arguments, or put this job in a "
        f"MemoryJobStore."
    )
    error.args = (message,)
    return error


class PersistentJobStore(BaseJobStore):
    """
    Base class of the stores that pickle jobs into an external database.

    Subclasses implement the storage calls and :meth:`_is_temporary_error`, run every storage
    call through :meth:`_run`, and use the ``_load_*`` helpers to turn stored bytes into jobs.

    :param pickle_protocol: pickle protocol level to use when writing jobs
    :param retry_timeout: seconds one operation keeps retrying a temporary error (connection
        loss, server restart, timeout) before raising it; ``0`` disables retrying
    :param recheck_interval: seconds between attempts to load a due job that failed to load
    :param serializer: ``"pickle"`` (the default) or ``"json"``: how jobs are written (see
        :doc:`/security`)
    :param pickle_secret: a secret (bytes, or the name of an environment variable holding it)
        to sign pickles with; pickles without a valid signature are then never unpickled
    """

    #: whether each record is a pickled ``{"next_run_time": ts, "job_state": state}`` (the
    #: ZooKeeper and etcd layouts) rather than the pickled state alone
    _wraps_state = False

    def __init__(
        self,
        pickle_protocol: int,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        *,
        serializer: str | Serializer = "pickle",
        pickle_secret: bytes | str | None = None,
    ) -> None:
        super().__init__()
        self.pickle_protocol = pickle_protocol
        self._serializer = make_serializer(serializer, pickle_protocol, pickle_secret)
        self.retry_timeout = _positive_seconds(retry_timeout, "retry_timeout", allow_zero=True)
        self.recheck_interval = _positive_seconds(
            recheck_interval, "recheck_interval", allow_zero=False
        )
        self._failures: dict[str, _LoadFailure] = {}
        self._books_lock = threading.Lock()
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        self._setup_lock = threading.Lock()
        self._needs_setup = True

    # --- storage hooks ---------------------------------------------------------------------

    def _setup_storage(self) -> None:
        """Create tables or indexes and check the storage is usable. Runs once, retried."""

    def _explain_setup_error(self, exc: Exception) -> str:
        """Say what the user has to fix when :meth:`_setup_storage` fails for good."""
        if isinstance(exc, StorageProblem):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"

    def _is_temporary_error(self, exc: BaseException) -> bool:
        """Tell whether ``exc`` is worth retrying (lost connection, restart, timeout)."""
        return False

    def _decode_state(self, data: Any) -> dict[str, Any]:
        """Turn what the storage returned for one job into a :meth:`Job.__getstate__` dict."""
        if isinstance(data, dict):
            return data

        document = self._serializer.loads(data if isinstance(data, bytes) else bytes(data))
        state: dict[str, Any] = document["job_state"] if self._wraps_state else document
        return state

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._needs_setup = True
        try:
            self._run(lambda: None)
        except Exception as exc:
            if not self._is_temporary_error(exc):
                raise
            # The storage server is down right now: carry on, and finish the set-up on the
            # first operation that gets through, so a scheduler can start during an outage.
            self._logger.warning(
                "Job store %r could not reach its storage at start-up; will set it up on "
                "first use",
                self._alias,
            )

    # --- serialising -----------------------------------------------------------------------

    def _job_state(self, job: Job) -> dict[str, Any]:
        """Return the state dict of a job, refusing jobs that cannot be stored by reference."""
        if not job.func_ref:
            raise _transient_job_error(
                job,
                f"Its callable ({job.func!r}) is a lambda, a nested function or a partial, "
                f"none of which can be stored by reference.",
            )
        return job.__getstate__()

    def _pickle(self, job: Job, obj: Any) -> bytes:
        """
        Pickle ``obj`` (a job state, or a dict holding one) for storage.

        :raises TransientJobError: if the callable is a method of an unpicklable object
        :raises TypeError: if an argument or the trigger cannot be pickled (or written as JSON)
        """
        serializer = self._serializer
        try:
            if type(serializer) is PickleSerializer:
                return pickle.dumps(obj, self.pickle_protocol)
            return serializer.dumps(obj)
        except NotJSONSerializableError as exc:
            raise TypeError(
                f"Job ({job.id}) cannot be added to {self!r}, which stores jobs as JSON: {exc}"
            ) from exc
        except _PICKLING_ERRORS as exc:
            owner = getattr(job.func, "__self__", None)
            if inspect.ismethod(job.func) and not inspect.isclass(owner):
                try:
                    pickle.dumps(owner, self.pickle_protocol)
                except _PICKLING_ERRORS:
                    raise _transient_job_error(
                        job,
                        f"Its callable is a method of a {type(owner).__name__} object, which "
                        f"cannot be pickled ({exc}).",
                    ) from exc

            raise TypeError(
                f"Job ({job.id}) cannot be added to {self!r} because its arguments or its "
                f"trigger cannot be pickled ({exc}). Pass only picklable values, such as "
                f"numbers, strings and plain containers."
            ) from exc

    def _serialize(self, job: Job) -> bytes:
        """Return the pickled job, in the layout APScheduler 3 wrote to this kind of storage."""
        state = self._job_state(job)
        if self._wraps_state:
            run_time = datetime_to_utc_timestamp(job.next_run_time)
            return self._pickle(job, {"next_run_time": run_time, "job_state": state})
        return self._pickle(job, state)

    def _unwrap(self, job_id: str, data: bytes) -> tuple[str, float | None, Any]:
        """
        Split a wrapped record into an ``(id, run time, state)`` row for the ``_load`` helpers.

        A record that does not even unpickle keeps its bytes, so loading it fails again and
        gets reported with the reason.
        """
        try:
            document = self._serializer.loads(data)
            return job_id, document["next_run_time"], document["job_state"]
        except Exception:
            return job_id, UNKNOWN_RUN_TIME, data

    def _restore(self, state: dict[str, Any]) -> Job:
        return Job._restored(state, self._scheduler, self._alias)

    # --- loading, with books on jobs that fail to load -------------------------------------

    def _load(
        self, job_id: str, run_time: float | None, data: Any, now: float | None = None
    ) -> Job | None:
        """
        Rebuild one stored job, or record why it cannot be rebuilt and return ``None``.

        :param run_time: the stored next run time (UTC timestamp); ``UNKNOWN_RUN_TIME`` when
            the layout keeps it inside the pickle
        :param now: the time of the due-jobs pass doing the loading, if any
        """
        try:
            job = self._restore(self._decode_state(data))
        except Exception as exc:
            self._record_failure(job_id, exc, run_time, now)
            return None

        if job_id in self._failures:
            with self._books_lock:
                recovered = self._failures.pop(job_id, None) is not None
            if recovered:
                self._logger.info("Job %r in job store %r loads again", job_id, self._alias)
        return job

    def _load_due(self, rows: Iterable[tuple[str, float | None, Any]], now: datetime) -> list[Job]:
        """
        Rebuild the jobs of a due-jobs query, in the order given.

        A job already known to be broken is tried again only once its recheck time has come,
        so a store full of broken jobs does not cost a failed unpickling of each one per pass.
        """
        now_ts = datetime_to_utc_timestamp(now)
        assert now_ts is not None  # now is a datetime
        jobs = []
        for job_id, run_time, data in rows:
            failure = self._failures.get(job_id)
            if failure is not None:
                recheck_at = failure.recheck_at
                if recheck_at is None or recheck_at > now_ts:
                    continue

            job = self._load(job_id, run_time, data, now_ts)
            if job is not None:
                jobs.append(job)
        return jobs

    def _load_all(
        self,
        rows: Iterable[tuple[str, float | None, Any]],
        own_run_times: Container[str] = (),
    ) -> list[Job]:
        """
        Rebuild every stored job (all of them must be in ``rows``), paused jobs last.

        :param own_run_times: the jobs whose rows left their stored run time unread: they take
            their places by the run time their own state holds (:data:`EVERY_JOB`: all of them)
        """
        failures = self._failures
        # only books kept before this listing can be on jobs gone from the storage since
        forget_gone = bool(failures)
        seen = set()
        # (run time, id, job) and (id, job): tuples that sort by themselves, with no key
        # function, as ids are unique
        scheduled: list[tuple[Any, str, Job]] = []
        # Where every job brings its own run time, it sorts as a UTC datetime: an instant, as
        # a timestamp is, at half the cost of one (2,000 jobs listed from Redis: 2 ms less).
        # Elsewhere the rows' run times are timestamps: the few jobs' own are taken as such.
        every_own = own_run_times is EVERY_JOB
        paused: list[tuple[str, Job]] = []
        # A listing rebuilds every job: the plain pickles of the usual case are rebuilt right
        # here, which made listing a quarter cheaper than going through _load for each; any
        # other record, and any that fails or was broken before, goes through _load.
        plain = self._reads_plain_pickles()
        scheduler, alias = self._scheduler, self._alias
        loads, restored = pickle.loads, Job._restored
        for job_id, run_time, data in rows:
            if forget_gone:
                seen.add(job_id)
            job: Job | None = None
            if plain and type(data) is bytes and job_id not in failures:
                try:
                    job = restored(loads(data), scheduler, alias)
                except Exception:
                    job = None
            if job is None:
                job = self._load(job_id, run_time, data)
                if job is None:
                    continue
            sort_key: Any = run_time
            if every_own:
                next_run_time = job.next_run_time
                sort_key = None if next_run_time is None else next_run_time.astimezone(_UTC)
            elif job_id in own_run_times:
                sort_key = datetime_to_utc_timestamp(job.next_run_time)
            # paused jobs last; jobs due at the same time in job id order
            if sort_key is None:
                paused.append((job_id, job))
            else:
                scheduled.append((sort_key, job_id, job))

        if forget_gone:
            # jobs that were broken but are gone from the storage need no more reporting
            with self._books_lock:
                for job_id in set(failures) - seen:
                    del failures[job_id]

        scheduled.sort()
        paused.sort()
        jobs = [job for _, _, job in scheduled]
        jobs += [job for _, job in paused]
        return jobs

    def _reads_plain_pickles(self) -> bool:
        """
        Whether a record in bytes is rebuilt by ``pickle.loads`` and :meth:`_restore` as they
        are: the plain pickle serializer (which tries ``pickle.loads`` first), unwrapped
        records, and no subclass decoding or restoring its own way.
        """
        cls = type(self)
        return (
            type(self._serializer) is PickleSerializer
            and not self._wraps_state
            and cls._decode_state is PersistentJobStore._decode_state
            and cls._restore is PersistentJobStore._restore
        )

    def _record_failure(
        self, job_id: str, exc: Exception, run_time: float | None, now: float | None
    ) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        with self._books_lock:
            previous = self._failures.get(job_id)
            retry_after = now + self.recheck_interval if now is not None else None
            if previous is not None and retry_after is None:
                retry_after = previous.retry_after
            self._failures[job_id] = _LoadFailure(reason, run_time, retry_after)
            is_news = previous is None or previous.reason != reason

        if is_news:
            self._logger.error(
                "Job %r in job store %r cannot be loaded (%s); it stays stored untouched and "
                "is skipped until it loads again (fix the code it refers to) or is removed "
                "with remove_job()",
                job_id,
                self._alias,
                reason,
                exc_info=exc,
            )
            # during a pass, the handle holds the event until the scheduler's lock is released
            self._handle.dispatch(
                JobUnloadableEvent(EVENT_JOB_UNLOADABLE, job_id, self._alias, reason)
            )

    def _clear_load_failure(self, job_id: str | None = None) -> None:
        """Drop the books on one job (or all jobs) after it was replaced or removed."""
        if not self._failures:
            return
        with self._books_lock:
            if job_id is None:
                self._failures.clear()
            else:
                self._failures.pop(job_id, None)

    def _unloadable_ids(self) -> frozenset[str]:
        return frozenset(self._failures)

    def _next_run_time(self, rows: Iterable[tuple[str | None, float | None]]) -> datetime | None:
        """
        Return the time the scheduler should next ask for due jobs.

        ``rows`` are ``(id, run time)`` pairs in run-time order; it must hold at least one more
        pair than there are known broken jobs (or all pairs), and a ``None`` id stands for a
        job that is not broken. Broken jobs are left out, or their overdue run time would make
        the scheduler wake up again at once, forever; each of them brings in its recheck time
        instead.
        """
        broken = self._failures
        earliest = None
        for job_id, run_time in rows:
            if run_time is not None and job_id not in broken:
                earliest = run_time
                break

        for failure in list(broken.values()):
            recheck_at = failure.recheck_at
            if recheck_at is not None and (earliest is None or recheck_at < earliest):
                earliest = recheck_at

        # a record whose run time cannot be read may be due: look at it right away
        return None if earliest is None else utc_timestamp_to_datetime(max(earliest, 0.0))

    def get_unloadable_jobs(self) -> list[UnloadableJob]:
        with self._books_lock:
            failures = sorted(self._failures.items())
        return [UnloadableJob(job_id, self._alias, f.reason) for job_id, f in failures]

    # --- riding out outages ----------------------------------------------------------------

    def _run(
        self, operation: Callable[[], T], applied_on_retry: Callable[[T], T] | None = None
    ) -> T:
        """
        Run one storage operation, retrying temporary errors for up to ``retry_timeout``.

        The first retry follows at once (a pooled connection that went stale during a server
        restart fails once and then works); after that the store logs one warning for the
        whole outage, backs off, and logs at INFO level when the storage answers again.

        :param applied_on_retry: for a write, called with the result of every attempt after
            the first, and returns the result to report instead: an attempt that failed may
            have been applied by the storage before its reply was lost, so a retry can find
            its own write done (a row it inserted, a job it removed) and must not report that
            as a conflict or a missing job
        """
        if applied_on_retry is not None:
            operation = _recognising_retries(operation, applied_on_retry)
        try:
            result = self._attempt(operation)
        except Exception as exc:
            if not self._is_temporary_error(exc):
                self._storage_answered()
                raise
            if self.retry_timeout <= 0:
                self._outage_began(exc)
                raise

            retrying = Retrying(
                retry=retry_if_exception(self._is_temporary_error),
                stop=stop_after_delay(self.retry_timeout),
                # the random part keeps many schedulers from reconnecting in lockstep
                wait=wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.05),
                before_sleep=self._before_retry,
                reraise=True,
            )
            try:
                result = retrying(self._attempt, operation)
            except Exception as retry_exc:
                if not self._is_temporary_error(retry_exc):
                    self._storage_answered()
                raise

        self._storage_answered()
        return result

    def _attempt(self, operation: Callable[[], T]) -> T:
        if self._needs_setup:
            self._set_up()
        return operation()

    def _set_up(self) -> None:
        # one thread at a time: two concurrent CREATE TABLE statements would make one fail
        with self._setup_lock:
            if not self._needs_setup:
                return
            try:
                self._setup_storage()
            except Exception as exc:
                if self._is_temporary_error(exc):
                    raise
                raise RuntimeError(
                    f"Job store {self._alias!r} ({self!r}) cannot use its storage: "
                    f"{self._explain_setup_error(exc)}"
                ) from exc
            self._needs_setup = False

    def _before_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if retry_state.attempt_number >= 2 and exc is not None:
            self._outage_began(exc)
        else:
            self._logger.debug("Job store %r retrying after %r", self._alias, exc)

    def _outage_began(self, exc: BaseException) -> None:
        with self._outage_lock:
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()

        self._logger.warning(
            "Job store %r lost its connection to the storage (%s: %s); retrying with backoff, "
            "for up to %s seconds per operation",
            self._alias,
            type(exc).__name__,
            exc,
            self.retry_timeout,
        )

    def _storage_answered(self) -> None:
        """End the outage, if there was one: the storage gave an answer, even a refusal."""
        # a local, so that the check under the lock still counts: another thread may end the
        # outage in between
        outage_since = self._outage_since
        if outage_since is None:
            return
        with self._outage_lock:
            if self._outage_since is None:
                return
            downtime = time.monotonic() - self._outage_since
            self._outage_since = None

        self._logger.info(
            "Job store %r reached its storage again after %.1f seconds", self._alias, downtime
        )


def _recognising_retries(
    operation: Callable[[], T], applied_on_retry: Callable[[T], T]
) -> Callable[[], T]:
    """Wrap ``operation`` so that every call after the first passes through ``applied_on_retry``."""
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        result = operation()
        return result if attempts == 1 else applied_on_retry(result)

    return attempt
