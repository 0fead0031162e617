"""The scheduler's processing step: find due jobs, submit them, reschedule them."""

from __future__ import annotations

from datetime import datetime, timedelta
from threading import TIMEOUT_MAX
from typing import TYPE_CHECKING

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import MaxInstancesReachedError

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.jobstores.base import BaseJobStore
    from apscheduler.schedulers.base import BaseScheduler


def runs_to_submit(job: Job, now: datetime) -> list[datetime]:
    """Return the run times of ``job`` due by ``now``; only the latest one when coalescing."""
    run_times = job._get_run_times(now)
    if job.coalesce and len(run_times) > 1:
        return run_times[-1:]

    return run_times


def seconds_until(wakeup_time: datetime | None, now: datetime) -> float | None:
    """Return how long to sleep until ``wakeup_time`` (``None``: until woken up)."""
    if wakeup_time is None:
        return None

    # timestamps, not datetime arithmetic: two datetimes in the same zone subtract by wall clock
    # and would be an hour off across a DST fold
    return min(max(wakeup_time.timestamp() - now.timestamp(), 0.0), TIMEOUT_MAX)


def earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    """Return the earlier of two optional datetimes."""
    if first is None:
        return second
    if second is None:
        return first

    return min(first, second, key=datetime.timestamp)


class ProcessingPass:
    """
    One pass of the scheduler over its job stores.

    Holds the ``now`` of the pass and the events to dispatch once the store lock is released,
    so listeners never run while the scheduler holds it. ``now`` is in UTC: comparing it with a
    job's run time is then always by instant, never by wall clock (which repeats in a DST fold).
    """

    def __init__(self, scheduler: BaseScheduler, now: datetime) -> None:
        self.scheduler = scheduler
        self.logger = scheduler._logger
        self.now = now
        self.events: list[SchedulerEvent] = []
        self.next_wakeup_time: datetime | None = None

    def retry_store_later(self) -> None:
        retry_at = self.now + timedelta(seconds=self.scheduler.jobstore_retry_interval)
        self.next_wakeup_time = earliest(self.next_wakeup_time, retry_at)

    def process_store(self, jobstore_alias: str, jobstore: BaseJobStore) -> None:
        try:
            due_jobs = jobstore.get_due_jobs(self.now)
        except Exception as exc:
            self.logger.warning(
                "Error getting due jobs from job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
            return

        for job in due_jobs:
            self.process_job(job, jobstore_alias, jobstore)

        try:
            store_next_run_time = jobstore.get_next_run_time()
        except Exception as exc:
            self.logger.warning(
                "Error getting the next run time from job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
        else:
            if store_next_run_time is not None:
                self.next_wakeup_time = earliest(
                    self.next_wakeup_time, store_next_run_time.astimezone(self.scheduler.timezone)
                )

    def process_job(self, job: Job, jobstore_alias: str, jobstore: BaseJobStore) -> None:
        scheduler = self.scheduler
        try:
            executor = scheduler._lookup_executor(job.executor)
        except KeyError:
            self.logger.error(
                'Executor lookup ("%s") failed for job "%s" -- removing it from the job store',
                job.executor,
                job,
            )
            scheduler._remove_job_quietly(job.id, jobstore_alias)
            return

        try:
            run_times = runs_to_submit(job, self.now)
        except Exception:
            self._pause_broken_job(job, jobstore)
            return

        if not run_times:
            return

        self._submit(job, jobstore_alias, executor, run_times)

        try:
            job_next_run = job.trigger.get_next_fire_time(run_times[-1], self.now)
        except Exception:
            self._pause_broken_job(job, jobstore)
            return

        try:
            if job_next_run:
                job._modify(next_run_time=job_next_run)
                jobstore.update_job(job)
            else:
                scheduler._remove_job_quietly(job.id, jobstore_alias)
        except Exception as exc:
            self.logger.warning(
                'Error updating job "%s" in job store %r: %s', job, jobstore_alias, exc
            )
            self.retry_store_later()

    def _submit(self, job: Job, jobstore_alias: str, executor, run_times: list[datetime]) -> None:
        try:
            executor.submit_job(job, run_times)
        except MaxInstancesReachedError:
            self.logger.warning(
                'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
                job,
                job.max_instances,
            )
            self.events.append(
                JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, job.id, jobstore_alias, run_times)
            )
        except Exception:
            self.logger.exception('Error submitting job "%s" to executor "%s"', job, job.executor)
        else:
            self.events.append(
                JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, jobstore_alias, run_times)
            )

    def _pause_broken_job(self, job: Job, jobstore: BaseJobStore) -> None:
        """A trigger that raises would make the job due forever; pause it instead of losing it."""
        self.logger.exception(
            'The trigger of job "%s" raised an error -- pausing the job; fix the trigger and '
            "resume it",
            job,
        )
        try:
            job._modify(next_run_time=None)
            jobstore.update_job(job)
        except Exception:
            self.logger.exception('Could not pause job "%s"', job)
