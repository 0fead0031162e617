"""The scheduler's processing step: find due jobs, submit them, reschedule them."""

from __future__ import annotations

from datetime import datetime, timedelta
from threading import TIMEOUT_MAX
from typing import TYPE_CHECKING
from uuid import uuid4

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.jobstores.base import RunStart, RunStartOutcome
from apscheduler.schedulers._claims import ClaimedRunTimes

if TYPE_CHECKING:
    from apscheduler.executors.base import BaseExecutor
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


def is_shared_store(jobstore: BaseJobStore) -> bool:
    """
    Tell whether ``jobstore`` is a store several schedulers share, which hands out claims.

    The ``shared`` flag is read from the store's class, and only ``True`` counts. A stand-in for
    a store (a :class:`unittest.mock.MagicMock` made from a store class, as 3.x test suites
    use) answers any attribute with something truthy and even passes ``isinstance`` checks; its
    real type is a mock class, so it takes the APScheduler 3 path (``get_due_jobs``).
    """
    return getattr(type(jobstore), "shared", False) is True


def process_jobs_or_retry(scheduler: BaseScheduler) -> float | None:
    """
    Run one processing pass for a scheduler's own loop, which nothing may stop.

    ``_process_jobs()`` lets an unexpected error through, as in APScheduler 3, so that a caller
    sees it; the loop logs it and tries again after ``jobstore_retry_interval`` seconds.

    :return: the seconds to sleep, or ``None`` to sleep until woken up
    """
    try:
        return scheduler._process_jobs()
    except Exception:
        scheduler._logger.exception("Unexpected error while processing jobs")
        # until a pass succeeds, every added job must wake the scheduler
        scheduler._wakeup_deadline = None
        return scheduler.jobstore_retry_interval


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
        # A store shared by several scheduler processes hands out due jobs as leased claims
        claimed = is_shared_store(jobstore)
        try:
            if claimed:
                self._report_abandoned_runs(jobstore_alias, jobstore)
                due_jobs = jobstore.acquire_due_jobs(self.now, self.scheduler._instance_id)
            else:
                due_jobs = jobstore.get_due_jobs(self.now)
        except Exception as exc:
            self.logger.warning(
                "Error getting due jobs from job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
            return None

        if claimed:
            recorded = self._start_claimed(jobstore_alias, jobstore, due_jobs)
            batch = getattr(jobstore, "claim_batch", None)
            if recorded and batch and len(due_jobs) >= batch:
                # a full batch: more jobs may be due; come straight back for them
                self.next_wakeup_time = self.now
                return None
        else:
            # Every due job is submitted before any is rescheduled: with many jobs due at once,
            # the store writes would otherwise delay the later jobs' start.
            reschedules = [self.process_job(job, jobstore_alias, jobstore) for job in due_jobs]
            for reschedule in reschedules:
                if reschedule is not None:
                    self._reschedule(jobstore_alias, jobstore, *reschedule)

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

        # other processes may add jobs to a shared store without telling us
        poll_interval = getattr(jobstore, "poll_interval", None) if claimed else None
        if poll_interval:
            poll_at = self.now + timedelta(seconds=poll_interval)
            self.next_wakeup_time = earliest(self.next_wakeup_time, poll_at)

    def _due_runs(
        self, job: Job, jobstore_alias: str, jobstore: BaseJobStore
    ) -> tuple[BaseExecutor, list[datetime], datetime | None] | None:
        """
        Find the executor, the due run times and the next run time of ``job``.

        :return: ``None`` if the job cannot run (no such executor: it is removed; a trigger
            that raises: the job is paused)
        """
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
            return None

        try:
            run_times = runs_to_submit(job, self.now)
            job_next_run = (
                job.trigger.get_next_fire_time(run_times[-1], self.now) if run_times else None
            )
        except Exception:
            self._pause_broken_job(job, jobstore)
            return None

        return executor, run_times, job_next_run

    def process_job(
        self, job: Job, jobstore_alias: str, jobstore: BaseJobStore
    ) -> tuple[Job, datetime | None] | None:
        """
        Submit the due runs of ``job``.

        :return: the job and its next run time, for the caller to store once every due job has
            been submitted (``None`` when there is nothing left to store)
        """
        due = self._due_runs(job, jobstore_alias, jobstore)
        if due is None or not due[1]:
            return None

        executor, run_times, job_next_run = due
        self._submit(job, jobstore_alias, executor, run_times)
        return job, job_next_run

    def _reschedule(
        self, jobstore_alias: str, jobstore: BaseJobStore, job: Job, job_next_run: datetime | None
    ) -> None:
        try:
            if job_next_run:
                job._modify(next_run_time=job_next_run)
                jobstore.update_job(job)
            else:
                self.scheduler._remove_job_quietly(job.id, jobstore_alias)
        except Exception as exc:
            self.logger.warning(
                'Error updating job "%s" in job store %r: %s', job, jobstore_alias, exc
            )
            self.retry_store_later()

    def _start_claimed(self, jobstore_alias: str, jobstore: BaseJobStore, jobs: list[Job]) -> bool:
        """
        Record the due runs of the jobs claimed from a shared store as started, then submit them.

        One batch for all the claimed jobs, so that a burst of due jobs costs a few round trips
        to the store, not one per job.

        :return: whether runs were recorded (then more jobs may be due at once)
        """
        keeper = self.scheduler._run_keeper
        owner = keeper.owner
        starts: list[RunStart] = []
        executors: list[BaseExecutor] = []
        for job in jobs:
            due = self._due_runs(job, jobstore_alias, jobstore)
            if due is None:
                continue
            executor, run_times, job_next_run = due
            if not run_times:
                jobstore.release_claimed_job(job.id, owner)
                continue
            starts.append(RunStart(job, run_times, job_next_run, uuid4().hex))
            executors.append(executor)
        if not starts:
            return False

        # runs that ended since the last look must not count against max_instances
        keeper.flush(jobstore, [start.job.id for start in starts])
        try:
            outcomes = jobstore.start_claimed_runs(owner, starts)
        except Exception as exc:
            # the claims run out on their own; this or another scheduler then takes them again
            self.logger.warning(
                "Error recording job starts in job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
            return False

        for start, executor, outcome in zip(starts, executors, outcomes, strict=True):
            if outcome is RunStartOutcome.STARTED:
                keeper.track(jobstore, start.run_id)
                claim = ClaimedRunTimes(
                    start.run_times, keeper, jobstore, start.run_id, start.job.id
                )
                if not self._submit(start.job, jobstore_alias, executor, claim):
                    claim.finish()
            elif outcome is RunStartOutcome.MAX_INSTANCES:
                self._report_max_instances(start.job, jobstore_alias, start.run_times)
            else:
                self.logger.debug(
                    'Job "%s" was taken over by another scheduler before it started', start.job
                )

        return True

    def _report_abandoned_runs(self, jobstore_alias: str, jobstore: BaseJobStore) -> None:
        """Report the runs that a scheduler which has died left in progress in ``jobstore``."""
        if not self.scheduler._run_keeper.abandoned_runs_check_due(jobstore, self.now.timestamp()):
            return None

        for run in jobstore.take_abandoned_runs():
            for run_time in run.run_times:
                self.logger.warning(
                    'Run of job "%s" (scheduled at %s) was interrupted: the scheduler %s that '
                    "started it stopped or lost its job store; reporting it as missed",
                    run.job_id,
                    run_time,
                    run.owner,
                )
                self.events.append(
                    JobExecutionEvent(EVENT_JOB_MISSED, run.job_id, jobstore_alias, run_time)
                )

    def _submit(
        self, job: Job, jobstore_alias: str, executor: BaseExecutor, run_times: list[datetime]
    ) -> bool:
        """Submit the runs to the executor; tell whether it took them."""
        try:
            executor.submit_job(job, run_times)
        except MaxInstancesReachedError:
            self._report_max_instances(job, jobstore_alias, run_times)
            return False
        except Exception:
            self.logger.exception('Error submitting job "%s" to executor "%s"', job, job.executor)
            return False

        self.events.append(
            JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, jobstore_alias, list(run_times))
        )
        return True

    def _report_max_instances(
        self, job: Job, jobstore_alias: str, run_times: list[datetime]
    ) -> None:
        self.logger.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            job,
            job.max_instances,
        )
        self.events.append(
            JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, job.id, jobstore_alias, list(run_times))
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
            if is_shared_store(jobstore):
                jobstore.release_claimed_job(job.id, self.scheduler._instance_id)
        except Exception:
            self.logger.exception('Could not pause job "%s"', job)
