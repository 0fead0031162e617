"""
The job and job store methods of the scheduler's public API.

Each hands over to the scheduler's :class:`~apscheduler.schedulers._registry.JobRegistry`,
which does the work; this module keeps the APScheduler 3 signatures and docstrings, and the
private names that integrations written for APScheduler 3 use.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

from apscheduler._run_control import CONTROL_OPTIONS
from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, JobLookupError, UnloadableJob
from apscheduler.runs import JOB_PAUSED, JOB_RESUMED
from apscheduler.schedulers import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import undefined

if TYPE_CHECKING:
    from datetime import tzinfo

    from apscheduler.schedulers._registry import JobRegistry, PendingJob
    from apscheduler.schedulers._retries import RetryKeeper
    from apscheduler.schedulers._run_history import RunRecorder

# add_job() without run control options (most calls): shared, never changed
_NO_CONTROL: Mapping[str, Any] = MappingProxyType({})


class JobsAPI:
    """
    The job methods of :class:`~apscheduler.schedulers.base.BaseScheduler` (documented there).

    Each hands over to the scheduler's registry, or builds on the others as APScheduler 3 does.
    """

    # set by BaseScheduler.__init__
    state: int
    timezone: tzinfo
    _registry: JobRegistry
    _run_recorder: RunRecorder
    _retries: RetryKeeper

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: BaseTrigger | str | None = None,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: int | None = undefined,  # type: ignore[assignment]
        coalesce: bool = undefined,  # type: ignore[assignment]
        max_instances: int = undefined,  # type: ignore[assignment]
        next_run_time: datetime | str | None = undefined,  # type: ignore[assignment]
        jobstore: str = "default",
        executor: str = "default",
        replace_existing: bool = False,
        **trigger_args: Any,
    ) -> Job:
        """
        Adds the given job to the job list and wakes up the scheduler if it's already running.

        Any option that defaults to ``undefined`` will be replaced with the corresponding default
        value when the job is scheduled (which happens when the scheduler is started, or
        immediately if the scheduler is already running).

        The ``func`` argument can be given either as a callable object or a textual reference in
        the ``package.module:some.object`` format, where the first half (separated by ``:``) is an
        importable module and the second half is a reference to the callable object, relative to
        the module.

        The ``trigger`` argument can either be:

        #. the alias name of the trigger (e.g. ``date``, ``interval`` or ``cron``), in which case
           any extra keyword arguments to this method are passed on to the trigger's constructor
        #. an instance of a trigger class

        :param func: callable (or a textual reference to one) to run at the given time
        :param trigger: trigger that determines when ``func`` is called
        :param args: list of positional arguments to call func with
        :param kwargs: dict of keyword arguments to call func with
        :param id: explicit identifier for the job (for modifying it later)
        :param name: textual description of the job
        :param misfire_grace_time: seconds after the designated runtime that the job is still
            allowed to be run (or ``None`` to allow the job to run no matter how late it is)
        :param coalesce: run once instead of many times if the scheduler determines that the
            job should be run more than once in succession
        :param max_instances: maximum number of concurrently running instances allowed for this
            job
        :param next_run_time: when to first run the job, regardless of the trigger (pass
            ``None`` to add the job as paused)
        :param jobstore: alias of the job store to store the job in
        :param executor: alias of the executor to run the job with
        :param replace_existing: ``True`` to replace an existing job with the same ``id``
            (but retain the number of runs from the existing one)
        :raises TypeError: if ``trigger`` is neither an alias nor a trigger instance
        :raises ConflictingIdError: if the id is taken and ``replace_existing`` is false
        :rtype: Job

        Besides, as keyword arguments, the options that control the job's runs (see
        :ref:`run-control`): ``timeout``, ``max_retries``, ``retry_delay``, ``retry_backoff``,
        ``retry_jitter``, ``retry_on`` and ``overlap``; left out, they take the job defaults.

        .. versionadded:: 3.12.0 the run control options
        """
        control = (
            _NO_CONTROL
            if trigger_args.keys().isdisjoint(CONTROL_OPTIONS)
            else {name: trigger_args.pop(name) for name in CONTROL_OPTIONS if name in trigger_args}
        )
        return self._registry.add_job(
            trigger,
            trigger_args,
            jobstore,
            replace_existing,
            control,
            func,
            args,
            kwargs,
            id,
            name,
            misfire_grace_time,
            coalesce,
            max_instances,
            next_run_time,
            executor,
        )

    def scheduled_job(
        self,
        trigger: BaseTrigger | str,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: int | None = undefined,  # type: ignore[assignment]
        coalesce: bool = undefined,  # type: ignore[assignment]
        max_instances: int = undefined,  # type: ignore[assignment]
        next_run_time: datetime | str | None = undefined,  # type: ignore[assignment]
        jobstore: str = "default",
        executor: str = "default",
        **trigger_args: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """
        A decorator version of :meth:`add_job`, except that ``replace_existing`` is always
        ``True``.

        .. important:: The ``id`` argument must be given if scheduling a job in a persistent job
            store. The scheduler cannot, however, enforce this requirement.
        """

        def inner(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_job(
                func,
                trigger,
                args,
                kwargs,
                id,
                name,
                misfire_grace_time,
                coalesce,
                max_instances,
                next_run_time,
                jobstore,
                executor,
                True,
                **trigger_args,
            )
            return func

        return inner

    def modify_job(self, job_id: str, jobstore: str | None = None, **changes: Any) -> Job:
        """
        Modifies the properties of a single job.

        Modifications are passed to this method as extra keyword arguments.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :return: the relevant job instance
        :raises JobLookupError: if the job was not found
        """
        return self._registry.modify_job(job_id, jobstore, changes)

    def reschedule_job(
        self,
        job_id: str,
        jobstore: str | None = None,
        trigger: BaseTrigger | str | None = None,
        **trigger_args: Any,
    ) -> Job:
        """
        Constructs a new trigger for a job and updates its next run time.

        Extra keyword arguments are passed directly to the trigger's constructor.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :param trigger: alias of the trigger type or a trigger instance
        :return: the relevant job instance
        :raises JobLookupError: if the job was not found
        """
        return self._registry.reschedule_job(job_id, jobstore, trigger, trigger_args)

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job:
        """
        Causes the given job not to be executed until it is explicitly resumed.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :return: the relevant job instance
        """
        job = self.modify_job(job_id, jobstore, next_run_time=None)
        if job._jobstore_alias is not None:  # not for a job waiting for the scheduler to start
            self._run_recorder.fact(JOB_PAUSED, job._jobstore_alias, job.id)
        return job

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """
        Resumes the schedule of the given job, or removes the job if its schedule is finished.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :return: the relevant job instance if the job was rescheduled, or ``None`` if no
            next run time could be calculated and the job was removed
        """
        job = self._registry.resume_job(job_id, jobstore)
        if job is not None and job._jobstore_alias is not None:
            self._run_recorder.fact(JOB_RESUMED, job._jobstore_alias, job.id)
        return job

    def get_jobs(self, jobstore: str | None = None, pending: bool | None = None) -> list[Job]:
        """
        Returns a list of pending jobs (if the scheduler hasn't been started yet) and scheduled
        jobs, either from a specific job store or from all of them.

        If the scheduler has not been started yet, only pending jobs can be returned because the
        job stores haven't been started yet either.

        :param jobstore: alias of the job store
        :param pending: **DEPRECATED**
        :rtype: list[Job]
        """
        if pending is not None:
            warnings.warn(
                'The "pending" option is deprecated -- get_jobs() always returns scheduled jobs '
                "if the scheduler has been started and pending jobs otherwise",
                DeprecationWarning,
                stacklevel=2,
            )

        return self._registry.get_jobs(jobstore)

    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """
        Returns the Job that matches the given ``job_id``.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that most likely contains the job
        :return: the Job by the given ID, or ``None`` if it wasn't found
        """
        try:
            return self._lookup_job(job_id, jobstore)[0]
        except JobLookupError:
            return None

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        """
        Removes a job, preventing it from being run any more.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :raises JobLookupError: if the job was not found
        """
        self._registry.remove_job(job_id, jobstore)
        self._retries.forget_job(job_id)

    def remove_all_jobs(self, jobstore: str | None = None) -> None:
        """
        Removes all jobs from the specified job store, or all job stores if none is given.

        :param jobstore: alias of the job store
        """
        self._registry.remove_all_jobs(jobstore)

    def get_unloadable_jobs(self, jobstore: str | None = None) -> list[UnloadableJob]:
        """
        Return the stored jobs that could not be loaded (broken callable, trigger or pickle).

        Such jobs stay in their stores untouched; remove them with :meth:`remove_job`, or fix
        the code and they load again on the next pass.

        :param jobstore: alias of the job store to look in (all of them if ``None``)

        .. versionadded:: 3.12.0
        """
        return self._registry.get_unloadable_jobs(jobstore)

    def print_jobs(self, jobstore: str | None = None, out: IO[str] | None = None) -> None:
        """
        print_jobs(jobstore=None, out=sys.stdout)

        Prints out a textual listing of all jobs currently scheduled on either all job stores or
        just a specific one.

        :param jobstore: alias of the job store, ``None`` to list jobs from all stores
        :param out: a file-like object to print to (defaults to **sys.stdout** if nothing is
            given)
        """
        out = out or sys.stdout
        for line in self._registry.listing(jobstore):
            print(line, file=out)

    def export_jobs(self, outfile: Any, jobstore: str | None = None) -> None:
        """
        Export stored jobs as JSON.

        :param outfile: either a file object opened in text write mode ("w"), or a path
            to the target file
        :param jobstore: alias of the job store to export jobs from (if omitted, export
            from all configured job stores)
        :raises RuntimeError: if the scheduler has not been started
        """
        from apscheduler.schedulers._export import write_jobs

        if self.state == STATE_STOPPED:
            raise RuntimeError("the scheduler must have been started for job export to work")

        write_jobs(self.get_jobs(jobstore), outfile)

    def import_jobs(self, infile: Any, jobstore: str = "default") -> None:
        """
        Import jobs previously exported via :meth:`export_jobs`.

        :param infile: either a file object opened in text read mode ("r") or a path to
            a JSON file containing previously exported jobs
        :param jobstore: the alias of the job store to import the jobs to
        :raises ValueError: if the file is not an export of a supported version
        """
        self._registry.import_jobs(infile, jobstore)

    def add_jobstore(
        self, jobstore: BaseJobStore | str, alias: str = "default", **jobstore_opts: Any
    ) -> None:
        """
        Adds a job store to this scheduler.

        Any extra keyword arguments will be passed to the job store plugin's constructor, assuming
        that the first argument is the name of a job store plugin.

        :param str|unicode|apscheduler.jobstores.base.BaseJobStore jobstore: job store to be added
        :param str|unicode alias: alias for the job store
        :raises ValueError: if there is already a job store by the given alias
        """
        self._registry.add_jobstore(jobstore, alias, jobstore_opts)

    def remove_jobstore(self, alias: str, shutdown: bool = True) -> None:
        """
        Removes the job store by the given alias from this scheduler.

        :param str|unicode alias: alias of the job store
        :param bool shutdown: ``True`` to shut down the job store after removing it
        :raises KeyError: if there is no job store by that alias
        """
        self._registry.remove_jobstore(alias, shutdown)

    # The scheduler's job stores, their lock and the pending jobs, under their APScheduler 3
    # names: programs read them, and some replace the pending list with a filtered one.

    @property
    def _jobstores(self) -> dict[str, BaseJobStore]:
        return self._registry.stores

    @_jobstores.setter
    def _jobstores(self, stores: dict[str, BaseJobStore]) -> None:
        self._registry.stores = stores

    @property
    def _jobstores_lock(self) -> AbstractContextManager[Any, None]:
        return self._registry.lock

    @_jobstores_lock.setter
    def _jobstores_lock(self, lock: AbstractContextManager[Any, None]) -> None:
        self._registry.lock = lock

    @property
    def _pending_jobs(self) -> list[PendingJob]:
        """The jobs added before start: ``(job, jobstore alias, replace_existing)`` tuples."""
        return self._registry.pending

    @_pending_jobs.setter
    def _pending_jobs(self, entries: list[PendingJob]) -> None:
        self._registry.pending = entries

    def _lookup_job(self, job_id: str, jobstore_alias: str | None) -> tuple[Job, str | None]:
        """
        Finds a job by its ID.

        :param job_id: the id of the job to lookup
        :return: a tuple of job and its job store alias (``None`` for a pending job)
        :raises JobLookupError: if no job by the given ID is found.
        """
        return self._registry.lookup_job(job_id, jobstore_alias)

    def _lookup_jobstore(self, alias: str) -> BaseJobStore:
        """
        Returns the job store instance by the given name from the list of job stores that were
        added to this scheduler.

        :raises KeyError: if no job store by the given alias is not found
        """
        return self._registry.lookup_jobstore(alias)

    def _real_add_job(self, job: Job, jobstore_alias: str, replace_existing: bool) -> None:
        """
        :param job: the job to add
        :param replace_existing: ``True`` to use update_job() in case the job already exists
            in the store
        """
        self._registry.store_job(job, jobstore_alias, replace_existing)

    def _create_trigger(self, trigger: Any, trigger_args: dict[str, Any]) -> BaseTrigger:
        return self._registry.create_trigger(trigger, trigger_args)

    def _remove_job_quietly(self, job_id: str, jobstore_alias: str) -> None:
        """Remove a job the scheduler itself is done with; a job already gone is no error."""
        try:
            self._registry.remove_finished_job(job_id, jobstore_alias)
        except JobLookupError:
            pass
