"""An executor that runs jobs where they are submitted."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from apscheduler.executors.base import BaseExecutor, run_job

if TYPE_CHECKING:
    from apscheduler.job import Job


class InlineExecutor(BaseExecutor):
    """Runs each job in the scheduler's own thread, as soon as it is submitted."""

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        try:
            events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
        except Exception as exc:
            self._run_job_error(job.id, exc, exc.__traceback__)
        else:
            self._run_job_success(job.id, events)
