"""Event codes and the event objects that listeners receive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = (
    "EVENT_SCHEDULER_STARTED",
    "EVENT_SCHEDULER_START",
    "EVENT_SCHEDULER_SHUTDOWN",
    "EVENT_SCHEDULER_PAUSED",
    "EVENT_SCHEDULER_RESUMED",
    "EVENT_EXECUTOR_ADDED",
    "EVENT_EXECUTOR_REMOVED",
    "EVENT_JOBSTORE_ADDED",
    "EVENT_JOBSTORE_REMOVED",
    "EVENT_ALL_JOBS_REMOVED",
    "EVENT_JOB_ADDED",
    "EVENT_JOB_REMOVED",
    "EVENT_JOB_MODIFIED",
    "EVENT_JOB_EXECUTED",
    "EVENT_JOB_ERROR",
    "EVENT_JOB_MISSED",
    "EVENT_JOB_SUBMITTED",
    "EVENT_JOB_MAX_INSTANCES",
    "EVENT_ALL",
    "EVENT_JOB_UNLOADABLE",
    "EVENT_JOB_TIMED_OUT",
    "SchedulerEvent",
    "JobEvent",
    "JobSubmissionEvent",
    "JobUnloadableEvent",
    "JobExecutionEvent",
)

# The codes are bit flags so that a listener can subscribe to several with one mask.
EVENT_SCHEDULER_STARTED = EVENT_SCHEDULER_START = 2**0
EVENT_SCHEDULER_SHUTDOWN = 2**1
EVENT_SCHEDULER_PAUSED = 2**2
EVENT_SCHEDULER_RESUMED = 2**3
EVENT_EXECUTOR_ADDED = 2**4
EVENT_EXECUTOR_REMOVED = 2**5
EVENT_JOBSTORE_ADDED = 2**6
EVENT_JOBSTORE_REMOVED = 2**7
EVENT_ALL_JOBS_REMOVED = 2**8
EVENT_JOB_ADDED = 2**9
EVENT_JOB_REMOVED = 2**10
EVENT_JOB_MODIFIED = 2**11
EVENT_JOB_EXECUTED = 2**12
EVENT_JOB_ERROR = 2**13
EVENT_JOB_MISSED = 2**14
EVENT_JOB_SUBMITTED = 2**15
EVENT_JOB_MAX_INSTANCES = 2**16
EVENT_ALL = 2**17 - 1
# Not part of EVENT_ALL, which keeps the exact 3.x meaning: listeners written for 3.x never see
# an event code they do not know. Subscribe to it explicitly.
EVENT_JOB_UNLOADABLE = 2**17
#: a run went on for longer than its job's ``timeout`` and was stopped (a
#: :class:`JobExecutionEvent` whose ``exception`` is a
#: :exc:`~apscheduler.executors.base.JobTimeout`); outside ``EVENT_ALL`` too
EVENT_JOB_TIMED_OUT = 2**18


class SchedulerEvent:
    """
    An event that concerns the scheduler itself.

    :ivar code: the type code of this event
    :ivar alias: alias of the job store or executor that was added or removed (if applicable)
    """

    def __init__(self, code: int, alias: str | None = None) -> None:
        self.code = code
        self.alias = alias

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} (code={self.code})>"


class JobEvent(SchedulerEvent):
    """
    An event that concerns a job.

    :ivar job_id: identifier of the job in question
    :ivar jobstore: alias of the job store containing the job in question
    """

    def __init__(self, code: int, job_id: str, jobstore: str | None) -> None:
        super().__init__(code)
        self.job_id = job_id
        self.jobstore = jobstore


class JobUnloadableEvent(JobEvent):
    """
    A stored job could not be loaded (its callable, trigger class or pickle is broken).

    The job stays in its store untouched; it loads again once the code is fixed.

    :ivar reason: why loading failed, e.g. the text of the exception

    .. versionadded:: 3.12.0
    """

    def __init__(self, code: int, job_id: str, jobstore: str | None, reason: str) -> None:
        super().__init__(code, job_id, jobstore)
        self.reason = reason


class JobSubmissionEvent(JobEvent):
    """
    An event that concerns the submission of a job to its executor.

    :ivar scheduled_run_times: the datetimes the job was meant to run at
    """

    def __init__(
        self, code: int, job_id: str, jobstore: str | None, scheduled_run_times: list[datetime]
    ) -> None:
        super().__init__(code, job_id, jobstore)
        self.scheduled_run_times = scheduled_run_times


class JobExecutionEvent(JobEvent):
    """
    An event that concerns the running of a job within its executor.

    :ivar scheduled_run_time: the time when the job was scheduled to be run
    :ivar retval: the return value of the successfully executed job
    :ivar exception: the exception raised by the job
    :ivar traceback: a formatted traceback for the exception
    :ivar reason: for a missed run, a short sentence that says why it was not run
    :ivar started_at: when the job function was called (``None`` for a missed run)
    :ivar finished_at: when the run ended

    .. versionadded:: 3.12.0 the ``reason``, ``started_at`` and ``finished_at`` attributes
    """

    #: set by :func:`~apscheduler.executors.base.run_job` (they travel back from a process pool)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __init__(
        self,
        code: int,
        job_id: str,
        jobstore: str | None,
        scheduled_run_time: datetime,
        retval: Any = None,
        exception: BaseException | None = None,
        traceback: str | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(code, job_id, jobstore)
        self.scheduled_run_time = scheduled_run_time
        self.retval = retval
        self.exception = exception
        self.traceback = traceback
        self.reason = reason
