"""
Runs of jobs claimed from a store that several scheduler processes share.

A scheduler records in the store the runs it submits, as *runs in progress* leased to it, and
keeps renewing that lease until each run ends. This is how ``max_instances`` holds across
processes (the store counts a job's runs in progress), and how a run is never silently lost:
if the process dies after submitting a run, its lease expires and another scheduler reports
the run as missed, since nobody can tell whether it ran to the end. A run that was claimed but
not yet submitted is simply claimed again by another scheduler once the job's lease expires.

:class:`RunKeeper` does the renewing and the forgetting for one scheduler, in a thread of its
own, so that job threads never wait for the store: a run that ends is queued, and the queue is
flushed in one round trip per store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.jobstores.base import BaseJobStore

#: seconds a run in progress stays leased, for stores that do not say
DEFAULT_LEASE_TIME = 5.0
#: seconds between tries to forget ended runs while their store fails
RETRY_PAUSE = 1.0


class ClaimedRunTimes(list[datetime]):
    """
    The run times of one submission of a claimed job, as handed to an executor.

    It is a plain list to every executor (the 3.x ``run_job`` contract). The executor base
    class calls :meth:`finish` when it releases the job instance, which lets the scheduler
    forget the runs in the store. Pickled (for a process pool), it becomes a plain list.
    """

    def __init__(
        self,
        run_times: Sequence[datetime],
        keeper: RunKeeper,
        store: BaseJobStore,
        run_id: str,
        job_id: str,
    ) -> None:
        super().__init__(run_times)
        self.run_id = run_id
        self.job_id = job_id
        self._keeper = keeper
        self._store = store
        self._finished = False
        #: set by :func:`~apscheduler.executors.base.run_job` once the runs have ended, so that
        #: the executor finishes this submission, not another of the same job
        self.ended = False

    def __reduce__(self) -> tuple[type[list[datetime]], tuple[list[datetime]]]:
        return list, (list(self),)

    def finish(self) -> None:
        """Forget the runs in the store (once; later calls do nothing)."""
        if not self._finished:
            self._finished = True
            self._keeper.finish(self._store, self.run_id, self.job_id)


class RunKeeper:
    """
    Keeps one scheduler's runs in progress alive in the shared stores, and forgets ended ones.

    The thread starts with the first run it keeps; a scheduler that never submits claimed
    runs has none.

    :param owner: the scheduler instance the runs are leased to
    """

    def __init__(self, owner: str, logger: logging.Logger) -> None:
        self.owner = owner
        self._logger = logger
        self._condition = threading.Condition()
        self._in_progress: defaultdict[BaseJobStore, set[str]] = defaultdict(set)
        # store → run id → job id, of the runs that ended and are not forgotten yet
        self._ended: defaultdict[BaseJobStore, dict[str, str]] = defaultdict(dict)
        # store → the jobs of the ended runs that a forget under way is taking out of the store
        self._forgetting_jobs: dict[BaseJobStore, set[str]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._abandoned_checks: dict[BaseJobStore, float] = {}
        # held while ended runs are taken and forgotten, so that flush() also waits for a
        # forget that the thread has under way
        self._forgetting = threading.Lock()

    def abandoned_runs_check_due(self, store: BaseJobStore, now: float) -> bool:
        """
        Tell whether it is time to look for runs that died with their scheduler in ``store``.

        Such runs appear only when a lease expires, so looking once per lease time is enough.

        :param now: the time of the scheduler's pass, as a timestamp
        """
        if self._abandoned_checks.get(store, 0.0) > now:
            return False
        self._abandoned_checks[store] = now + getattr(store, "lease_time", DEFAULT_LEASE_TIME)
        return True

    def track(self, store: BaseJobStore, run_id: str) -> None:
        """Keep the runs ``run_id`` (just recorded in ``store``) alive until they end."""
        with self._condition:
            self._in_progress[store].add(run_id)
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._run, name="APScheduler run keeper", daemon=True
                )
                self._thread.start()

    def finish(self, store: BaseJobStore, run_id: str, job_id: str) -> None:
        """The runs ``run_id`` of the job ``job_id`` ended: forget them in the store soon."""
        with self._condition:
            self._in_progress[store].discard(run_id)
            self._ended[store][run_id] = job_id
            self._condition.notify()

    def flush(self, store: BaseJobStore, job_ids: Collection[str]) -> None:
        """
        Forget the ended runs of ``store`` now if some are of one of ``job_ids``, so that the
        store counts the runs in progress of those jobs exactly before starting more.

        A burst of different jobs has none, and pays no round trip for this.
        """
        with self._condition:
            ended_jobs = set(self._ended[store].values())
            ended_jobs.update(self._forgetting_jobs.get(store, ()))
        if not ended_jobs.isdisjoint(job_ids):
            self._flush([store])  # also waits for a forget under way

    def _flush(self, stores: list[BaseJobStore] | None = None) -> bool:
        """Forget the ended runs of ``stores`` (all by default); tell whether that worked."""
        with self._forgetting:
            with self._condition:
                ended = [
                    (store, runs)
                    for store, runs in self._ended.items()
                    if runs and (stores is None or store in stores)
                ]
                for store, runs in ended:
                    self._ended[store] = {}
                    self._forgetting_jobs[store] = set(runs.values())
            try:
                results = [self._forget(store, runs) for store, runs in ended]
            finally:
                with self._condition:
                    self._forgetting_jobs.clear()
        return all(results)

    def stop(self) -> int:
        """
        Forget every ended run, and stop renewing (the scheduler is shutting down).

        :return: how many runs are still in progress, left for their leases to run out
        """
        with self._condition:
            self._stopping = True
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._flush()
        with self._condition:
            return sum(len(run_ids) for run_ids in self._in_progress.values())

    def _forget(self, store: BaseJobStore, runs: dict[str, str]) -> bool:
        """Forget ended runs (run id → job id) in ``store``; on failure keep them to try again."""
        if not runs:
            return True
        try:
            store.finish_runs(self.owner, list(runs))
        except Exception as exc:
            # kept for the next try: until they are forgotten, they count against max_instances
            # (and if this process dies meanwhile, other schedulers report them missed)
            self._logger.warning(
                "Could not record the end of %d job runs in %r (will try again): %s",
                len(runs),
                store,
                exc,
            )
            with self._condition:
                self._ended[store].update(runs)
            return False
        return True

    def _renew_interval(self) -> float:
        lease_times = [
            getattr(store, "lease_time", DEFAULT_LEASE_TIME) for store in self._in_progress
        ]
        return min(lease_times, default=DEFAULT_LEASE_TIME) / 3

    def _run(self) -> None:
        # real time, not the scheduler's clock: leases run out on the store's clock
        renew_due = time.monotonic() + self._renew_interval()
        while True:
            with self._condition:
                while not self._stopping and not any(self._ended.values()):
                    remaining = renew_due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                if self._stopping:
                    return
                renewing = [store for store, run_ids in self._in_progress.items() if run_ids]

            if not self._flush():
                # the store is away (its own retries already took a while): pause before the
                # next try, unless the scheduler stops meanwhile
                with self._condition:
                    self._condition.wait(RETRY_PAUSE)
            if time.monotonic() >= renew_due:
                for store in renewing:
                    self._renew(store)
                renew_due = time.monotonic() + self._renew_interval()

    def _renew(self, store: BaseJobStore) -> None:
        try:
            store.renew_runs(self.owner)
        except Exception as exc:
            self._logger.warning("Could not renew the runs in progress in %r: %s", store, exc)
