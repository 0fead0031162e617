"""Executors that hand jobs to a :mod:`concurrent.futures` thread or process pool."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
from concurrent.futures import BrokenExecutor, Future
from functools import partial
from typing import TYPE_CHECKING, Any

from apscheduler.executors.base import BaseExecutor, run_job, run_job_in_process

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler


class BasePoolExecutor(BaseExecutor):
    """
    Runs jobs in a :class:`concurrent.futures.Executor`.

    Subclasses that can build a fresh pool (by overriding :meth:`_create_pool`) get two extras:
    a pool that breaks (a worker process killed by the operating system, for example) is
    replaced instead of failing every later job, and the executor can be started again after
    ``shutdown()``, as happens when a scheduler is shut down and restarted.

    :param pool: the pool to submit jobs to
    """

    def __init__(self, pool: concurrent.futures.Executor) -> None:
        super().__init__()
        self._pool = pool
        self._pool_closed = False

    def _create_pool(self) -> concurrent.futures.Executor | None:
        """Return a new pool like the current one, or ``None`` if this executor cannot."""
        return None

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        with self._lock:
            if self._pool_closed:
                fresh_pool = self._create_pool()
                if fresh_pool is not None:
                    self._pool = fresh_pool
                    self._pool_closed = False

    def shutdown(self, wait: bool = True) -> None:
        if self._lock is None:  # never started
            self._pool_closed = True
            self._pool.shutdown(wait)
            return

        with self._lock:
            pool = self._pool
            self._pool_closed = True

        # Not under the lock: with wait=True, the jobs still running need the lock to report
        # their results, and waiting for them while holding it would deadlock.
        pool.shutdown(wait)

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """
        Count the instance under the lock, then hand the runs to the pool without it.

        The hand-over (a future, a queue, a thread woken) takes longer than the count, and
        every run that ends takes the same lock to count itself out: in a burst of due jobs,
        the pool's threads queued behind the scheduler's thread for it instead of taking the
        next job. A subclass's own ``_do_submit_job`` still runs under the lock, as in
        APScheduler 3, and so does the hand-over of a job with run options: with
        ``overlap="cancel"``, a run must be known to the lock's holder as soon as it is counted,
        so that a newer one can stop it.
        """
        hand_over = getattr(self._do_submit_job, "__func__", None)
        if job._control is not None or hand_over is not BasePoolExecutor._do_submit_job:
            super().submit_job(job, run_times)
            return

        assert self._lock is not None, "This executor has not been started yet"
        with self._lock:
            admitted = self._admit(job, run_times)
        if admitted:
            self._hand_over(job, run_times)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # Read once: a pool that broke and was replaced meanwhile fails the submission with
        # BrokenExecutor, and the replacement is used instead.
        pool = self._pool
        try:
            future = self._submit_to(pool, job, run_times)
        except BrokenExecutor as exc:
            # the pool broke before the callback of the failed job could replace it
            fresh_pool = self._replace_broken_pool(pool, exc)
            if fresh_pool is None:
                raise

            pool = fresh_pool
            future = self._submit_to(pool, job, run_times)

        future.add_done_callback(partial(self._job_finished, job.id, run_times, pool))

    def _submit_to(
        self, pool: concurrent.futures.Executor, job: Job, run_times: list[datetime]
    ) -> Future[Any]:
        """Hand the runs to ``pool``; in a thread of this process, its timeout is kept here."""
        alias, logger_name = job._jobstore_alias, self._logger.name
        guard = self._thread_guard(job)
        if guard is None:  # the 3.x call, which test suites may patch (pool.run_job)
            return pool.submit(run_job, job, alias, run_times, logger_name)
        return pool.submit(run_job, job, alias, run_times, logger_name, guard)

    def _job_finished(
        self,
        job_id: str,
        run_times: list[datetime],
        pool: concurrent.futures.Executor,
        future: Future[Any],
    ) -> None:
        if future.cancelled():
            self._release_instance(job_id, run_times)
            return

        exc = future.exception()
        if exc is None:
            self._run_job_success(job_id, future.result())
            return

        if isinstance(exc, BrokenExecutor):
            self._replace_broken_pool(pool, exc)

        self._run_job_error(job_id, exc, exc.__traceback__)

    def _replace_broken_pool(
        self, broken_pool: concurrent.futures.Executor, reason: BaseException
    ) -> concurrent.futures.Executor | None:
        """
        Swap in a fresh pool for ``broken_pool``, unless that already happened.

        Every job that was queued in a broken pool fails with the same error, so this runs once
        per failed job; only the first call for a given pool replaces it.

        :return: the pool to use from now on, or ``None`` if no fresh pool could be made
        """
        with self._lock:
            if self._pool is not broken_pool:
                return self._pool

            if self._pool_closed:
                return None

            fresh_pool = self._create_pool()
            if fresh_pool is None:
                return None

            self._logger.warning(
                "The %s is broken (%s); replacing it with a fresh one",
                type(broken_pool).__name__,
                reason,
            )
            # The broken pool is not shut down here: it has already failed its futures and
            # cleans up after itself, and this may run in that pool's own management thread.
            self._pool = fresh_pool
            return fresh_pool


class ThreadPoolExecutor(BasePoolExecutor):
    """
    An executor that runs jobs in a concurrent.futures thread pool.

    Plugin alias: ``threadpool``

    :param max_workers: the maximum number of spawned threads.
    :param pool_kwargs: dict of keyword arguments to pass to the underlying
        ThreadPoolExecutor constructor
    """

    def __init__(self, max_workers: int = 10, pool_kwargs: dict[str, Any] | None = None) -> None:
        # configuration files deliver numbers as text
        self._max_workers = int(max_workers)
        self._pool_kwargs = dict(pool_kwargs or {})
        super().__init__(self._create_pool())

    def _create_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        return concurrent.futures.ThreadPoolExecutor(self._max_workers, **self._pool_kwargs)

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        self._start_worker_threads()

    def _start_worker_threads(self) -> None:
        """
        Start all the pool's threads now, while nothing competes with them for the GIL.

        A pool starts a thread when a job arrives and no thread is idle, and starting one waits
        until the new thread has run. In the middle of a burst of due jobs that wait is long
        (the busy threads hold the GIL), so lazily started threads made the first burst of jobs
        late by milliseconds per thread.
        """
        with self._lock:
            pool = self._pool
            if self._pool_closed or not isinstance(pool, concurrent.futures.ThreadPoolExecutor):
                return

            # Every thread blocks on the gate until all are submitted, so none becomes idle
            # early and the pool has to start a new thread for each task.
            gate = threading.Event()
            try:
                for _ in range(self._max_workers):
                    pool.submit(gate.wait)
            finally:
                gate.set()


class ProcessPoolExecutor(BasePoolExecutor):
    """
    An executor that runs jobs in a concurrent.futures process pool.

    Jobs are pickled on their way to the worker processes, so their callables and arguments
    must be picklable and the callables reachable by a ``module:name`` reference. Worker
    processes are started with the ``spawn`` method (a clean interpreter, safe even when the
    scheduler process runs threads), unless ``pool_kwargs`` gives an ``mp_context``.

    If a worker dies (killed by a signal, for example), the job it ran is reported as failed and
    the pool is replaced, so later jobs run normally.

    Plugin alias: ``processpool``

    :param max_workers: the maximum number of spawned processes.
    :param pool_kwargs: dict of keyword arguments to pass to the underlying
        ProcessPoolExecutor constructor
    """

    def __init__(self, max_workers: int = 10, pool_kwargs: dict[str, Any] | None = None) -> None:
        self._max_workers = int(max_workers)
        self._pool_kwargs = dict(pool_kwargs or {})
        self._pool_kwargs.setdefault("mp_context", multiprocessing.get_context("spawn"))
        super().__init__(self._create_pool())

    def _create_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(self._max_workers, **self._pool_kwargs)

    def _submit_to(
        self, pool: concurrent.futures.Executor, job: Job, run_times: list[datetime]
    ) -> Future[Any]:
        alias, logger_name = job._jobstore_alias, self._logger.name
        if job.timeout is None:
            return pool.submit(run_job, job, alias, run_times, logger_name)
        # kept in the worker, where the job runs in the main thread: an alarm signal stops it
        return pool.submit(run_job_in_process, job, alias, run_times, logger_name)
