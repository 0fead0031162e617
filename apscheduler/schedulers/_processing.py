"""The scheduler's processing step: find due jobs, submit them, reschedule them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from threading import TIMEOUT_MAX
from typing import TYPE_CHECKING, NamedTuple, cast

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.job import random_uuid_hex
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.shared import (
    ClaimedJobs,
    RunRequest,
    RunStart,
    RunStartOutcome,
    SharedJobStore,
    is_shared_store as is_shared_store,
)
from apscheduler.runs import FAILED, SKIPPED
from apscheduler.schedulers._run_history import GivenRun, describe_time

if TYPE_CHECKING:
    from apscheduler.executors.base import BaseExecutor
    from apscheduler.job import Job
    from apscheduler.jobstores.base import BaseJobStore
    from apscheduler.schedulers.base import BaseScheduler


def runs_to_submit(job: Job, now: datetime) -> list[datetime]:
    """Return the run times of ``job`` due by ``now``; only the latest one when coalescing."""
    return due_run_times(job, now)[0]


def due_run_times(job: Job, now: datetime) -> tuple[list[datetime], list[datetime]]:
    """
    Return the run times of ``job`` due by ``now``: those to submit, and those coalesced.

    When coalescing, only the latest one is submitted; the others are skipped into it.
    """
    run_times = job._get_run_times(now)
    if len(run_times) > 1 and job.coalesce:
        return run_times[-1:], run_times[:-1]

    return run_times, []


class DueRuns(NamedTuple):
    """What :meth:`ProcessingPass._due_runs` found for one job."""

    executor: BaseExecutor
    run_times: list[datetime]
    next_run_time: datetime | None
    #: the run times skipped into the last of ``run_times`` (the job coalesces)
    coalesced: list[datetime]


def requested_run_ids(requests: Sequence[RunRequest]) -> dict[float, GivenRun] | None:
    """The run ids and attempts of runs asked for, by run timestamp (as the recorder takes them)."""
    if not requests:
        return None
    return {
        request.requested_at.timestamp(): (request.run_id, request.attempt) for request in requests
    }


def _instant(moment: datetime) -> float:
    return moment.timestamp()


def new_run_id() -> str:
    """A fresh id for a run started in a shared store (a ``uuid4().hex``)."""
    return random_uuid_hex()


def _set_next_run_time(job: Job, next_run_time: datetime) -> None:
    """Give ``job`` the next run time its trigger returned."""
    # Runs while a job just handed to a thread waits for this one to let go of the
    # interpreter: an aware datetime, what triggers return, needs none of the checks and
    # conversions of _modify() (which would leave it as it is).
    if isinstance(next_run_time, datetime) and next_run_time.tzinfo is not None:
        job.next_run_time = next_run_time
    else:
        job._modify(next_run_time=next_run_time)


def seconds_until(wakeup_time: datetime | None, now: datetime) -> float | None:
    """Return how long to sleep until ``wakeup_time`` (``None``: until woken up)."""
    if wakeup_time is None:
        return None

    # timestamps, not datetime arithmetic: two datetimes in the same zone subtract by wall clock
    # and would be an hour off across a DST fold
    return min(max(wakeup_time.timestamp() - now.timestamp(), 0.0), TIMEOUT_MAX)


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
        if is_shared_store(jobstore):
            self._process_shared_store(jobstore_alias, cast(SharedJobStore, jobstore))
            return

        try:
            due_jobs = jobstore.get_due_jobs(self.now)
        except Exception as exc:
            self._store_unreachable(jobstore_alias, exc)
            self.logger.warning(
                "Error getting due jobs from job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
            return

        self.scheduler._run_recorder.store_reachable(jobstore_alias)
        # Every due job is submitted before any is rescheduled: with many jobs due at once,
        # the triggers and the store writes would otherwise delay the later jobs' start.
        submitted = [self._submit_due(job, jobstore_alias, jobstore) for job in due_jobs]
        for job, last_run_time in zip(due_jobs, submitted, strict=True):
            if last_run_time is not None:
                self._reschedule_after(jobstore_alias, jobstore, job, last_run_time)

        try:
            store_next_run_time = jobstore.get_next_run_time()
        except Exception as exc:
            self.logger.warning(
                "Error getting the next run time from job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
        else:
            self._wake_at(store_next_run_time)

    def process_retries(self) -> None:
        """Submit the retries waiting in the scheduler's memory that are due (see _retries)."""
        scheduler = self.scheduler
        retries = scheduler._retries
        for retry in retries.take_due(self.now):
            try:
                job = scheduler._lookup_job(retry.job.id, retry.jobstore)[0]
            except JobLookupError:
                job = retry.job  # its schedule ended with the run that failed: it is kept here
            try:
                executor = scheduler._lookup_executor(job.executor)
            except KeyError:
                self.logger.error('Executor "%s" of job "%s" is gone: no retry', job.executor, job)
                continue
            given = {retry.retry_at.timestamp(): (retry.run_id, retry.attempt)}
            self._submit(job, retry.jobstore, executor, [retry.retry_at], [], given)
        self._wake_at(retries.next_retry_time())

    def _store_unreachable(self, jobstore_alias: str, exc: BaseException) -> None:
        self.scheduler._run_recorder.store_unreachable(jobstore_alias, exc)

    def _wake_at(self, run_time: datetime | None) -> None:
        """Make sure this pass's scheduler wakes up by ``run_time`` (``None``: no need)."""
        if run_time is not None:
            self.next_wakeup_time = earliest(
                self.next_wakeup_time, run_time.astimezone(self.scheduler.timezone)
            )

    def _process_shared_store(self, jobstore_alias: str, jobstore: SharedJobStore) -> None:
        """
        Claim the due jobs of a store several schedulers share, then start and submit them.

        Two round trips to the store on the way to the executors: the claim (which also says
        when the store next has work) and the start of the whole batch. The look for abandoned
        runs, once per lease time, comes between them where the claim found runs in progress.
        """
        try:
            claimed = jobstore.acquire_due_jobs(self.now, self.scheduler._run_leases.owner)
            self._report_abandoned_runs(jobstore_alias, jobstore, claimed.runs_in_progress)
        except Exception as exc:
            self._store_unreachable(jobstore_alias, exc)
            self.logger.warning(
                "Error getting due jobs from job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
            return

        self.scheduler._run_recorder.store_reachable(jobstore_alias)
        self._wake_at(claimed.next_run_time)
        started = self._start_claimed(jobstore_alias, jobstore, claimed)
        more_due = claimed.next_run_time is not None and claimed.next_run_time <= self.now
        if started and more_due and len(claimed.jobs) >= jobstore.claim_batch:
            # a full batch, and more jobs were due: come straight back for them
            self.next_wakeup_time = self.now
            return

        # other processes may add jobs to a shared store without telling us
        if jobstore.poll_interval:
            self._wake_at(self.now + timedelta(seconds=jobstore.poll_interval))

    def _executor_of(self, job: Job, jobstore_alias: str) -> BaseExecutor | None:
        """The executor of ``job``; ``None`` if there is no such executor (the job is removed)."""
        scheduler = self.scheduler
        try:
            return scheduler._lookup_executor(job.executor)
        except KeyError:
            self.logger.error(
                'Executor lookup ("%s") failed for job "%s" -- removing it from the job store',
                job.executor,
                job,
            )
            scheduler._remove_job_quietly(job.id, jobstore_alias)
            return None

    def _due_runs(self, job: Job, jobstore_alias: str, jobstore: BaseJobStore) -> DueRuns | None:
        """
        Find the executor, the due run times and the next run time of ``job``.

        :return: ``None`` if the job cannot run (no such executor: it is removed; a trigger
            that raises: the job is paused)
        """
        executor = self._executor_of(job, jobstore_alias)
        if executor is None:
            return None

        try:
            run_times, coalesced = due_run_times(job, self.now)
            job_next_run = (
                job.trigger.get_next_fire_time(run_times[-1], self.now) if run_times else None
            )
        except Exception:
            self._pause_broken_job(job, jobstore)
            return None

        return DueRuns(executor, run_times, job_next_run, coalesced)

    def _submit_due(
        self, job: Job, jobstore_alias: str, jobstore: BaseJobStore
    ) -> datetime | None:
        """
        Submit the due runs of ``job``, leaving its next run time for later.

        The trigger is asked for the next run time only once the runs are on their way (see
        :meth:`_reschedule_after`): finding the due runs answered the same question already,
        and nothing of the submission depends on the answer.

        :return: the last run time submitted (``None``: nothing was, nothing is left to store)
        """
        executor = self._executor_of(job, jobstore_alias)
        if executor is None:
            return None

        try:
            run_times, coalesced = due_run_times(job, self.now)
        except Exception:
            self._pause_broken_job(job, jobstore)
            return None

        if not run_times:
            return None

        self._submit(job, jobstore_alias, executor, run_times, coalesced)
        return run_times[-1]

    def _reschedule_after(
        self, jobstore_alias: str, jobstore: BaseJobStore, job: Job, last_run_time: datetime
    ) -> None:
        """Store the run time of ``job`` after ``last_run_time``; a trigger that raises pauses it."""
        try:
            next_run_time = job.trigger.get_next_fire_time(last_run_time, self.now)
        except Exception:
            self._pause_broken_job(job, jobstore)
            return

        self._reschedule(jobstore_alias, jobstore, job, next_run_time)

    def _reschedule(
        self, jobstore_alias: str, jobstore: BaseJobStore, job: Job, job_next_run: datetime | None
    ) -> None:
        try:
            if job_next_run:
                _set_next_run_time(job, job_next_run)
                jobstore.update_job(job)
            else:
                self.scheduler._remove_job_quietly(job.id, jobstore_alias)
        except Exception as exc:
            self.logger.warning(
                'Error updating job "%s" in job store %r: %s', job, jobstore_alias, exc
            )
            self.retry_store_later()

    def _start_claimed(
        self, jobstore_alias: str, jobstore: SharedJobStore, claimed: ClaimedJobs
    ) -> bool:
        """
        Move the claimed jobs on, record their due runs as started, then submit them.

        One batch for all the claimed jobs, so that a burst of due jobs costs one round trip to
        the store, not one per job. The runs asked for (``run_job_now``) start with the due
        ones, and leave the schedule as it is.

        :return: whether runs were recorded (then more jobs may be due at once)
        """
        leases = self.scheduler._run_leases
        starts: list[RunStart] = []
        dues: list[DueRuns] = []
        for job in claimed.jobs:
            due = self._due_runs(job, jobstore_alias, jobstore)
            if due is None:
                continue
            requests = claimed.requests.get(job.id, ())
            if not due.run_times and not requests:
                jobstore.release_claimed_job(job.id, leases.owner)
                self._wake_at(job.next_run_time)
                continue
            if due.run_times:
                job._modify(next_run_time=due.next_run_time)
            if requests:
                asked = [request.requested_at for request in requests]
                due = due._replace(run_times=sorted(due.run_times + asked, key=_instant))
            starts.append(RunStart(job, due.run_times, new_run_id(), requests))
            dues.append(due)
        if not starts:
            return False

        # runs that ended since the last look must not count against max_instances
        leases.flush(jobstore, [start.job.id for start in starts])
        sent_at = time.monotonic()
        try:
            outcomes = jobstore.start_claimed_runs(leases.owner, starts)
        except Exception as exc:
            # the claims run out on their own; this or another scheduler then takes them again
            self._store_unreachable(jobstore_alias, exc)
            self.logger.warning(
                "Error recording job starts in job store %r: %s", jobstore_alias, exc
            )
            self.retry_store_later()
            return False

        for start, due, outcome in zip(starts, dues, outcomes, strict=True):
            job = start.job
            if outcome is RunStartOutcome.LOST:
                self.logger.debug(
                    'Job "%s" was taken over by another scheduler before it started', job
                )
                continue

            self._wake_at(job.next_run_time)
            run_ids = requested_run_ids(start.requests)
            if outcome is RunStartOutcome.MAX_INSTANCES:
                self._record_coalesced(job, jobstore_alias, start.run_times, due.coalesced)
                self.scheduler._run_recorder.skipped(
                    job,
                    jobstore_alias,
                    start.run_times,
                    f"max_instances={job.max_instances} reached",
                    self.now,
                    run_ids,
                )
                self._report_max_instances(job, jobstore_alias, start.run_times)
                continue

            leases.track(jobstore, start.run_id, job.id, start.run_times, sent_at)
            submitted = self._submit(
                job, jobstore_alias, due.executor, start.run_times, due.coalesced, run_ids
            )
            if not submitted:
                leases.ended(job.id, start.run_times)

        return True

    def _report_abandoned_runs(
        self, jobstore_alias: str, jobstore: SharedJobStore, runs_in_progress: bool
    ) -> None:
        """
        Report the runs that a scheduler which has died left in progress in ``jobstore``.

        :param runs_in_progress: whether the store had runs in progress at this pass's claim
            (if not, there is nothing to look for)
        """
        leases = self.scheduler._run_leases
        now = self.now.timestamp()
        if not runs_in_progress:
            leases.no_runs_in_progress(jobstore, now)
        if not leases.abandoned_runs_check_due(jobstore, now):
            return None

        for run in jobstore.take_abandoned_runs():
            self.scheduler._run_recorder.lost(run.job_id, jobstore_alias, run.run_times, run.owner)
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
        self,
        job: Job,
        jobstore_alias: str,
        executor: BaseExecutor,
        run_times: list[datetime],
        coalesced: list[datetime],
        run_ids: Mapping[float, GivenRun] | None = None,
    ) -> bool:
        """
        Submit the runs to the executor; tell whether it took them.

        :param run_ids: the ids and attempt numbers that runs asked for (or retries) have
            already, by run timestamp
        """
        recorder = self.scheduler._run_recorder
        if run_ids:
            retries = self.scheduler._retries
            for run_time in run_times:
                given = run_ids.get(run_time.timestamp())
                if given is not None:
                    retries.submitting(jobstore_alias, job.id, run_time, given[1])
        if coalesced:
            self._record_coalesced(job, jobstore_alias, run_times, coalesced)
        # recorded first: an executor that runs the job at once reports its end from in here
        runs = recorder.submitting(job, jobstore_alias, run_times, self.now, run_ids)
        try:
            executor.submit_job(job, run_times)
        except MaxInstancesReachedError:
            reason = f"max_instances={job.max_instances} reached"
            recorder.not_submitted(runs, SKIPPED, self.now, reason=reason)
            self._report_max_instances(job, jobstore_alias, run_times)
            return False
        except Exception as exc:
            recorder.not_submitted(runs, FAILED, self.now, error=exc)
            self.logger.exception('Error submitting job "%s" to executor "%s"', job, job.executor)
            return False
        finally:
            # only now: the writer thread, woken before the executor, would take the
            # interpreter from the job's thread at the job's start
            recorder.wake_writer()

        self.events.append(
            JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, jobstore_alias, list(run_times))
        )
        return True

    def _record_coalesced(
        self, job: Job, jobstore_alias: str, run_times: list[datetime], coalesced: list[datetime]
    ) -> None:
        if coalesced:
            reason = f"coalesced into the run at {describe_time(run_times[-1])}"
            self.scheduler._run_recorder.skipped(job, jobstore_alias, coalesced, reason, self.now)

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
                cast(SharedJobStore, jobstore).release_claimed_job(
                    job.id, self.scheduler._run_leases.owner
                )
        except Exception:
            self.logger.exception('Could not pause job "%s"', job)
