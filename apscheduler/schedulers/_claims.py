"""
Running a job claimed from a store that several scheduler processes share.

A claimed job is leased to this scheduler for a short time. Each of its run times is recorded
in the store (the job's next run time moves past it) at the moment the run starts, in the
thread that runs it, and only if the lease is still ours. So a run time is started by exactly
one process: if this process dies before a run starts, the lease expires and another process
runs it (or reports it missed); once a run has started, the store no longer offers it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.jobstores.base import BaseJobStore

_logger = logging.getLogger("apscheduler.scheduler")


class ClaimedRunTimes(list):
    """
    The run times of a claimed job, as handed to an executor, with the gate each run must pass.

    It is a plain list to every executor (the 3.x ``run_job`` contract); :func:`run_job` asks
    :meth:`start` before each run. Pickled (for a process pool), it becomes a plain list: the
    scheduler records such runs at submission instead.
    """

    def __init__(
        self,
        run_times: Sequence[datetime],
        job: Job,
        store: BaseJobStore,
        owner: str,
        final_next_run_time: datetime | None,
    ) -> None:
        super().__init__(run_times)
        self._job = job
        self._store = store
        self._owner = owner
        self._final_next_run_time = final_next_run_time

    def __reduce__(self) -> tuple:
        return list, (list(self),)

    def next_run_time_after(self, index: int) -> datetime | None:
        """The job's next run time once the run at ``index`` has started."""
        if index + 1 < len(self):
            return self[index + 1]

        return self._final_next_run_time

    def start(self, index: int) -> bool:
        """
        Record in the store that the run at ``index`` starts now; tell whether it may start.

        ``False`` means the lease was lost (another process owns these runs now) or the store
        could not be reached; either way the run is not ours to start, and it is not lost: the
        store still offers it.
        """
        is_last = index + 1 == len(self)
        try:
            return self._store.advance_claimed_job(
                self._job, self._owner, self.next_run_time_after(index), release=is_last
            )
        except Exception:
            _logger.exception(
                'Could not record the start of job "%s" in its store; leaving the run to the '
                "next scheduler that claims it",
                self._job,
            )
            return False

    def skip_all(self) -> None:
        """Record that none of these runs happens (not submitted): move past them, release."""
        try:
            self._store.advance_claimed_job(
                self._job, self._owner, self._final_next_run_time, release=True
            )
        except Exception:
            _logger.exception('Could not move job "%s" past its skipped run times', self._job)


def start_gate(run_times: Sequence[datetime]) -> ClaimedRunTimes | None:
    """Return the claim behind ``run_times``, if the job was claimed from a shared store."""
    return run_times if isinstance(run_times, ClaimedRunTimes) else None
