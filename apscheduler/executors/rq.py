"""
An executor that hands runs to the workers of an `RQ <https://python-rq.org/>`_ queue.

The scheduler side, :class:`RQExecutor`, enqueues one RQ job per submission. That job calls
:func:`run_job` of this module with the run message (plain JSON values; see
:mod:`apscheduler.executors._remote_messages`); an ``rq worker`` imports it by its text
reference, so a worker needs no setup beyond having this package and the jobs' modules
importable. The outcomes are read back from RQ's own job records, all runs in progress in one
Redis round trip.

Before a run starts, the worker claims its idempotency key in the queue's Redis, so a copy of
the message, or a failed RQ job requeued by hand, never runs it twice.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from redis import Redis
from rq import Queue
from rq.job import JobStatus, get_current_job
from rq.results import Result
from rq.timeouts import JobTimeoutException

from apscheduler.executors._remote_messages import (
    ERROR,
    RunMessage,
    RunOutcome,
    message_time_limit,
)
from apscheduler.executors._remote_worker import RunClaims, claims_from, run_message
from apscheduler.executors.remote import (
    DEFAULT_POLL_INTERVAL,
    RemoteExecutor,
    SentRun,
    lost_outcomes,
    timed_out_outcomes,
)
from apscheduler.util import asbool

if TYPE_CHECKING:
    from apscheduler.job import Job

#: the text reference by which RQ workers find the task of this package
RUN_JOB = "apscheduler.executors.rq.run_job"
#: seconds RQ keeps a finished job's record (the executor reads it within ``poll_interval``)
DEFAULT_RESULT_TTL = 3600
#: seconds RQ keeps a failed job's record in its failed job registry
DEFAULT_FAILURE_TTL = 7 * 24 * 3600
#: seconds between two sweeps of RQ's registry of started jobs while runs are on workers
DEFAULT_ABANDONED_CHECK_INTERVAL = 30.0
#: the environment variable by which a worker names another claims store (a redis:// URL)
CLAIMS_URL_VARIABLE = "APSCHEDULER_RUN_CLAIMS_URL"

# what RQ writes in a failed job's record when the run did not end by itself
_HORSE_DIED = "Work-horse terminated unexpectedly"
_ABANDONED = "AbandonedJobError"
_TIMED_OUT = JobTimeoutException.__name__
_TRACEBACK = "Traceback (most recent call last)"

_claims: RunClaims | None = None


class RQExecutor(RemoteExecutor):
    """
    Enqueues each submission on an RQ queue; its outcome comes back from RQ's job record.

    :param redis_url: the Redis server of the queue, as a ``redis://`` URL
    :param connection: a ``redis.Redis`` client of that server, instead of ``redis_url``
    :param queue: the name of the queue the workers listen to
    :param at_front: put each run at the front of the queue instead of the end
    :param result_ttl: seconds RQ keeps a finished job's record
    :param failure_ttl: seconds RQ keeps a failed job's record
    :param serializer: RQ's serializer (or its text reference, such as ``"json"``), if the
        workers use another than RQ's default
    :param abandoned_check_interval: seconds between two sweeps of RQ's registry of started
        jobs for those whose worker died (while runs are on workers)
    :param poll_interval: seconds between two looks at the outcomes of the runs in progress
    """

    def __init__(
        self,
        redis_url: str | None = None,
        connection: Redis | None = None,
        queue: str = "default",
        *,
        at_front: bool = False,
        result_ttl: int = DEFAULT_RESULT_TTL,
        failure_ttl: int = DEFAULT_FAILURE_TTL,
        serializer: Any = None,
        abandoned_check_interval: float = DEFAULT_ABANDONED_CHECK_INTERVAL,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(poll_interval=poll_interval)
        if (redis_url is None) == (connection is None):
            raise ValueError("Give the RQ executor either redis_url or connection")
        self.redis_url = redis_url
        self.queue_name = str(queue)
        self.at_front = asbool(at_front)
        self.result_ttl = int(result_ttl)
        self.failure_ttl = int(failure_ttl)
        self.abandoned_check_interval = float(abandoned_check_interval)
        self._given_connection = connection
        self._serializer = serializer
        self._connection: Redis | None = None
        self._queue: Queue | None = None
        self._last_sweep = time.monotonic()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (queue={self.queue_name!r})>"

    def _connect(self) -> None:
        if self._given_connection is not None:
            self._connection = self._given_connection
        else:
            assert self.redis_url is not None
            self._connection = Redis.from_url(self.redis_url)
        self._queue = Queue(
            self.queue_name, connection=self._connection, serializer=self._serializer
        )

    def _disconnect(self) -> None:
        connection, self._connection, self._queue = self._connection, None, None
        if connection is not None and connection is not self._given_connection:
            connection.close()

    @property
    def queue(self) -> Queue:
        """The RQ queue runs are sent to (once the executor is started)."""
        if self._queue is None:
            raise RuntimeError("The RQ executor is not started")
        return self._queue

    def _send(self, message: RunMessage, job: Job) -> str:
        rq_job = self.queue.enqueue(
            RUN_JOB,
            message,
            job_timeout=job_timeout(message),
            result_ttl=self.result_ttl,
            failure_ttl=self.failure_ttl,
            at_front=self.at_front,
            description=f"apscheduler job {job.id!r} at {', '.join(message['run_times'])}",
        )
        return str(rq_job.id)

    def _collect(self, sent: Sequence[SentRun]) -> Mapping[str, Sequence[RunOutcome]]:
        queue = self.queue
        with queue.connection.pipeline(transaction=False) as pipeline:
            for run in sent:
                pipeline.hget(queue.job_class.key_for(run.task_id), "status")
                results_key = Result.get_key(run.task_id)  # type: ignore[no-untyped-call]
                pipeline.xrevrange(results_key, "+", "-", count=1)
            replies = pipeline.execute()

        ended: dict[str, Sequence[RunOutcome]] = {}
        started = False
        for index, run in enumerate(sent):
            status, latest = _text(replies[2 * index]), replies[2 * index + 1]
            started |= status == JobStatus.STARTED
            outcomes = self._outcomes(run, status, latest)
            if outcomes is not None:
                ended[run.task_id] = outcomes
        if started:
            self._sweep_abandoned()
        return ended

    def _outcomes(
        self, run: SentRun, status: str | None, latest: list[Any]
    ) -> Sequence[RunOutcome] | None:
        """What became of ``run``, by its RQ job's status and latest result; ``None``: going on."""
        if status is None:
            return lost_outcomes(run, "its RQ job record is gone (deleted, or expired unread)")
        if status == JobStatus.STOPPED:
            return lost_outcomes(run, "its RQ job was stopped on the worker")
        if status == JobStatus.CANCELED:
            return lost_outcomes(run, "its RQ job was canceled")
        if status not in (JobStatus.FINISHED, JobStatus.FAILED):
            return None
        # RQ writes the end status and the result in one transaction
        try:
            result = self._restore(run.task_id, latest)
        except Exception as exc:
            reason = f"its RQ result could not be read ({exc!r}): is the serializer the workers'?"
            return lost_outcomes(run, reason)
        if status == JobStatus.FINISHED:
            if result is None:
                return lost_outcomes(run, "its RQ job finished but RQ kept no result of it")
            return _returned_outcomes(run, result.return_value)
        return _failed_outcomes(run, (result.exc_string if result is not None else None) or "")

    def _restore(self, task_id: str, latest: list[Any]) -> Result | None:
        if not latest:
            return None
        result_id, payload = latest[0]
        queue = self.queue
        return Result.restore(
            task_id, _text(result_id) or "", payload, queue.connection, queue.serializer
        )

    def _sweep_abandoned(self) -> None:
        """
        Let RQ fail the started jobs whose worker stopped sending heartbeats (a worker killed
        with its work horse), as its workers' maintenance does, only more often. A sweep that
        fails is logged and made again at the next interval.
        """
        now = time.monotonic()
        if now - self._last_sweep < self.abandoned_check_interval:
            return
        self._last_sweep = now
        try:
            self.queue.started_job_registry.cleanup()
        except Exception:
            self._logger.warning("Could not sweep RQ's registry of started jobs", exc_info=True)


def job_timeout(message: RunMessage) -> int:
    """
    RQ's ``job_timeout`` for ``message``: whole seconds (RQ's alarm counts no less), for all
    its run times together; ``-1`` (no limit) for a job without a timeout.
    """
    limit = message_time_limit(message)
    if limit is None:
        return -1
    return max(1, math.ceil(limit))


def _returned_outcomes(run: SentRun, value: Any) -> Sequence[RunOutcome]:
    if isinstance(value, list) and all(isinstance(outcome, dict) for outcome in value):
        return value
    return lost_outcomes(run, f"its RQ job returned {value!r}, not the outcomes of its runs")


def _failed_outcomes(run: SentRun, exc_string: str) -> Sequence[RunOutcome]:
    """The outcomes of a run whose RQ job failed: RQ's text says how."""
    if _TIMED_OUT in exc_string:
        return timed_out_outcomes(
            run, f"RQ stopped it at its job_timeout: {_last_line(exc_string)}"
        )
    if _HORSE_DIED in exc_string:
        return lost_outcomes(run, f"the RQ work horse died: {exc_string.strip(' ;')}")
    if _ABANDONED in exc_string:
        return lost_outcomes(run, f"the RQ worker died: {exc_string.strip()}")
    if _TRACEBACK not in exc_string:  # RQ's own word (a job stuck in its intermediate queue)
        return lost_outcomes(run, f"RQ failed its job: {exc_string.strip() or 'no reason given'}")
    return [_error_outcome(key, run_time, exc_string) for key, run_time in _keys(run)]


def _error_outcome(key: str, run_time: str, exc_string: str) -> RunOutcome:
    """A run whose RQ job raised outside the job (the task could not start, say)."""
    exc_type, _, exc_text = _last_line(exc_string).partition(": ")
    return RunOutcome(
        key=key,
        run_time=run_time,
        outcome=ERROR,
        exc_type=exc_type or "Exception",
        exc_args=[exc_text],
        exc_text=exc_text,
        traceback=exc_string,
        reason=f"its RQ job failed: {_last_line(exc_string)}",
    )


def _keys(run: SentRun) -> list[tuple[str, str]]:
    return list(zip(run.message["keys"], run.message["run_times"], strict=True))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no exception text"


def _text(value: Any) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# ----- the worker side


def use_claims(claims: Any) -> None:
    """
    Make this worker process claim runs in ``claims`` (a
    :class:`~apscheduler.executors._remote_worker.RunClaims`, a ``redis.Redis`` client or a
    ``redis://`` URL) instead of the queue's Redis. Call it in a module the worker
    imports at start (its ``-c`` settings module, say); ``None`` goes back to the queue's Redis.
    The :data:`CLAIMS_URL_VARIABLE` environment variable does the same for a URL.
    """
    global _claims
    _claims = None if claims is None else claims_from(claims)


def run_job(message: RunMessage) -> list[RunOutcome]:
    """
    The RQ task of this package: run the job of ``message``, each run time once, and return
    the outcomes (RQ stores them as the job's result).

    A job's exception is reported in the outcomes, so the RQ job itself finishes; it fails
    only when RQ stops it (``job_timeout``) or its work horse dies.
    """
    rq_job = get_current_job()
    if rq_job is None:
        raise RuntimeError("run_job() runs in an RQ worker, as the task of an RQ job")
    return run_message(
        message,
        _worker_claims(rq_job.connection),
        redelivered=_is_redelivery(rq_job),
        on_timeout=JobTimeoutException,
    )


def _worker_claims(connection: Redis) -> RunClaims:
    if _claims is not None:
        return _claims
    url = os.environ.get(CLAIMS_URL_VARIABLE)
    return claims_from(url if url else connection)


def _is_redelivery(rq_job: Any) -> bool:
    """
    Whether this RQ job ran before: RQ retried it, or it failed (its work horse died, say) and
    was requeued. A result is written only when an execution ends, so one is there only then.
    """
    if rq_job.number_of_retries:
        return True
    return bool(Result.count(rq_job))


__all__ = [
    "CLAIMS_URL_VARIABLE",
    "RUN_JOB",
    "RQExecutor",
    "job_timeout",
    "run_job",
    "use_claims",
]
