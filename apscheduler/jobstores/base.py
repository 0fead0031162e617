"""The interface every job store implements, and the errors stores raise."""

from __future__ import annotations

import logging
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

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


class RunStart(NamedTuple):
    """
    The due runs of a claimed job that a scheduler is about to submit (shared stores).

    .. versionadded:: 3.12.0
    """

    #: the claimed job, as the scheduler holds it
    job: Job
    #: the run times to submit now, oldest first
    run_times: list[datetime]
    #: when the job runs next after these (``None``: never again)
    next_run_time: datetime | None
    #: names the runs in the store until :meth:`BaseJobStore.finish_runs` forgets them
    run_id: str


class RunStartOutcome(Enum):
    """
    What :meth:`BaseJobStore.start_claimed_runs` did with one start.

    .. versionadded:: 3.12.0
    """

    #: the runs are recorded in progress: submit them
    STARTED = "started"
    #: ``max_instances`` runs were in progress already: the run times were skipped
    MAX_INSTANCES = "max_instances"
    #: the lease was lost (it expired and another scheduler took the job, or a user changed
    #: or removed the job since): nothing was changed
    LOST = "lost"


class AbandonedRun(NamedTuple):
    """
    Runs that a scheduler recorded in progress and then stopped renewing.

    .. versionadded:: 3.12.0
    """

    job_id: str
    #: their scheduled run times
    run_times: list[datetime]
    #: the scheduler instance that started them
    owner: str


class BaseJobStore(metaclass=ABCMeta):
    """Abstract base class that defines the interface that every job store must implement."""

    _scheduler: BaseScheduler | None = None
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

    #: ``True`` for a store that several scheduler processes may share (set on the class: the
    #: scheduler reads it from the store's type, which a mock cannot fake). The scheduler then
    #: takes due jobs with :meth:`acquire_due_jobs` and records their runs with
    #: :meth:`start_claimed_runs`, instead of :meth:`get_due_jobs` and :meth:`update_job`, and
    #: keeps the runs in progress recorded (:meth:`renew_runs`, :meth:`finish_runs`) so that
    #: ``max_instances`` holds across processes and the runs of a dead process are reported.
    #:
    #: .. versionadded:: 3.12.0
    shared: bool = False

    #: For a shared store: the longest the scheduler sleeps before looking again, because other
    #: processes may add jobs without waking it (``None``: the store wakes it when that happens).
    #:
    #: .. versionadded:: 3.12.0
    poll_interval: float | None = None

    def acquire_due_jobs(self, now: datetime, owner: str) -> list[Job]:
        """
        Claim the due jobs that no other scheduler holds, and return them (shared stores only).

        Each returned job is leased to ``owner`` for a short time; a job leased to another
        owner is skipped until that lease expires. Claiming is atomic: two schedulers never
        receive the same job at once.

        :param now: the current (timezone aware) datetime, by the scheduler's clock
        :param owner: identifies the claiming scheduler instance
        :return: the claimed jobs, sorted by next run time

        .. versionadded:: 3.12.0
        """
        raise NotImplementedError(f"{self.__class__.__name__} cannot be shared")

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        """
        Record that the due runs of claimed jobs start now (shared stores only).

        For each start, atomically and only while ``owner`` still holds the job's lease: move
        the job to ``start.next_run_time`` (``None``: the schedule is finished, remove the
        job), give up the lease, and record the runs as in progress under ``start.run_id``,
        leased to ``owner`` for the store's lease time. If ``job.max_instances`` runs of the job
        are already in progress (in any process, leases unexpired), the job is moved on all the
        same but no run is recorded: those run times are skipped, as a single scheduler skips
        them. A store makes as few round trips for the whole batch as it can.

        Calling it again with the same run ids (a retry after a lost reply) must give the same
        answer for the starts it already recorded.

        :return: one outcome per start, in order

        .. versionadded:: 3.12.0
        """
        raise NotImplementedError(f"{self.__class__.__name__} cannot be shared")

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        """
        Forget the runs in progress ``run_ids`` of ``owner``: they have ended (shared stores).

        .. versionadded:: 3.12.0
        """
        raise NotImplementedError(f"{self.__class__.__name__} cannot be shared")

    def renew_runs(self, owner: str) -> None:
        """
        Extend the lease on every run in progress of ``owner`` by the store's lease time.

        A scheduler calls it every few seconds while it has runs in progress, so that only the
        runs of a scheduler that died or lost the store expire (shared stores only).

        .. versionadded:: 3.12.0
        """
        raise NotImplementedError(f"{self.__class__.__name__} cannot be shared")

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        """
        Remove and return the runs in progress whose lease has expired (shared stores only).

        Their scheduler stopped renewing them: it died (or lost the store for longer than the
        lease) while they were submitted or running, so nobody can tell whether they ran to
        the end. The caller reports them as missed. Atomic: each such run is returned to one
        caller only.

        .. versionadded:: 3.12.0
        """
        raise NotImplementedError(f"{self.__class__.__name__} cannot be shared")

    def release_claimed_job(self, job_id: str, owner: str) -> None:
        """
        Give up the lease ``owner`` holds on a job, changing nothing else (shared stores only).

        .. versionadded:: 3.12.0
        """
        raise NotImplementedError(f"{self.__class__.__name__} cannot be shared")

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
