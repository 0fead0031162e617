"""The job management half of the scheduler's public API (adding, changing, finding jobs)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime, tzinfo
from logging import Logger
from typing import TYPE_CHECKING, Any, Protocol, cast

from apscheduler.clock import set_active_clock
from apscheduler.events import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    JobEvent,
    SchedulerEvent,
)
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import undefined

if TYPE_CHECKING:
    from apscheduler.jobstores.base import BaseJobStore
    from apscheduler.schedulers.base import BaseScheduler

    class _Clock(Protocol):
        """What this mixin asks of the scheduler's clock (the ``clock`` option)."""

        def now(self, tz: tzinfo) -> datetime: ...


_STATE_STOPPED = 0
_STATE_RUNNING = 1


class JobsAPI:
    """Mixed into :class:`~apscheduler.schedulers.base.BaseScheduler`; documented there."""

    # Set or implemented by BaseScheduler (and ComponentsAPI); declared here for readers and
    # type checkers. This class is only mixed into BaseScheduler, so
    # ``cast("BaseScheduler", self)`` is safe.
    state: int
    timezone: tzinfo
    _logger: Logger
    _clock: _Clock
    _job_defaults: dict[str, Any]
    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: AbstractContextManager[Any, None]
    _pending_jobs: list[tuple[Job, str, bool]]
    wakeup: Callable[[], None]
    _wakeup_for: Callable[[datetime | None], None]
    _dispatch_event: Callable[[SchedulerEvent], None]
    _lookup_jobstore: Callable[[str], BaseJobStore]
    _create_plugin_instance: Callable[[str, str, dict[str, Any]], Any]

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
        """
        job_kwargs: dict[str, Any] = {
            "trigger": self._create_trigger(trigger, trigger_args),
            "executor": executor,
            "func": func,
            # a list becomes a tuple here, as in APScheduler 3; a job given a list keeps it
            "args": () if args is None else tuple(args) if type(args) is list else args,
            "kwargs": kwargs if kwargs is not None else {},
            "id": id,
            "name": name,
            "misfire_grace_time": misfire_grace_time,
            "coalesce": coalesce,
            "max_instances": max_instances,
            "next_run_time": next_run_time,
        }
        job_kwargs = {key: value for key, value in job_kwargs.items() if value is not undefined}
        completed = self.state != _STATE_STOPPED
        scheduler = cast("BaseScheduler", self)
        if completed:
            # The job is stored right away, so it takes the defaults now. Giving them to the
            # constructor checks every option in one pass, and _real_add_job has nothing to add.
            job = Job(scheduler, **self._with_defaults(job_kwargs))
        else:
            job = Job(scheduler, **job_kwargs)

        # Don't really add jobs to job stores before the scheduler is up and running
        with self._jobstores_lock:
            if self.state == _STATE_STOPPED:
                if completed:
                    # stopped since the check above: a pending job takes the defaults at start
                    job = Job(scheduler, **job_kwargs)
                self._pending_jobs.append((job, jobstore, replace_existing))
                self._logger.info(
                    "Adding job tentatively -- it will be properly scheduled when "
                    "the scheduler starts"
                )
            else:
                self._real_add_job(job, jobstore, replace_existing)

        return job

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
        with self._jobstores_lock:
            job, jobstore = self._lookup_job(job_id, jobstore)
            job._modify(**changes)
            if jobstore:
                self._lookup_jobstore(jobstore).update_job(job)

        self._dispatch_event(JobEvent(EVENT_JOB_MODIFIED, job_id, jobstore))

        # Wake up the scheduler since the job's next run time may have been changed
        if self.state == _STATE_RUNNING:
            self.wakeup()

        return job

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
        trigger = self._create_trigger(trigger, trigger_args)
        next_run_time = self._first_run_time(trigger)
        return self.modify_job(job_id, jobstore, trigger=trigger, next_run_time=next_run_time)

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job:
        """
        Causes the given job not to be executed until it is explicitly resumed.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :return: the relevant job instance
        """
        return self.modify_job(job_id, jobstore, next_run_time=None)

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """
        Resumes the schedule of the given job, or removes the job if its schedule is finished.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :return: the relevant job instance if the job was rescheduled, or ``None`` if no
            next run time could be calculated and the job was removed
        """
        with self._jobstores_lock:
            job, jobstore = self._lookup_job(job_id, jobstore)
            next_run_time = self._first_run_time(job.trigger)
            if next_run_time:
                return self.modify_job(job_id, jobstore, next_run_time=next_run_time)

            self.remove_job(job.id, jobstore)
            return None

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

        jobs = []
        with self._jobstores_lock:
            if self.state == _STATE_STOPPED:
                for job, alias, _replace_existing in self._pending_jobs:
                    if jobstore is None or alias == jobstore:
                        jobs.append(job)
            else:
                for alias, store in self._jobstores.items():
                    if jobstore is None or alias == jobstore:
                        jobs.extend(store.get_all_jobs())

        return jobs

    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """
        Returns the Job that matches the given ``job_id``.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that most likely contains the job
        :return: the Job by the given ID, or ``None`` if it wasn't found
        """
        with self._jobstores_lock:
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
        jobstore_alias = None
        with self._jobstores_lock:
            # Check if the job is among the pending jobs
            if self.state == _STATE_STOPPED:
                for i, (job, alias, _replace_existing) in enumerate(self._pending_jobs):
                    if job.id == job_id and jobstore in (None, alias):
                        del self._pending_jobs[i]
                        jobstore_alias = alias
                        break
            else:
                # Otherwise, try to remove it from each store until it succeeds or we run out of
                # stores to check
                for alias, store in self._jobstores.items():
                    if jobstore in (None, alias):
                        try:
                            store.remove_job(job_id)
                            jobstore_alias = alias
                            break
                        except JobLookupError:
                            continue

        if jobstore_alias is None:
            raise JobLookupError(job_id)

        # Notify listeners that a job has been removed
        self._dispatch_event(JobEvent(EVENT_JOB_REMOVED, job_id, jobstore_alias))
        self._logger.info("Removed job %s", job_id)

    def remove_all_jobs(self, jobstore: str | None = None) -> None:
        """
        Removes all jobs from the specified job store, or all job stores if none is given.

        :param jobstore: alias of the job store
        """
        with self._jobstores_lock:
            if self.state == _STATE_STOPPED:
                if jobstore:
                    self._pending_jobs = [
                        pending for pending in self._pending_jobs if pending[1] != jobstore
                    ]
                else:
                    self._pending_jobs = []
            else:
                for alias, store in self._jobstores.items():
                    if jobstore in (None, alias):
                        store.remove_all_jobs()

        self._dispatch_event(SchedulerEvent(EVENT_ALL_JOBS_REMOVED, jobstore))

    def _lookup_job(self, job_id: str, jobstore_alias: str | None) -> tuple[Job, str | None]:
        """
        Finds a job by its ID.

        :param job_id: the id of the job to lookup
        :return: a tuple of job and its job store alias (``None`` for a pending job)
        :raises JobLookupError: if no job by the given ID is found.
        """
        if self.state == _STATE_STOPPED:
            # Check if the job is among the pending jobs
            for job, alias, _replace_existing in self._pending_jobs:
                if job.id == job_id and jobstore_alias in (None, alias):
                    return job, None
        else:
            # Look up the job from each job store
            for alias, store in self._jobstores.items():
                if jobstore_alias in (None, alias):
                    stored_job = store.lookup_job(job_id)
                    if stored_job is not None:
                        return stored_job, alias

        raise JobLookupError(job_id)

    def _real_add_job(self, job: Job, jobstore_alias: str, replace_existing: bool) -> None:
        """
        :param job: the job to add
        :param replace_existing: ``True`` to use update_job() in case the job already exists
            in the store
        """
        # Fill in undefined values with defaults
        replacements = {
            key: value for key, value in self._job_defaults.items() if not hasattr(job, key)
        }

        # Calculate the next run time if there is none defined
        if not hasattr(job, "next_run_time"):
            replacements["next_run_time"] = self._first_run_time(job.trigger)

        # Apply any replacements
        if replacements:
            job._modify(**replacements)

        # Add the job to the given job store
        store = self._lookup_jobstore(jobstore_alias)
        try:
            store.add_job(job)
        except ConflictingIdError:
            if replace_existing:
                store.update_job(job)
            else:
                raise

        job._jobstore_alias = jobstore_alias

        # Notify listeners that a new job has been added
        self._dispatch_event(JobEvent(EVENT_JOB_ADDED, job.id, jobstore_alias))
        self._logger.info('Added job "%s" to job store "%s"', job.name, jobstore_alias)

        # Notify the scheduler about the new job
        self._wakeup_for(job.next_run_time)

    def _with_defaults(self, job_kwargs: dict[str, Any]) -> dict[str, Any]:
        """Return the job options completed with the job defaults and the first run time."""
        completed = {**self._job_defaults, **job_kwargs}
        if "next_run_time" not in completed:
            completed["next_run_time"] = self._first_run_time(completed["trigger"])

        return completed

    def _first_run_time(self, trigger: BaseTrigger) -> datetime | None:
        """The trigger's first fire time from now, by the scheduler's clock."""
        return trigger.get_next_fire_time(None, self._clock.now(self.timezone))

    def _remove_job_quietly(self, job_id: str, jobstore_alias: str) -> None:
        """Remove a job the scheduler itself is done with; a job already gone is no error."""
        try:
            self.remove_job(job_id, jobstore_alias)
        except JobLookupError:
            pass

    def _create_trigger(self, trigger: Any, trigger_args: dict[str, Any]) -> BaseTrigger:
        if isinstance(trigger, BaseTrigger):
            return trigger
        if trigger is None:
            trigger = "date"
        elif not isinstance(trigger, str):
            raise TypeError(
                f"Expected a trigger instance or string, got {trigger.__class__.__name__} instead"
            )

        # Use the scheduler's time zone if nothing else is specified
        trigger_args.setdefault("timezone", self.timezone)

        # Instantiate the trigger class; defaults that depend on "now" come from our clock
        previous_clock = set_active_clock(self._clock)
        try:
            return cast(
                BaseTrigger, self._create_plugin_instance("trigger", trigger, trigger_args)
            )
        finally:
            set_active_clock(previous_clock)
