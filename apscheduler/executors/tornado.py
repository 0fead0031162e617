"""An executor for the Tornado IOLoop: coroutines on the loop, everything else in threads."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from apscheduler.executors._deadlines import ThreadRunGuard
from apscheduler.executors.base import BaseExecutor, run_coroutine_job, run_job
from apscheduler.util import _with_note, iscoroutinefunction_partial

try:
    from tornado.gen import convert_yielded as convert_yielded  # a name of this module in 3.x
    from tornado.ioloop import IOLoop
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("TornadoExecutor requires tornado installed"),
        "pip install APScheduler[tornado]",
    ) from exc

if TYPE_CHECKING:
    from datetime import datetime

    from tornado.platform.asyncio import BaseAsyncIOLoop

    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler
    from apscheduler.schedulers.tornado import TornadoScheduler


class TornadoExecutor(BaseExecutor):
    """
    Runs jobs on the IOLoop of a :class:`~apscheduler.schedulers.tornado.TornadoScheduler`.

    Coroutine functions (also when wrapped in :func:`functools.partial`) run on the IOLoop;
    other callables run in a thread pool, so that blocking jobs don't stall the loop. Either
    way, listeners hear of the outcome on the IOLoop.

    A job's ``timeout`` cancels a coroutine job's task at the deadline, and raises
    ``JobTimeout`` in the thread of any other job. Either way the run is reported timed out.
    ``overlap="cancel"`` stops a run the same ways, with ``JobCancelled`` in a thread; the run
    is reported failed, with the reason.

    A job submitted from inside a running IOLoop goes to that loop, which is the scheduler's
    own when the scheduler submits it; from any other thread it goes to the scheduler's loop.

    Plugin alias: ``tornado``

    :param max_workers: the maximum number of threads for jobs that are not coroutines

    .. versionchanged:: 3.12.0
       A job submitted from inside a running loop other than the scheduler's runs there, as in
       APScheduler 3, instead of waiting for the scheduler's loop to run.
    """

    _ioloop: IOLoop | None = None

    def __init__(self, max_workers: int = 10) -> None:
        super().__init__()
        # configuration files deliver numbers as text
        self._max_workers = int(max_workers)
        self.executor = ThreadPoolExecutor(self._max_workers)
        self._pool_closed = False
        self._coroutine_futures: set[Future[Any]] = set()

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        # this executor only works with the scheduler that owns a Tornado IOLoop
        self._ioloop = cast("TornadoScheduler", scheduler)._ioloop
        if self._pool_closed:  # a scheduler may be started again after its shutdown
            self.executor = ThreadPoolExecutor(self._max_workers)
            self._pool_closed = False

    def shutdown(self, wait: bool = True) -> None:
        # the coroutine jobs cannot be waited for: that would block the loop they run on
        for future in list(self._coroutine_futures):
            future.cancel()
        self._pool_closed = True
        self.executor.shutdown(wait)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        ioloop = self._target_ioloop()
        arguments = (job, job._jobstore_alias, run_times, self._logger.name)
        if iscoroutinefunction_partial(job.func):
            # since Tornado 6.0, every IOLoop wraps an asyncio event loop
            asyncio_loop = cast("BaseAsyncIOLoop", ioloop).asyncio_loop
            # a timeout or a stop cancels the task (see run_coroutine_job)
            task_guard = self._task_guard(job, asyncio_loop)
            if task_guard is None:  # the 3.x call
                coroutine = run_coroutine_job(*arguments)
            else:
                coroutine = run_coroutine_job(*arguments, task_guard)
            # thread-safe, and the Future it returns cancels the task when cancelled
            future = asyncio.run_coroutine_threadsafe(coroutine, asyncio_loop)
            self._coroutine_futures.add(future)
        else:
            guard = self._guard_on(ioloop, job)
            if guard is None:  # the 3.x call, which test suites may patch (tornado.run_job)
                future = self.executor.submit(run_job, *arguments)
            else:
                future = self.executor.submit(run_job, *arguments, guard)

        ioloop.add_future(future, partial(self._job_finished, job.id, run_times))

    def _guard_on(self, ioloop: IOLoop, job: Job) -> ThreadRunGuard | None:
        """
        The thread guard of ``job`` (for its ``timeout``, or ``overlap="cancel"``), reporting
        its timed-out runs on ``ioloop``.
        """
        return self._thread_guard(job, partial(ioloop.add_callback, self._report_timed_out, job))

    def _target_ioloop(self) -> IOLoop:
        """
        Return the IOLoop a job submitted now goes to: the one running in this thread, if any.

        The scheduler's own loop is the running one when the scheduler submits. Code that
        submits from inside another running loop (the scheduler built, or started, before that
        loop ran) gets its jobs run on that loop, as in APScheduler 3: the scheduler's loop may
        never run at all.

        :raises RuntimeError: if no loop is running here and the scheduler has none either
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # the executor may have been started before its scheduler picked a loop
            ioloop = self._ioloop or getattr(self._scheduler, "_ioloop", None)
            if ioloop is None:
                raise RuntimeError(
                    "TornadoExecutor has no IOLoop to run jobs on: start its scheduler, or "
                    "submit jobs from a running IOLoop"
                ) from None
            return ioloop

        return IOLoop.current()

    def _job_finished(self, job_id: str, run_times: list[datetime], future: Future[Any]) -> None:
        self._coroutine_futures.discard(future)
        if future.cancelled():
            self._release_instance(job_id, run_times)
            self._logger.info("Job %s was cancelled: its executor shut down", job_id)
            return

        try:
            events = future.result()
        except BaseException as exc:
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, events)
