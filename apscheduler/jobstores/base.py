"""The interface every job store implements, and the errors stores raise."""

from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from apscheduler.schedulers.handle import SchedulerHandle

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler


class JobLookupError(KeyError):
    """Raised when the job store cannot find a job for update or removal."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"No job by the id of {job_id} was found")


class ConflictingIdError(KeyError):
    """Raised when the uniqueness of job IDs is being violated."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job identifier ({job_id}) conflicts with an existing job")


class TransientJobError(ValueError):
    """
    Raised when a job that cannot be stored by reference is added to a persistent job store.

    Persistent stores keep the callable as a ``module:name`` text reference, so lambdas, nested
    functions and partials cannot go there.
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"Job ({job_id}) cannot be added to this job store because a reference to the "
            f"callable could not be determined."
        )


class UnloadableJob(NamedTuple):
    """
    A stored job that could not be loaded, kept in its store untouched.

    .. versionadded:: 3.12.0
    """

    #: identifier of the stored job
    job_id: str
    #: alias of the store that holds it
    jobstore: str | None
    #: why it could not be loaded
    reason: str


class BaseJobStore(metaclass=ABCMeta):
    """
    Abstract base class that defines the interface that every job store must implement.

    A store that several scheduler processes may share implements
    :class:`~apscheduler.jobstores.shared.SharedJobStore` as well.
    """

    _scheduler: BaseScheduler | None = None
    _handle: SchedulerHandle = SchedulerHandle(None)
    _alias: str | None = None
    _logger = logging.getLogger("apscheduler.jobstores")

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """
        Called by the scheduler when the scheduler is being started or when the job store is
        being added to an already running scheduler.

        :param scheduler: the scheduler that is starting this job store
        :param alias: alias of this job store as it was assigned to the scheduler
        """
        self._scheduler = scheduler
        self._alias = alias
        self._logger = logging.getLogger(f"apscheduler.jobstores.{alias}")
        #: what this store may ask of the scheduler (its clock, zone, event dispatch, wakeups)
        self._handle = SchedulerHandle(scheduler)

    def shutdown(self) -> None:
        """Frees any resources still bound to this job store."""

    def _fix_paused_jobs_sorting(self, jobs: list[Job]) -> None:
        """Move paused jobs (no next run time) behind the scheduled ones, keeping their order."""
        for index, job in enumerate(jobs):
            if job.next_run_time is not None:
                if index > 0:
                    paused_jobs = jobs[:index]
                    del jobs[:index]
                    jobs.extend(paused_jobs)
                break

    def get_unloadable_jobs(self) -> list[UnloadableJob]:
        """
        Return the stored jobs that failed to load on the last pass over them.

        Unlike APScheduler 3, which deleted such jobs, they are kept, so a deploy that renames a
        module does not wipe the schedule. Stores that keep live objects never have any.

        .. versionadded:: 3.12.0
        """
        return []

    @abstractmethod
    def lookup_job(self, job_id: str) -> Job | None:
        """
        Returns a specific job, or ``None`` if it isn't found.

        The job store is responsible for setting the ``scheduler`` and ``jobstore`` attributes of
        the returned job to point to the scheduler and itself, respectively.

        :param job_id: identifier of the job
        """

    @abstractmethod
    def get_due_jobs(self, now: datetime) -> list[Job]:
        """
        Returns the list of jobs that have ``next_run_time`` earlier or equal to ``now``.

        The returned jobs must be sorted by next run time (ascending).

        :param now: the current (timezone aware) datetime
        """

    @abstractmethod
    def get_next_run_time(self) -> datetime | None:
        """
        Returns the earliest run time of all the jobs stored in this job store, or ``None`` if
        there are no active jobs.
        """

    @abstractmethod
    def get_all_jobs(self) -> list[Job]:
        """
        Returns a list of all jobs in this job store.

        The returned jobs should be sorted by next run time (ascending). Paused jobs
        (next_run_time == None) should be sorted last.
        """

    @abstractmethod
    def add_job(self, job: Job) -> None:
        """
        Adds the given job to this store.

        :param job: the job to add
        :raises ConflictingIdError: if there is another job in this store with the same ID
        """

    @abstractmethod
    def update_job(self, job: Job) -> None:
        """
        Replaces the job in the store with the given newer version.

        :param job: the job to update
        :raises JobLookupError: if the job does not exist
        """

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """
        Removes the given job from this store.

        :param job_id: identifier of the job
        :raises JobLookupError: if the job does not exist
        """

    @abstractmethod
    def remove_all_jobs(self) -> None:
        """Removes all jobs from this store."""

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"
