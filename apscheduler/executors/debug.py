"""An executor that runs jobs right away, in the thread that submits them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from apscheduler.executors.base import BaseExecutor, run_job

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.job import Job


class DebugExecutor(BaseExecutor):
    """
    A special executor that executes the target callable directly instead of deferring it to a
    thread or process.

    The scheduler waits while the job runs, which makes the order of events predictable: useful
    for debugging and tests, not for production.

    Plugin alias: ``debug``
    """

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        try:
            guard = self._thread_guard(job)
            if guard is None:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            else:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name, guard)
        except BaseException as exc:
            # run_job() catches what the job raises; this is a failure of run_job() itself
            self._run_job_error(job.id, exc, exc.__traceback__)
        else:
            self._run_job_success(job.id, events)
