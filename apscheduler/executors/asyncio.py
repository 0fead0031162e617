"""An executor that runs jobs on the asyncio event loop of its scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from apscheduler.executors._deadlines import TaskRunGuard, ThreadRunGuard
from apscheduler.executors.base import BaseExecutor, run_coroutine_job, run_job
from apscheduler.util import iscoroutinefunction_partial

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.job import Job
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.schedulers.base import BaseScheduler


def _call_in_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    """
    Run ``callback`` in ``loop``'s thread: right away if already there, else on its next turn.

    A loop that is not running (yet, or any more) has no thread to protect, so the callback
    runs right away then too; that also works for a loop that is already closed.
    """
    try:
        running_loop = asyncio.get_running_loop()
    except RuntimeError:
        running_loop = None

    if running_loop is loop or not loop.is_running():
        callback()
    else:
        loop.call_soon_threadsafe(callback)


class AsyncIOExecutor(BaseExecutor):
    """
    Runs jobs on the event loop of an :class:`~apscheduler.schedulers.asyncio.AsyncIOScheduler`.

    Coroutine functions (also when wrapped in :func:`functools.partial`) run as tasks on the
    loop. Other callables run in the loop's default executor (a thread pool), so a job that
    blocks never stalls the loop.

    A job's ``timeout`` cancels a coroutine job's task at the deadline, and raises
    ``JobTimeout`` in the thread of any other job. Either way the run is reported timed out.
    ``overlap="cancel"`` stops a run the same ways, with ``JobCancelled`` in a thread; the run
    is reported failed, with the reason.

    :meth:`~.BaseExecutor.shutdown` cancels the jobs that have not finished: a coroutine job gets
    :exc:`~asyncio.CancelledError` at the ``await`` it is waiting on. It cannot wait for them
    (``wait`` is ignored), as waiting would block the very loop the jobs need to finish.

    Plugin alias: ``asyncio``
    """

    _eventloop: asyncio.AbstractEventLoop | None = None

    def __init__(self) -> None:
        super().__init__()
        self._pending_futures: set[asyncio.Future[Any]] = set()

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        # this executor only works with the scheduler that owns an asyncio event loop
        self._eventloop = cast("AsyncIOScheduler", scheduler)._eventloop

    def shutdown(self, wait: bool = True) -> None:
        if self._eventloop is not None:
            _call_in_loop(self._eventloop, self._cancel_pending_futures)

    def _cancel_pending_futures(self) -> None:
        try:
            # a coroutine job may shut the scheduler down; it must not cancel itself doing so
            current_task = asyncio.current_task()
        except RuntimeError:
            current_task = None

        for future in list(self._pending_futures):
            if future is not current_task:
                future.cancel()

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # jobs are only submitted once start() has given this executor its loop
        loop = cast(asyncio.AbstractEventLoop, self._eventloop)
        # the guards are made now, not in the loop: a run stopped before it starts does not
        # start (overlap="cancel")
        if iscoroutinefunction_partial(job.func):
            start = partial(self._start_task, job, run_times, self._task_guard(job, loop))
        else:
            start = partial(self._start_in_thread, job, run_times, self._thread_guard(job))
        _call_in_loop(loop, start)

    def _start_task(self, job: Job, run_times: list[datetime], guard: TaskRunGuard | None) -> None:
        loop = cast(asyncio.AbstractEventLoop, self._eventloop)
        arguments = (job, job._jobstore_alias, run_times, self._logger.name)
        # a timeout or a stop cancels the task (see run_coroutine_job); without a guard, the
        # 3.x call
        coroutine = (
            run_coroutine_job(*arguments)
            if guard is None
            else run_coroutine_job(*arguments, guard)
        )
        self._track(loop.create_task(coroutine), job.id, run_times)

    def _start_in_thread(
        self, job: Job, run_times: list[datetime], guard: ThreadRunGuard | None
    ) -> None:
        loop = cast(asyncio.AbstractEventLoop, self._eventloop)
        arguments = (job, job._jobstore_alias, run_times, self._logger.name)
        if guard is None:  # the 3.x call, which test suites may patch (asyncio.run_job)
            future = loop.run_in_executor(None, run_job, *arguments)
        else:
            future = loop.run_in_executor(None, run_job, *arguments, guard)
        self._track(future, job.id, run_times)

    def _track(self, future: asyncio.Future[Any], job_id: str, run_times: list[datetime]) -> None:
        """Keep ``future`` for shutdown(), and report its runs once it is done."""
        self._pending_futures.add(future)
        future.add_done_callback(partial(self._job_finished, job_id, run_times))

    def _report_timed_out(self, job: Job, run_time: datetime) -> None:
        # the deadline passes in the watcher's thread; listeners hear of outcomes on the loop
        loop = cast(asyncio.AbstractEventLoop, self._eventloop)
        _call_in_loop(loop, partial(super()._report_timed_out, job, run_time))

    def _job_finished(
        self, job_id: str, run_times: list[datetime], future: asyncio.Future[Any]
    ) -> None:
        self._pending_futures.discard(future)
        if future.cancelled():
            self._release_instance(job_id, run_times)
            self._logger.info("Job %s was cancelled: its executor shut down", job_id)
            return

        exc = future.exception()
        if exc is None:
            self._run_job_success(job_id, future.result())
        else:
            self._run_job_error(job_id, exc, exc.__traceback__)
