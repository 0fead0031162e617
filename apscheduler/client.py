"""
Work on the jobs of running schedulers from a process that runs none: a command line tool, a
web dashboard, a management command.

A scheduler that has not started keeps the jobs added to it in a list of its own, as in
APScheduler 3, so its ``get_jobs()`` and ``pause_job()`` do not reach a store. A
:class:`SchedulerClient` opens the job stores themselves, for reading and changing what the
schedulers running on them will see::

    client = SchedulerClient(jobstores={"default": {"type": "sqlalchemy", "url": DB_URL}})
    for job in client.get_jobs():
        print(job.id, job.next_run_time)
    client.pause_job("nightly")
    client.run_job_now("nightly")     # made by one of the schedulers running on the store
    print(client.explain("nightly", at="2026-03-03 03:00:00"))
    client.close()

On a store that several schedulers share (SQLAlchemy, Redis, MongoDB), the schedulers hear of
each change at once where the store notifies them, else within their ``poll_interval``. A
scheduler on a store that is not shared (ZooKeeper, etcd, RethinkDB) sees a change the next time
it looks at the store.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.base import BaseJobStore, JobLookupError, UnloadableJob
from apscheduler.runs import JOB_PAUSED, JOB_RESUMED

if TYPE_CHECKING:
    from apscheduler.explain import Explanation
    from apscheduler.job import Job
    from apscheduler.runs import JobRun
    from apscheduler.schedulers.base import BaseScheduler


class SchedulerClient:
    """
    The job stores of running schedulers, opened by a process that runs no scheduler.

    :param jobstores: job store alias -> job store instance or configuration dict, as for a
        scheduler
    :param timezone: the zone of naive times given to it, and of the jobs' triggers made here
    :param scheduler: a scheduler that is not started, to use instead of ``jobstores`` and
        ``timezone`` (its stores are opened; it must not be started afterwards)
    :param options: further scheduler options (``run_history``, say)
    """

    def __init__(
        self,
        jobstores: Mapping[str, Any] | None = None,
        *,
        timezone: Any = "UTC",
        scheduler: BaseScheduler | None = None,
        **options: Any,
    ) -> None:
        if scheduler is None:
            from apscheduler.schedulers.background import BackgroundScheduler

            scheduler = BackgroundScheduler(
                jobstores=dict(jobstores or {}), timezone=timezone, **options
            )
        self.scheduler = scheduler

    # ----- the stores

    @property
    def aliases(self) -> list[str]:
        """The aliases of the job stores, as configured."""
        return list(self.scheduler._jobstores)

    def store(self, alias: str) -> BaseJobStore:
        """
        The store ``alias``, opened on first use.

        :raises KeyError: if there is no such store
        """
        return self.scheduler._registry.open_for_client(alias)

    def _stores(self, jobstore: str | None) -> list[tuple[str, BaseJobStore]]:
        aliases = [jobstore] if jobstore is not None else self.aliases
        return [(alias, self.store(alias)) for alias in aliases]

    def close(self) -> None:
        """Write out what was recorded (facts of pauses, say) and close the opened stores."""
        self.scheduler._run_recorder.stop()
        self.scheduler._registry.close_client_stores()

    def __enter__(self) -> SchedulerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- reading

    def get_jobs(self, jobstore: str | None = None) -> list[Job]:
        """The jobs of one store, or of every store, each store's in its own order."""
        return [job for _alias, store in self._stores(jobstore) for job in store.get_all_jobs()]

    def find_job(self, job_id: str, jobstore: str | None = None) -> tuple[Job, str]:
        """
        The job ``job_id`` and the alias of its store.

        :raises JobLookupError: if no store has it (loadable)
        """
        for alias, store in self._stores(jobstore):
            job = store.lookup_job(job_id)
            if job is not None:
                return job, alias
        raise JobLookupError(job_id)

    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """The job ``job_id``, or ``None``."""
        try:
            return self.find_job(job_id, jobstore)[0]
        except JobLookupError:
            return None

    def get_unloadable_jobs(self, jobstore: str | None = None) -> list[UnloadableJob]:
        """The stored jobs that cannot be loaded, with why."""
        found: list[UnloadableJob] = []
        for _alias, store in self._stores(jobstore):
            store.get_all_jobs()  # a store learns which jobs fail to load by loading them
            found.extend(store.get_unloadable_jobs())
        return found

    def get_job_runs(
        self, job_id: str | None = None, jobstore: str | None = None, **filters: Any
    ) -> list[JobRun]:
        """The recorded runs (see ``BaseScheduler.get_job_runs``)."""
        return self.scheduler.get_job_runs(job_id, jobstore, **filters)

    def explain(
        self, job_id: str, jobstore: str | None = None, *, at: datetime | str | None = None
    ) -> Explanation:
        """Why the job did or did not run (see ``BaseScheduler.explain``)."""
        return self.scheduler.explain(job_id, jobstore, at=at)

    # ----- changing

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job:
        """Pause the job: it keeps its schedule but has no next run time until resumed."""
        job, alias = self.find_job(job_id, jobstore)
        job._modify(next_run_time=None)
        self.store(alias).update_job(job)
        self.scheduler._run_recorder.fact(JOB_PAUSED, alias, job.id)
        return job

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """
        Resume the job from now by its trigger; a job whose schedule is over is removed.

        :return: the job, or ``None`` if it was removed
        """
        from apscheduler.schedulers._registry import first_run_time

        job, alias = self.find_job(job_id, jobstore)
        next_run_time = first_run_time(self.scheduler, job.trigger)
        if next_run_time is None:
            self.store(alias).remove_job(job.id)
            return None
        job._modify(next_run_time=next_run_time)
        self.store(alias).update_job(job)
        self.scheduler._run_recorder.fact(JOB_RESUMED, alias, job.id)
        return job

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        """
        Remove the job from its store.

        :raises JobLookupError: if no store has it
        """
        for _alias, store in self._stores(jobstore):
            try:
                store.remove_job(job_id)
                return
            except JobLookupError:
                continue
        raise JobLookupError(job_id)

    def run_job_now(self, job_id: str, jobstore: str | None = None) -> JobRun:
        """
        Ask the schedulers running on the job's shared store to run it once now (see
        ``BaseScheduler.run_job_now``).
        """
        return self.scheduler.run_job_now(job_id, jobstore)


__all__ = ["SchedulerClient"]
