"""
Retries of failed runs (the ``max_retries`` job options), which know the job's schedule.

When a run fails with an exception the job retries on (``retry_on``), the keeper works out when
to try again: ``retry_delay`` seconds after the failure, times ``retry_backoff`` for each retry
made already, plus up to ``retry_jitter`` seconds at random. A retry that would start at or
after the job's next regular run is not made: that run takes its place, and the failed run's
record says so.

A retry of a job in a shared store is a run request with its attempt number: it is kept with the
job (it survives a restart) and exactly one scheduler makes it. Other retries (jobs of other
stores, or a job whose schedule ended with the failed run) wait in this scheduler's memory.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, NamedTuple, cast

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.jobstores.shared import RunRequest, SharedJobStore, is_shared_store
from apscheduler.runs import PENDING, JobRun
from apscheduler.schedulers._run_history import describe_time, qualified_name

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

UTC = timezone.utc
#: a run in progress: (store alias, job id, run timestamp)
_RunKey = tuple[str | None, str, float]


class WaitingRetry(NamedTuple):
    """A retry kept in this scheduler's memory until it is due."""

    retry_at: datetime
    job: Job
    jobstore: str
    attempt: int
    run_id: str


class RetryKeeper:
    """
    Decides the retries of one scheduler's failed runs, and keeps those of its memory.

    :param scheduler: the scheduler whose runs these are
    """

    def __init__(self, scheduler: BaseScheduler) -> None:
        self._scheduler = scheduler
        self._lock = threading.Lock()
        # runs in progress that are retries: their attempt number
        self._attempts: dict[_RunKey, int] = {}
        self._waiting: list[tuple[float, int, WaitingRetry]] = []
        self._order = itertools.count()
        self._keeping = _KeepingFlag()

    # ----- what the pass and the executors report

    def submitting(
        self, jobstore: str | None, job_id: str, run_time: datetime, attempt: int
    ) -> None:
        """A run that is retry number ``attempt - 1`` goes to its executor."""
        if attempt > 1:
            with self._lock:
                self._attempts[(jobstore, job_id, run_time.timestamp())] = attempt

    def runs_ended(self, job: Job | None, events: Sequence[JobExecutionEvent]) -> None:
        """
        Decide the retries of the runs that ended (called before they are recorded: a failed
        run's record then says what follows it).
        """
        attempts = self._attempts
        for event in events:
            attempt = 1
            if attempts:
                with self._lock:
                    key = (event.jobstore, event.job_id, event.scheduled_run_time.timestamp())
                    attempt = attempts.pop(key, 1)
            if event.code == EVENT_JOB_ERROR and job is not None and job.max_retries:
                self._after_failure(job, event, attempt)

    # ----- deciding

    def _after_failure(self, job: Job, event: JobExecutionEvent, attempt: int) -> None:
        control = job._run_control
        if not control.retries(event.exception):
            return
        logger = self._scheduler._logger
        if attempt > control.max_retries:
            event.reason = (
                f"attempt {attempt}; no retries left (max_retries={control.max_retries})"
            )
            logger.warning('Job "%s" failed on its last attempt (%d)', job, attempt)
            return

        now = self._scheduler._clock.now(UTC)
        delay = control.retry_delay_for(attempt) + _jitter(control.retry_jitter)
        retry_at = now + timedelta(seconds=delay)
        regular = _next_regular_run(job, event.scheduled_run_time, now)
        if regular is not None and retry_at.timestamp() >= regular.timestamp():
            event.reason = (
                f"not retried: its next regular run at {describe_time(regular)} comes first"
            )
            logger.info('Job "%s" failed; its next regular run takes the place of a retry', job)
            return

        number = attempt  # the retry's number: attempt 2 is retry 1
        event.reason = f"retry {number} of {control.max_retries} at {describe_time(retry_at)}"
        self._schedule(job, cast(str, event.jobstore), retry_at, attempt + 1, event)
        logger.info(
            'Job "%s" failed; retry %d of %d at %s', job, number, control.max_retries, retry_at
        )

    def _schedule(
        self, job: Job, jobstore: str, retry_at: datetime, attempt: int, event: JobExecutionEvent
    ) -> None:
        scheduler = self._scheduler
        recorder = scheduler._run_recorder
        run_id = recorder.new_run_id()
        exc = event.exception
        cause = f"{qualified_name(type(exc))}: {exc}" if exc is not None else "an error"
        pending = JobRun(
            run_id,
            job.id,
            jobstore,
            retry_at,
            PENDING,
            reason=f"retry {attempt - 1} of {job.max_retries}, after {cause}",
            host=recorder.host,
            pid=recorder.pid,
            attempt=attempt,
        )
        # written before the request exists: the scheduler that makes the run records it after
        recorder.record_at_once([pending])
        store = scheduler._jobstores.get(jobstore)
        if store is not None and is_shared_store(store):
            request = RunRequest(run_id, retry_at, attempt)
            try:
                if cast(SharedJobStore, store).request_run(job.id, request):
                    return
            except Exception as exc:  # kept here instead: it must not be lost
                scheduler._logger.warning(
                    'Could not keep the retry of job "%s" in job store %r: %s', job, jobstore, exc
                )
        with self._lock:
            retry = WaitingRetry(retry_at, job, jobstore, attempt, run_id)
            heapq.heappush(self._waiting, (retry_at.timestamp(), next(self._order), retry))
        scheduler._wakeup_for(retry_at)

    # ----- the retries waiting in memory

    def take_due(self, now: datetime) -> list[WaitingRetry]:
        """Remove and return the retries waiting in memory that are due by ``now``."""
        if not self._waiting:
            return []
        due = []
        with self._lock:
            while self._waiting and self._waiting[0][0] <= now.timestamp():
                due.append(heapq.heappop(self._waiting)[2])
        return due

    def next_retry_time(self) -> datetime | None:
        """When the earliest retry waiting in memory is due (``None``: none waits)."""
        waiting = self._waiting
        return waiting[0][2].retry_at if waiting else None

    def keeping_retries(self) -> _KeepingRetries:
        """Removals of jobs in this thread meanwhile keep their retries (see :meth:`forget_job`)."""
        return _KeepingRetries(self._keeping)

    def forget_job(self, job_id: str) -> None:
        """A user removed the job: its retries waiting in memory go with it."""
        if not self._waiting or self._keeping.active:
            # read without the lock: a retry filed meanwhile ends as it would had it been
            # filed just after this removal took the lock
            return
        with self._lock:
            kept = [entry for entry in self._waiting if entry[2].job.id != job_id]
            if len(kept) != len(self._waiting):
                heapq.heapify(kept)
                self._waiting = kept


class _KeepingFlag(threading.local):
    active = False


class _KeepingRetries:
    """Sets a thread's flag for the duration of a ``with`` block."""

    def __init__(self, flag: _KeepingFlag) -> None:
        self._flag = flag

    def __enter__(self) -> None:
        self._flag.active = True

    def __exit__(self, *exc_info: object) -> None:
        self._flag.active = False


def _jitter(seconds: float) -> float:
    """Up to ``seconds`` at random (imported here: importing a scheduler stays cheap)."""
    if not seconds:
        return 0.0
    import random

    return random.uniform(0, seconds)


def _next_regular_run(job: Job, failed_run: datetime, now: datetime) -> datetime | None:
    """
    The job's next run by its trigger after the run that failed.

    Its ``next_run_time`` tells, unless the scheduler has not moved the job on yet (a run that
    fails at once, before the pass stores the jobs it submitted): then the trigger tells.
    """
    regular = job.next_run_time
    if regular is None or regular.timestamp() > failed_run.timestamp():
        return regular
    try:
        return job.trigger.get_next_fire_time(failed_run, now)
    except Exception:
        return None


__all__ = ["RetryKeeper", "WaitingRetry"]
