"""An executor that runs jobs in the thread pool of a Twisted reactor."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, cast

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.util import _with_note

try:
    import twisted  # noqa: F401  (only to fail early, with the fix, when it is missing)
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("TwistedExecutor requires Twisted installed"),
        "pip install APScheduler[twisted]",
    ) from exc

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.schedulers.twisted import TwistedScheduler


class TwistedExecutor(BaseExecutor):
    """
    Runs jobs in the reactor's thread pool, then reports their outcome on the reactor thread.

    The pool belongs to the reactor and stops with it, so :meth:`~.BaseExecutor.shutdown`
    leaves it alone.

    A job's ``timeout`` raises ``JobTimeout`` in the job's thread at the deadline, and the run
    is reported timed out then. ``overlap="cancel"`` stops a run the same way, with
    ``JobCancelled``; the run is reported failed, with the reason.

    Plugin alias: ``twisted``
    """

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        # this executor only works with the scheduler that owns a Twisted reactor
        self._reactor = cast("TwistedScheduler", scheduler)._reactor

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        arguments: tuple[Any, ...] = (job, job._jobstore_alias, run_times, self._logger.name)
        guard = self._thread_guard(job)
        if guard is not None:
            arguments += (guard,)
        # without a timeout, the 3.x call, which test suites may patch (twisted.run_job)
        self._reactor.getThreadPool().callInThreadWithCallback(
            partial(self._job_finished, job.id), run_job, *arguments
        )

    def _report_timed_out(self, job: Job, run_time: datetime) -> None:
        # the deadline passes in the watcher's thread; listeners hear of outcomes on the reactor
        self._reactor.callFromThread(super()._report_timed_out, job, run_time)

    def _job_finished(self, job_id: str, success: bool, result: Any) -> None:
        # runs in the pool's thread; listeners may use the reactor, which wants its own thread
        if success:
            self._reactor.callFromThread(self._run_job_success, job_id, result)
        else:
            self._reactor.callFromThread(
                self._run_job_error, job_id, result.value, result.getTracebackObject()
            )
