"""The executor interface and the module-level functions that actually run jobs."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
import weakref
from abc import ABCMeta, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from traceback import format_tb
from typing import TYPE_CHECKING, Any, Protocol, cast

from apscheduler._run_control import OVERLAP_CANCEL, OVERLAP_SKIP
from apscheduler.clock import scheduler_clock
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_TIMED_OUT,
    JobExecutionEvent,
)
from apscheduler.executors._deadlines import (
    AlarmRunGuard,
    JobCancelled,
    JobLost as JobLost,  # documented here (see _deadlines)
    JobTimeout,
    TaskRunGuard,
    ThreadRunGuard,
)
from apscheduler.schedulers.handle import SchedulerHandle

if TYPE_CHECKING:
    import asyncio

    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler


UTC = timezone.utc


class StoppableRun(Protocol):
    """A submission whose runs ``overlap="cancel"`` can stop (see ``BaseExecutor._stop_runs``)."""

    def stop(self, reason: str) -> bool:
        """Stop the run going on (or the next one, before it starts) for ``reason``."""
        ...

    def runs_the_caller(self) -> bool:
        """Tell whether the calling code is the run itself, which must not stop itself."""
        ...


class MaxInstancesReachedError(Exception):
    """Raised when a job is submitted while ``max_instances`` of it are already running."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f'Job "{job.id}" has already reached its maximum number of instances '
            f"({job.max_instances})"
        )


class BaseExecutor(metaclass=ABCMeta):
    """Abstract base class that defines the interface that every executor must implement."""

    _scheduler: BaseScheduler | None = None
    _handle: SchedulerHandle = SchedulerHandle(None)
    _lock: Any = None
    _logger = logging.getLogger("apscheduler.executors")

    def __init__(self) -> None:
        super().__init__()
        self._instances: defaultdict[str, int] = defaultdict(int)
        # job id -> the runs waiting for an instance to end (overlap="queue" or "cancel")
        self._queued: dict[str, tuple[Job, list[datetime]]] = {}
        # job id -> the guards of its runs that can be stopped (threads, tasks, greenlets)
        self._guards: defaultdict[str, weakref.WeakSet[StoppableRun]] = defaultdict(
            weakref.WeakSet
        )
        # job id -> the job of its latest submission still in progress (for its retries)
        self._in_flight: dict[str, Job] = {}

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """
        Called by the scheduler when the scheduler is being started or when the executor is being
        added to an already running scheduler.

        :param scheduler: the scheduler that is starting this executor
        :param alias: alias of this executor as it was assigned to the scheduler
        """
        self._scheduler = scheduler
        #: what this executor may ask of the scheduler (see SchedulerHandle)
        self._handle = SchedulerHandle(scheduler)
        self._lock = scheduler._create_lock()
        self._logger = logging.getLogger(f"apscheduler.executors.{alias}")

    def shutdown(self, wait: bool = True) -> None:
        """
        Shuts down this executor.

        :param wait: ``True`` to wait until all submitted jobs have been executed
        """

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """
        Submits job for execution.

        :param job: job to execute
        :param run_times: list of datetimes specifying when the job should have been run
        :raises MaxInstancesReachedError: if the maximum number of allowed instances for this job
            has been reached
        """
        assert self._lock is not None, "This executor has not been started yet"
        with self._lock:
            if self._admit(job, run_times):
                self._hand_over(job, run_times)

    def _admit(self, job: Job, run_times: list[datetime]) -> bool:
        """
        Count one more instance of ``job``, or follow its ``overlap`` policy if it has
        ``max_instances`` already; return whether the runs are to be handed over. Hold the lock.
        """
        if self._instances[job.id] >= job.max_instances:
            self._overlap(job, run_times)
            return False

        self._count_instance(job)
        return True

    def _start_instance(self, job: Job, run_times: list[datetime]) -> None:
        """Count one more instance of ``job`` and hand its runs over. Hold the lock."""
        self._count_instance(job)
        self._hand_over(job, run_times)

    def _count_instance(self, job: Job) -> None:
        """
        Count one more instance of ``job``, before its runs are handed over. Hold the lock.

        Counted first: an executor that runs the job synchronously releases the instance
        before :meth:`_do_submit_job` returns.
        """
        self._instances[job.id] += 1
        self._in_flight[job.id] = job

    def _hand_over(self, job: Job, run_times: list[datetime]) -> None:
        """Hand the counted runs over; if that fails, the instance counts as ended again."""
        try:
            self._do_submit_job(job, run_times)
        except BaseException:
            self._release_instance(job.id, run_times)
            raise

    def _overlap(self, job: Job, run_times: list[datetime]) -> None:
        """
        ``max_instances`` runs of ``job`` are going on: follow its ``overlap`` policy. Hold the
        lock.

        ``"skip"``: refuse. ``"queue"``: keep the runs until an instance ends (one submission
        waits at most; more are refused). ``"cancel"``: also stop the runs going on, as a
        timeout does, where the executor can (see :meth:`_stop_runs`).

        :raises MaxInstancesReachedError: when the runs are refused
        """
        overlap = job.overlap
        if overlap == OVERLAP_SKIP or job.id in self._queued:
            raise MaxInstancesReachedError(job)

        if overlap == OVERLAP_CANCEL:
            self._stop_runs(job.id, f"stopped for the run at {run_times[-1]} (overlap='cancel')")
        self._queued[job.id] = (job, run_times)

    def _stop_runs(self, job_id: str, reason: str) -> None:
        """
        Stop the runs of ``job_id`` going on, for a newer one (``overlap="cancel"``). Hold the
        lock.

        This stops the runs registered with :meth:`_watch_run`: in threads of this process, in
        tasks, in greenlets. An executor that can stop its runs otherwise extends it; runs it
        cannot reach (in a worker process) go on, and the new run waits for them. A run never
        stops itself: a job that submits itself from its own run waits for that run to end.
        """
        for run in list(self._guards.get(job_id, ())):
            if not run.runs_the_caller():
                run.stop(reason)

    def _watch_run(self, job_id: str, run: StoppableRun) -> None:
        """Let :meth:`_stop_runs` find the submission ``run`` of ``job_id``."""
        with self._lock:
            self._guards[job_id].add(run)

    @abstractmethod
    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """Performs the actual task of scheduling `run_job` to be called."""

    def _release_instance(self, job_id: str, run_times: Sequence[datetime] | None = None) -> None:
        """
        Count one instance of ``job_id`` as ended, and tell the scheduler which submission it was.

        :param run_times: the run times of the submission that ended (the list given to
            :meth:`submit_job`); without them the scheduler counts the job's oldest one
        """
        self._start_queued(self._release(job_id, run_times))

    def _release(
        self, job_id: str, run_times: Sequence[datetime] | None
    ) -> tuple[Job, list[datetime]] | None:
        """Count the instance as ended; return the submission that waited for it, if any."""
        with self._lock:
            self._instances[job_id] -= 1
            if self._instances[job_id] <= 0:
                del self._instances[job_id]
                self._in_flight.pop(job_id, None)
                self._guards.pop(job_id, None)
            queued = self._queued.pop(job_id, None)
        self._handle.runs_ended(job_id, run_times)
        return queued

    def _start_queued(self, queued: tuple[Job, list[datetime]] | None) -> None:
        """Start the submission that waited for an instance to end (``overlap="queue"``)."""
        if queued is None:
            return
        job, run_times = queued
        with self._lock:
            try:
                self._start_instance(job, run_times)
            except Exception as exc:
                self._logger.exception('Could not start the queued run of job "%s"', job)
                self._handle.record_failure(job.id, exc, exc.__traceback__)

    def _run_job_success(self, job_id: str, events: list[JobExecutionEvent]) -> None:
        """
        Called by the executor with the list of generated events when :func:`run_job` has been
        successfully called.

        The events say which submission ended (one per run time, see :meth:`_release_instance`).
        """
        # a run that timed out in a thread was reported at its deadline already
        fresh = [event for event in events if not getattr(event, "reported", False)]
        self._handle.record_outcomes(fresh, self._in_flight.get(job_id))
        queued = self._release(job_id, [event.scheduled_run_time for event in events])
        # a job only runs once start() has given this executor its scheduler
        scheduler = cast("BaseScheduler", self._scheduler)
        for event in fresh:
            scheduler._dispatch_event(event)
        # after the events: listeners hear of a run's end before a run that waited for it starts
        self._start_queued(queued)

    def _thread_guard(
        self, job: Job, on_expiry: Callable[[datetime], None] | None = None
    ) -> ThreadRunGuard | None:
        """
        The guard that enforces the job's ``timeout`` in a thread of this process, and lets
        ``overlap="cancel"`` stop its runs (``None``: the job has neither). At the deadline, the
        run is reported timed out at once; its instance is released only when its thread
        really ends.

        :param on_expiry: what reports a run timed out (default: :meth:`_report_timed_out`)
        """
        if job._control is None:  # every run option at its default: no timeout, no cancel
            return None
        timeout = job.timeout
        if timeout is None and job.overlap != OVERLAP_CANCEL:
            return None
        guard = ThreadRunGuard(timeout, on_expiry or partial(self._report_timed_out, job))
        if job.overlap == OVERLAP_CANCEL:  # only a cancel stops runs: timeouts need no list
            self._watch_run(job.id, guard)
        return guard

    def _task_guard(self, job: Job, loop: asyncio.AbstractEventLoop) -> TaskRunGuard | None:
        """
        The guard that lets ``overlap="cancel"`` stop the runs of a coroutine job on ``loop``
        (an asyncio event loop); ``None`` for other jobs.
        """
        if job.overlap != OVERLAP_CANCEL:
            return None
        guard = TaskRunGuard(loop)
        self._watch_run(job.id, guard)
        return guard

    def _report_timed_out(self, job: Job, run_time: datetime) -> None:
        event = _timed_out_event(job, job._jobstore_alias, run_time, self._logger)
        self._handle.record_outcomes([event])
        scheduler = cast("BaseScheduler", self._scheduler)
        scheduler._dispatch_event(event)

    def _run_job_error(self, job_id: str, exc: BaseException, traceback: Any = None) -> None:
        """
        Called by the executor with the exception if there is an error calling `run_job`.

        Then no event says which submission ended (a process pool that broke, say): the job's
        oldest one counts (see :meth:`_release_instance`).
        """
        self._handle.record_failure(job_id, exc, traceback)
        self._release_instance(job_id)
        exc_info = (exc.__class__, exc, traceback)
        self._logger.error("Error running job %s", job_id, exc_info=exc_info)


def _run_time_missed(
    job: Job,
    jobstore_alias: str | None,
    run_time: datetime,
    logger: logging.Logger,
    now: datetime | None = None,
) -> JobExecutionEvent | None:
    """
    Return a missed-run event if ``run_time`` is later than the job's grace time allows.

    :param now: the time to judge by (default: read from the job's clock)
    """
    grace_time = job.misfire_grace_time
    if grace_time is None:
        return None

    if now is None:
        now = _now(job)
    lateness = now - run_time
    if lateness <= timedelta(seconds=grace_time):
        return None

    logger.warning('Run time of job "%s" was missed by %s', job, lateness)
    reason = (
        f"started {lateness.total_seconds():.1f} s after its scheduled time, beyond "
        f"misfire_grace_time={grace_time}"
    )
    event = JobExecutionEvent(EVENT_JOB_MISSED, job.id, jobstore_alias, run_time, reason=reason)
    event.finished_at = now
    return event


def _timed_out_event(
    job: Job, jobstore_alias: str | None, run_time: datetime, logger: logging.Logger
) -> JobExecutionEvent:
    logger.error(
        'Job "%s" timed out: it ran for longer than its timeout of %s s', job, job.timeout
    )
    return _timeout_event(job, jobstore_alias, run_time)


def _timeout_event(job: Job, jobstore_alias: str | None, run_time: datetime) -> JobExecutionEvent:
    reason = f"it ran for longer than its timeout of {job.timeout:g} s"
    return JobExecutionEvent(
        EVENT_JOB_TIMED_OUT,
        job.id,
        jobstore_alias,
        run_time,
        exception=JobTimeout(reason),
        reason=reason,
    )


def _reported_timeout(
    job: Job, jobstore_alias: str | None, run_time: datetime
) -> JobExecutionEvent:
    """The timed-out event of a run that the executor reported at its deadline already."""
    event = _timeout_event(job, jobstore_alias, run_time)
    event.reported = True  # type: ignore[attr-defined]
    return event


def _cancelled_event(
    job: Job,
    jobstore_alias: str | None,
    run_time: datetime,
    logger: logging.Logger,
    exc: JobCancelled,
    guard: RunGuard | TaskRunGuard | None,
) -> JobExecutionEvent:
    """A run stopped for a newer one (``overlap="cancel"``): a failed run that says why."""
    reason = getattr(guard, "cancel_reason", None) or "stopped for a newer run"
    logger.warning('Job "%s" was stopped: %s', job, reason)
    return JobExecutionEvent(
        EVENT_JOB_ERROR, job.id, jobstore_alias, run_time, exception=exc, reason=reason
    )


def _success_event(
    job: Job, jobstore_alias: str | None, run_time: datetime, retval: Any, logger: logging.Logger
) -> JobExecutionEvent:
    logger.info('Job "%s" executed successfully', job)
    return JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, jobstore_alias, run_time, retval=retval)


def _error_event(
    job: Job, jobstore_alias: str | None, run_time: datetime, logger: logging.Logger
) -> JobExecutionEvent:
    """Log the exception being handled and turn it into an event, dropping its frames."""
    exc, tb = sys.exc_info()[1:]
    formatted_tb = "".join(format_tb(tb))
    logger.exception('Job "%s" raised an exception', job)
    # clearing the frames releases the locals of the failed call (which may be large)
    traceback.clear_frames(tb)
    del tb
    return JobExecutionEvent(
        EVENT_JOB_ERROR, job.id, jobstore_alias, run_time, exception=exc, traceback=formatted_tb
    )


#: the loggers run_job has used, by name: logging.getLogger() takes the logging lock each time,
#: on the way from a run's hand-over to the job's first line
_loggers: dict[str, logging.Logger] = {}


def _logger_named(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, which returns one logger per name for good."""
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = logging.getLogger(name)
    return logger


def _now(job: Job) -> datetime:
    """
    Now by the clock given to the job's scheduler, else through this module's ``datetime`` name
    as in APScheduler 3 (test suites patch it; a job in another process has no scheduler).

    The answer is in UTC, so that subtracting a run time from it gives elapsed time even in a
    DST fold (datetimes sharing a zone subtract by wall clock).
    """
    clock = scheduler_clock(job._scheduler)
    if clock is None:
        return datetime.now(UTC)

    return clock.now(UTC)


def _stamp(event: JobExecutionEvent, job: Job, started_at: datetime) -> None:
    """Say on the event when the run started and ended (for the run history)."""
    event.started_at = started_at
    event.finished_at = _now(job)


def _may_start(job: Job, run_times: list[datetime]) -> bool:
    """
    Tell whether the runs of a job claimed from a shared store are still this process's.

    A process stopped for longer than the lease (SIGSTOP, a long pause of the VM) may have had
    them taken over by another scheduler meanwhile; they must not start twice. Runs of other
    stores, and jobs run in a worker process (no scheduler there), always start.
    """
    # typed as always set, but None in a job unpickled in a worker process
    scheduler: BaseScheduler | None = job._scheduler
    if scheduler is None:
        return True

    return SchedulerHandle(scheduler).may_start(job, run_times)


def _refused(
    job: Job, jobstore_alias: str | None, run_times: list[datetime]
) -> list[JobExecutionEvent]:
    """Report runs that must not start here (see :func:`_may_start`) as missed."""
    reason = "this process lost its lease on the run before it started"
    return [
        JobExecutionEvent(EVENT_JOB_MISSED, job.id, jobstore_alias, run_time, reason=reason)
        for run_time in run_times
    ]


class RunGuard(Protocol):
    """Enforces a job's ``timeout`` around each call of the job function."""

    def arm(self, run_time: datetime) -> None: ...

    def disarm(self) -> bool:
        """End the watch; tell whether the deadline passed."""
        ...


def run_job(
    job: Job,
    jobstore_alias: str | None,
    run_times: list[datetime],
    logger_name: str,
    guard: RunGuard | None = None,
) -> list[JobExecutionEvent]:
    """
    Called by executors to run the job. Returns a list of scheduler events to be dispatched by the
    scheduler.

    Run times later than the job's ``misfire_grace_time`` are skipped and reported as missed.

    :param guard: what stops a run that goes on for longer than the job's ``timeout``
        (see ``BaseExecutor._thread_guard()``); such a run is reported timed out

    .. versionadded:: 3.12.0 the ``guard`` parameter
    """
    events: list[JobExecutionEvent] = []
    logger = _logger_named(logger_name)
    if not _may_start(job, run_times):
        return _refused(job, jobstore_alias, run_times)

    for run_time in run_times:
        # one reading of the clock judges the lateness and stamps the start
        started_at = _now(job)
        missed = _run_time_missed(job, jobstore_alias, run_time, logger, started_at)
        if missed:
            events.append(missed)
            continue

        logger.info('Running job "%s" (scheduled at %s)', job, run_time)
        timed_out = False
        try:
            if guard is not None:
                guard.arm(run_time)
            retval = job.func(*job.args, **job.kwargs)
            if guard is not None:
                timed_out = guard.disarm()
        except BaseException as exc:
            timed_out = guard.disarm() if guard is not None else isinstance(exc, JobTimeout)
            if timed_out:
                event = _timeout_outcome(job, jobstore_alias, run_time, logger, guard)
            elif isinstance(exc, JobCancelled):
                event = _cancelled_event(job, jobstore_alias, run_time, logger, exc, guard)
            else:
                event = _error_event(job, jobstore_alias, run_time, logger)
        else:
            if timed_out:  # it returned, but only after its deadline
                event = _timeout_outcome(job, jobstore_alias, run_time, logger, guard)
            else:
                event = _success_event(job, jobstore_alias, run_time, retval, logger)
        _stamp(event, job, started_at)
        events.append(event)

    if isinstance(guard, ThreadRunGuard):
        guard.end()
    return events


def _timeout_outcome(
    job: Job,
    jobstore_alias: str | None,
    run_time: datetime,
    logger: logging.Logger,
    guard: RunGuard | None,
) -> JobExecutionEvent:
    if isinstance(guard, ThreadRunGuard):
        return _reported_timeout(job, jobstore_alias, run_time)
    return _timed_out_event(job, jobstore_alias, run_time, logger)


def run_job_in_process(
    job: Job, jobstore_alias: str | None, run_times: list[datetime], logger_name: str
) -> list[JobExecutionEvent]:
    """
    :func:`run_job` in a worker process of a process pool, with the job's ``timeout`` enforced
    by an alarm signal (the job runs in the worker's main thread).
    """
    guard = None
    if job.timeout is not None and threading.current_thread() is threading.main_thread():
        guard = AlarmRunGuard(job.timeout)
    return run_job(job, jobstore_alias, run_times, logger_name, guard)


async def run_coroutine_job(
    job: Job,
    jobstore_alias: str | None,
    run_times: list[datetime],
    logger_name: str,
    guard: TaskRunGuard | None = None,
) -> list[JobExecutionEvent]:
    """
    Coroutine twin of :func:`run_job`: awaits the job's coroutine once per run time.

    A run that goes on for longer than the job's ``timeout`` has its task cancelled (the job
    gets :exc:`~asyncio.CancelledError` at the ``await`` it waits on) and is reported timed
    out.

    :param guard: what lets a newer run stop this one (``overlap="cancel"``): its task is
        cancelled too, and the run reported failed with :exc:`JobCancelled`
    """
    events: list[JobExecutionEvent] = []
    logger = _logger_named(logger_name)
    if not _may_start(job, run_times):
        return _refused(job, jobstore_alias, run_times)

    for run_time in run_times:
        missed = _run_time_missed(job, jobstore_alias, run_time, logger)
        if missed:
            events.append(missed)
            continue

        logger.info('Running job "%s" (scheduled at %s)', job, run_time)
        started_at = _now(job)
        deadline = None if job.timeout is None else _TaskDeadline(job.timeout)
        try:
            if guard is not None:
                guard.arm()
            retval = await job.func(*job.args, **job.kwargs)
        except BaseException as exc:
            timed_out = deadline is not None and deadline.disarm()
            stopped = guard is not None and guard.disarm()
            if _cancelled_from_outside(exc, timed_out or stopped):
                raise
            if timed_out:
                event = _timed_out_event(job, jobstore_alias, run_time, logger)
            elif stopped or isinstance(exc, JobCancelled):
                event = _stopped_task_event(job, jobstore_alias, run_time, logger, guard)
            else:
                event = _error_event(job, jobstore_alias, run_time, logger)
        else:
            timed_out = deadline is not None and deadline.disarm()
            stopped = guard is not None and guard.disarm()
            # a job that swallowed the cancellation ran on after its deadline or its stop
            if timed_out:
                event = _timed_out_event(job, jobstore_alias, run_time, logger)
            elif stopped:
                event = _stopped_task_event(job, jobstore_alias, run_time, logger, guard)
            else:
                event = _success_event(job, jobstore_alias, run_time, retval, logger)
        _stamp(event, job, started_at)
        events.append(event)

    return events


def _stopped_task_event(
    job: Job,
    jobstore_alias: str | None,
    run_time: datetime,
    logger: logging.Logger,
    guard: TaskRunGuard | None,
) -> JobExecutionEvent:
    """A coroutine run stopped for a newer one: its task was cancelled, it failed with why."""
    reason = guard.cancel_reason if guard is not None else None
    exc = JobCancelled() if reason is None else JobCancelled(reason)
    return _cancelled_event(job, jobstore_alias, run_time, logger, exc, guard)


class _TaskDeadline:
    """
    Cancels the running task when a coroutine job's ``timeout`` passes.

    The flag tells the cancellation of the deadline from one that comes from outside (an
    executor shutting down); :meth:`disarm` takes the deadline's own one back, so that the task
    does not count it any more.
    """

    def __init__(self, seconds: float) -> None:
        import asyncio  # already imported: a coroutine job runs on an asyncio loop

        self.fired = False
        self._task = asyncio.current_task()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expire, seconds)

    def _expire(self, seconds: float) -> None:
        if self._task is not None:
            self.fired = True
            self._task.cancel(f"the job ran for longer than its timeout of {seconds:g} s")

    def disarm(self) -> bool:
        """End the watch, in the job's task; tell whether the deadline had passed."""
        self._timer.cancel()
        # Task.uncancel() arrived in Python 3.11; before, a task keeps no count to correct
        uncancel = getattr(self._task, "uncancel", None)
        if self.fired and uncancel is not None:
            uncancel()
        return self.fired


def _cancelled_from_outside(exc: BaseException, deadline_passed: bool = False) -> bool:
    """
    Tell whether ``exc`` is the cancellation of the task running the job.

    An executor shutting down cancels its pending tasks; swallowing that cancellation would
    report a failed job and leave the task running on, so it must propagate. A
    :exc:`~asyncio.CancelledError` that the job raises on its own is an ordinary job error, and
    one that the job's timeout caused (already taken back by :meth:`_TaskDeadline.disarm`) is
    the run's timeout.

    :param deadline_passed: whether the job's timeout cancelled the task
    """
    import asyncio

    if not isinstance(exc, asyncio.CancelledError):
        return False

    task = asyncio.current_task()
    # Task.cancelling() arrived in Python 3.11; before, every cancellation counts as outside,
    # except at a deadline that passed, where the cancellation is taken for the deadline's
    cancelling = getattr(task, "cancelling", None)
    if cancelling is None:
        return not deadline_passed
    return bool(cancelling() > 0)
