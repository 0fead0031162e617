"""
The runs this scheduler has in progress on shared stores, kept leased until they end.

A scheduler records in a :class:`~apscheduler.jobstores.shared.SharedJobStore` the runs it
submits, as *runs in progress* leased to it, and keeps renewing that lease until each run ends.
This is how ``max_instances`` holds across processes (the store counts a job's runs in
progress), and how a run is never silently lost: if the process dies after submitting a run,
its lease runs out and another scheduler reports the run as missed, since nobody can tell
whether it ran to the end. A run claimed but not yet started is simply claimed again by another
scheduler once the claim runs out.

:class:`RunLeases` does the renewing and the finishing for one scheduler, in a thread of its
own, so that job threads never wait for the store: a run that ends is queued, and the queue is
sent in one round trip per store. It also answers the executors' last question before a run
starts (:meth:`RunLeases.may_start`): a process that was stopped for longer than the lease may
have had its runs taken over, and must not start them after all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from apscheduler.jobstores.shared import SharedJobStore

#: seconds between tries to finish ended runs while their store fails
RETRY_PAUSE = 1.0


@dataclass
class _Run:
    """One submission of a claimed job, from its start in the store until it ends."""

    store: SharedJobStore
    run_id: str
    job_id: str
    run_times: Sequence[datetime]
    #: until when (``time.monotonic()``) this process knows the lease still holds: the moment
    #: the last start or renewal was sent, plus the lease time (the store counts from later)
    held_until: float
    #: when (``time.monotonic()``) the start's reply came back: a renewal sent later sees the run
    recorded_at: float
    #: another scheduler took the run over as abandoned: it must not start here
    lost: bool = False


class RunLeases:
    """
    Keeps one scheduler's runs in progress alive in the shared stores, and finishes ended ones.

    The thread starts with the first run it keeps; a scheduler that never submits claimed
    runs has none.

    :param owner: the scheduler instance the runs are leased to
    """

    def __init__(self, owner: str, logger: logging.Logger) -> None:
        self.owner = owner
        self._logger = logger
        self._condition = threading.Condition()
        # job id -> its submissions in progress, oldest first
        self._by_job: defaultdict[str, list[_Run]] = defaultdict(list)
        self._in_progress: defaultdict[SharedJobStore, dict[str, _Run]] = defaultdict(dict)
        # store → run id → job id, of the runs that ended and are not finished in the store yet
        self._ended: defaultdict[SharedJobStore, dict[str, str]] = defaultdict(dict)
        # store → the jobs whose ended runs a finish under way is taking out of the store
        self._finishing_jobs: dict[SharedJobStore, set[str]] = {}
        self._thread: threading.Thread | None = None
        #: whether the thread sleeps until a run is tracked, having none to renew
        self._idle = False
        self._stopping = False
        self._abandoned_checks: dict[SharedJobStore, float] = {}
        # held while ended runs are taken and finished, so that flush() also waits for a
        # finish that the thread has under way
        self._finishing = threading.Lock()
        # one renewal at a time per scheduler (the thread's, or one that a run asked for)
        self._renewing = threading.Lock()

    def abandoned_runs_check_due(self, store: SharedJobStore, now: float) -> bool:
        """
        Tell whether it is time to look for runs that died with their scheduler in ``store``.

        Such runs appear only when a lease runs out, so looking once per lease time is enough.

        :param now: the time of the scheduler's pass, as a timestamp
        """
        if self._abandoned_checks.get(store, 0.0) > now:
            return False
        self._abandoned_checks[store] = now + store.lease_time
        return True

    def no_runs_in_progress(self, store: SharedJobStore, now: float) -> None:
        """
        ``store`` held no run in progress at ``now`` (a claim said so): put off the next look
        for abandoned runs until a lease from now, as none can be abandoned before then.

        An idle scheduler on a shared store then looks at the store once per pass (the claim)
        instead of twice.
        """
        self._abandoned_checks[store] = max(
            self._abandoned_checks.get(store, 0.0), now + store.lease_time
        )

    def track(
        self,
        store: SharedJobStore,
        run_id: str,
        job_id: str,
        run_times: Sequence[datetime],
        sent_at: float,
    ) -> None:
        """
        Keep the runs ``run_id`` alive until they end.

        :param sent_at: ``time.monotonic()`` when their start was sent to ``store``
        """
        run = _Run(store, run_id, job_id, run_times, sent_at + store.lease_time, time.monotonic())
        with self._condition:
            self._by_job[job_id].append(run)
            self._in_progress[store][run_id] = run
            if self._idle:
                self._condition.notify()
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(
                    target=self._keep_alive, name="APScheduler run leases", daemon=True
                )
                self._thread.start()

    def ended(self, job_id: str, run_times: Sequence[datetime] | None) -> None:
        """
        A submission of ``job_id`` ended: finish its runs in the store soon.

        :param run_times: those of the submission (a submission already ended is not counted
            twice); without them, the job's oldest submission counts
        """
        if job_id not in self._by_job:
            return  # not a run of a shared store (read without the lock: a run is tracked
            # before it is submitted, so its end always finds it)
        with self._condition:
            run = self._take(job_id, run_times)
            if run is None:
                return  # not a run of a shared store
            del self._in_progress[run.store][run.run_id]
            self._ended[run.store][run.run_id] = job_id
            self._condition.notify()

    def _find(self, job_id: str, run_times: Sequence[datetime] | None) -> _Run | None:
        runs = self._by_job.get(job_id)
        if not runs:
            return None
        if run_times is None:
            return runs[0]
        for run in runs:
            if run.run_times is run_times:
                return run
        # the same times in another list (a third-party executor's copy): no two submissions
        # of one job share a run time, so the first match is the one
        wanted = list(run_times)
        return next((run for run in runs if list(run.run_times) == wanted), None)

    def _take(self, job_id: str, run_times: Sequence[datetime] | None) -> _Run | None:
        run = self._find(job_id, run_times)
        if run is not None:
            runs = self._by_job[job_id]
            runs.remove(run)
            if not runs:
                del self._by_job[job_id]
        return run

    def may_start(self, job_id: str, run_times: Sequence[datetime]) -> bool:
        """
        Tell whether a submitted run may start now (see the module docstring).

        Costs a round trip only when the lease may have run out since it was last renewed.
        """
        if job_id not in self._by_job:
            return True  # not a run of a shared store (tracked before it was submitted)
        with self._condition:
            run = self._find(job_id, run_times)
            if run is None:
                return True  # not a run of a shared store
            if not run.lost and time.monotonic() < run.held_until:
                return True

        if not run.lost:
            # this process was stopped or starved for longer than the lease: ask the store
            self._renew(run.store)
        with self._condition:
            if not run.lost and time.monotonic() < run.held_until:
                return True

        self._logger.warning(
            'Run of job "%s" (scheduled at %s) not started: this process could not keep its '
            "lease (it was stopped or starved for longer than lease_time), so another "
            "scheduler may have taken the run over and reported it",
            job_id,
            run.run_times[0] if run.run_times else None,
        )
        return False

    def flush(self, store: SharedJobStore, job_ids: Collection[str]) -> None:
        """
        Finish the ended runs of ``store`` now if some are of one of ``job_ids``, so that the
        store counts the runs in progress of those jobs exactly before starting more.

        A burst of different jobs has none, and pays no round trip for this.
        """
        with self._condition:
            ended_jobs = set(self._ended[store].values())
            ended_jobs.update(self._finishing_jobs.get(store, ()))
        if not ended_jobs.isdisjoint(job_ids):
            self._finish_ended([store])  # also waits for a finish under way

    def _finish_ended(self, stores: list[SharedJobStore] | None = None) -> bool:
        """Finish the ended runs of ``stores`` (all by default); tell whether that worked."""
        with self._finishing:
            with self._condition:
                ended = [
                    (store, runs)
                    for store, runs in self._ended.items()
                    if runs and (stores is None or store in stores)
                ]
                for store, runs in ended:
                    self._ended[store] = {}
                    self._finishing_jobs[store] = set(runs.values())
            try:
                results = [self._finish_in_store(store, runs) for store, runs in ended]
            finally:
                with self._condition:
                    self._finishing_jobs.clear()
        return all(results)

    def stop(self) -> int:
        """
        Finish every ended run, and stop renewing (the scheduler is shutting down).

        :return: how many runs are still in progress, left for their leases to run out
        """
        with self._condition:
            self._stopping = True
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._finish_ended()
        with self._condition:
            return sum(len(runs) for runs in self._in_progress.values())

    def _finish_in_store(self, store: SharedJobStore, runs: dict[str, str]) -> bool:
        """Finish ended runs (run id → job id) in ``store``; on failure keep them to try again."""
        if not runs:
            return True
        try:
            store.finish_runs(self.owner, list(runs))
        except Exception as exc:
            # kept for the next try: until they are finished, they count against max_instances
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
        lease_times = [store.lease_time for store, runs in self._in_progress.items() if runs]
        return min(lease_times, default=SharedJobStore.lease_time) / 3

    def _keep_alive(self) -> None:
        # real time, not the scheduler's clock: leases run out on the store's clock
        renew_due = time.monotonic() + self._renew_interval()
        while True:
            with self._condition:
                while not self._stopping and not any(self._ended.values()):
                    if not any(self._in_progress.values()):
                        # nothing to renew: sleep until a run is tracked (or the scheduler
                        # stops), rather than wake up every third of a lease for nothing
                        self._idle = True
                        self._condition.wait()
                        self._idle = False
                        renew_due = time.monotonic() + self._renew_interval()
                        continue
                    remaining = renew_due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                if self._stopping:
                    return
                renewing = [store for store, runs in self._in_progress.items() if runs]

            if not self._finish_ended():
                # the store is away (its own retries already took a while): pause before the
                # next try, unless the scheduler stops meanwhile
                with self._condition:
                    self._condition.wait(RETRY_PAUSE)
            if time.monotonic() >= renew_due:
                for store in renewing:
                    self._renew(store)
                renew_due = time.monotonic() + self._renew_interval()

    def _renew(self, store: SharedJobStore) -> None:
        """Renew the leases of this scheduler's runs in ``store``; mark those taken over."""
        with self._renewing:
            sent_at = time.monotonic()
            try:
                held = store.renew_runs(self.owner)
            except Exception as exc:
                self._logger.warning("Could not renew the runs in progress in %r: %s", store, exc)
                return

            with self._condition:
                for run_id, run in self._in_progress[store].items():
                    if run_id in held:
                        run.held_until = max(run.held_until, sent_at + store.lease_time)
                    elif run.recorded_at < sent_at:
                        # recorded before this renewal was sent, and gone: taken over
                        run.lost = True
