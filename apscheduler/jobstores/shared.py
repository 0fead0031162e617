"""
The interface of a job store that several scheduler processes share.

A plain :class:`~apscheduler.jobstores.base.BaseJobStore` is read by one scheduler, which takes
the due jobs and writes each back moved on. When several processes read one store, two of them
would take the same due job. A :class:`SharedJobStore` hands due jobs out as *claims* instead,
and records the runs each scheduler has in progress, so that:

* a due run starts in one process only (the claim is a lease: an owner and an expiry judged by
  the store's own clock, which every process agrees on);
* ``max_instances`` holds across processes (the store counts the runs in progress of a job);
* the runs of a process that dies are reported, never silently lost (their lease runs out and
  another scheduler takes them as abandoned).

One processing pass of a scheduler over a shared store, and what the store does in it::

    claimed = store.acquire_due_jobs(now, owner)       # claim up to claim_batch due jobs
    # the scheduler works out the due run times of each job and moves it on (job.next_run_time)
    outcomes = store.start_claimed_runs(owner, starts)  # move the jobs, record their runs
    # the scheduler submits the STARTED runs; while they go on, every lease_time / 3:
    still_held = store.renew_runs(owner)
    # when runs end (batched, off the job's thread):
    store.finish_runs(owner, run_ids)
    # once per lease_time, any scheduler whose claim found runs in progress:
    abandoned = store.take_abandoned_runs()              # reported as missed

Any process, even one whose scheduler never starts, may ask for one extra run of a job
(``run_job_now``): ``store.request_run(job_id, RunRequest(run_id, now))`` records the request
with the job and makes the job due, so that exactly one scheduler claims it; the claim hands the
request over (:attr:`ClaimedJobs.requests`) and the start forgets it (:attr:`RunStart.requests`).

The scheduler owns every decision and side effect: the store never wakes its scheduler during
a pass, never computes run times, and never dispatches events itself while the scheduler holds
its lock (see :class:`~apscheduler.schedulers.handle.SchedulerHandle`, whose ``dispatch`` defers
them). A store that cannot do a call because its storage is away raises; the scheduler retries
on its next pass, and the leases make a half-done call safe.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from apscheduler.jobstores.base import BaseJobStore

if TYPE_CHECKING:
    from apscheduler.job import Job

#: seconds a claim or a run in progress stays leased to its scheduler unless renewed
DEFAULT_LEASE_TIME = 5.0
#: the most jobs one claim takes: the scheduler comes back at once for more, and meanwhile
#: other processes can claim the rest
DEFAULT_CLAIM_BATCH = 25
#: seconds between looks at a store that cannot tell its scheduler about other processes' changes
DEFAULT_POLL_INTERVAL = 0.5


class RunRequest(NamedTuple):
    """One extra run of a job that someone asked for (``run_job_now``), not made yet."""

    #: names the run in the run history, from the moment it was asked for
    run_id: str
    #: when it was asked for: the run's scheduled run time (timezone aware)
    requested_at: datetime
    #: which attempt the run is: 1, or more for a retry of a failed run (see ``max_retries``)
    attempt: int = 1


#: no run requests (the default of :attr:`ClaimedJobs.requests`)
NO_REQUESTS: Mapping[str, tuple[RunRequest, ...]] = MappingProxyType({})


class ClaimedJobs(NamedTuple):
    """What :meth:`SharedJobStore.acquire_due_jobs` hands a scheduler."""

    #: the due jobs now leased to the caller, sorted by next run time
    jobs: list[Job]
    #: the earliest moment this store may have work for the caller besides ``jobs``: the next
    #: run time of the jobs nobody holds, or the end of another owner's lease, whichever comes
    #: first (``None``: nothing is scheduled)
    next_run_time: datetime | None
    #: job id → the run requests pending for that claimed job, oldest first (only jobs that
    #: have some)
    requests: Mapping[str, tuple[RunRequest, ...]] = NO_REQUESTS
    #: whether the store held runs in progress (of any owner) when it was claimed from;
    #: ``False`` lets the scheduler put off its next look for abandoned runs by a whole
    #: ``lease_time``, as no run started later can be abandoned before then (a store that does
    #: not tell leaves ``True``)
    runs_in_progress: bool = True


class RunStart(NamedTuple):
    """The due runs of one claimed job, which a scheduler is about to submit."""

    #: the claimed job, already moved on by the scheduler: store it as it is; a
    #: ``next_run_time`` of ``None`` means its schedule is over, so the store removes it
    job: Job
    #: the run times to submit now, oldest first
    run_times: list[datetime]
    #: names these runs in the store until :meth:`SharedJobStore.finish_runs` forgets them
    run_id: str
    #: the run requests of the job that this start makes (their times are in ``run_times``):
    #: the store forgets them
    requests: tuple[RunRequest, ...] = ()

    @property
    def removes_job(self) -> bool:
        """
        Whether the store removes the job: its schedule is over (no ``next_run_time``).

        Runs made on request alone leave a paused job (also without a ``next_run_time``) stored.
        """
        return self.job.next_run_time is None and len(self.run_times) > len(self.requests)


class RunStartOutcome(Enum):
    """What :meth:`SharedJobStore.start_claimed_runs` did with one :class:`RunStart`."""

    #: the job moved on and its runs are recorded in progress: submit them
    STARTED = "started"
    #: the job moved on, but ``max_instances`` runs were in progress already: the run times
    #: were skipped, as a single scheduler skips them
    MAX_INSTANCES = "max_instances"
    #: the claim was lost (it expired and another scheduler took the job, or a user changed or
    #: removed the job since): nothing was changed
    LOST = "lost"


class AbandonedRun(NamedTuple):
    """Runs that a scheduler recorded in progress and then stopped renewing."""

    #: the job whose runs these were
    job_id: str
    #: their scheduled run times
    run_times: list[datetime]
    #: the scheduler instance that started them
    owner: str


class SharedJobStore(BaseJobStore):
    """
    A job store that several scheduler processes may share at once.

    A scheduler recognises one by its class (``isinstance``), and then uses the methods below
    instead of :meth:`~apscheduler.jobstores.base.BaseJobStore.get_due_jobs` and
    :meth:`~apscheduler.jobstores.base.BaseJobStore.update_job` in its processing pass.
    Everything else (adding, changing and listing jobs) is the plain
    :class:`~apscheduler.jobstores.base.BaseJobStore` interface.

    ``owner`` names one scheduler instance (host, process and a random part), the same string in
    every call of that instance. Every method may be called from any thread.
    """

    #: seconds a claim, and a run in progress, stays leased to its owner unless renewed; if the
    #: owner dies, another scheduler takes over once the lease has run out
    lease_time: float = DEFAULT_LEASE_TIME
    #: the most jobs :meth:`acquire_due_jobs` returns at once; a full batch tells the scheduler
    #: to come back at once for more
    claim_batch: int = DEFAULT_CLAIM_BATCH
    #: the longest the scheduler sleeps before looking again, because other processes may add
    #: jobs without waking it (``None``: the store wakes it, through its handle, when they do)
    poll_interval: float | None = DEFAULT_POLL_INTERVAL

    @abstractmethod
    def acquire_due_jobs(self, now: datetime, owner: str) -> ClaimedJobs:
        """
        Claim up to :attr:`claim_batch` due jobs that no other owner holds, and return them.

        A job with pending run requests (:meth:`SharedJobStore.request_run`) is due from the earliest one on,
        paused or not; its requests come with it in :attr:`ClaimedJobs.requests`.

        Each returned job is leased to ``owner`` for :attr:`lease_time`; a job leased to another
        owner is left alone until that lease runs out. Claiming is atomic: two owners never hold
        one job at once. A job that fails to load is not returned: it stays stored, free, and
        is reported by :meth:`~apscheduler.jobstores.base.BaseJobStore.get_unloadable_jobs`.

        :param now: the current (timezone aware) datetime, by the scheduler's clock
        :param owner: identifies the claiming scheduler instance
        """

    def request_run(self, job_id: str, request: RunRequest) -> bool:
        """
        Ask for one extra run of a job, which the scheduler that claims the job next makes.

        Atomically: record ``request`` with the job, make the job due by
        ``request.requested_at`` at the latest (a paused one too) without changing its schedule
        (its stored ``next_run_time``), and end any claim on the job, as a user's write does (a
        claimer that has not started the job yet finds its start lost, and claims it again with
        the request). Then tell the other schedulers, as for any write. The pending requests of
        a job survive ``update_job()`` and go with ``remove_job()``.

        :return: ``False`` if there is no such job
        :raises NotImplementedError: if the store cannot take requests (the default)
        """
        raise NotImplementedError(f"{type(self).__name__} does not take run requests")

    @abstractmethod
    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        """
        Record that the due runs of claimed jobs start now.

        For each start, atomically and only while ``owner`` still holds the claim on the job and
        nobody changed the job since it was claimed: store the job as given (moved on; removed
        if :attr:`RunStart.removes_job`), forget ``start.requests``, give up the claim, and
        record the runs in
        progress under ``start.run_id``, leased to ``owner`` for :attr:`lease_time`. If
        ``job.max_instances`` runs of the job are in progress already (in any process, leases
        unexpired), the job is stored all the same but no run is recorded. A store makes as few
        round trips for the whole batch as it can (one, ideally).

        Calling it again with the same run ids (a retry after a lost reply) gives the same
        answer for the starts it already recorded.

        :return: one outcome per start, in order
        """

    @abstractmethod
    def release_claimed_job(self, job_id: str, owner: str) -> None:
        """Give up the claim ``owner`` holds on a job, changing nothing else."""

    @abstractmethod
    def renew_runs(self, owner: str) -> set[str]:
        """
        Extend the lease on every run in progress of ``owner`` by :attr:`lease_time`.

        A scheduler calls it every ``lease_time / 3`` seconds while it has runs in progress, so
        that only the runs of a scheduler that died (or lost the store for longer than the
        lease) run out.

        :return: the run ids of ``owner`` still in progress; a run id missing from it was taken
            by another scheduler as abandoned, so its run must not start any more
        """

    @abstractmethod
    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        """Forget the runs in progress ``run_ids`` of ``owner``: they have ended."""

    @abstractmethod
    def take_abandoned_runs(self) -> list[AbandonedRun]:
        """
        Remove and return the runs in progress whose lease has run out.

        Their scheduler stopped renewing them: it died (or lost the store for longer than the
        lease) while they were submitted or running, so nobody can tell whether they ran to the
        end. The caller reports them as missed. Atomic: each such run goes to one caller only.
        """


def is_shared_store(jobstore: BaseJobStore) -> bool:
    """
    Tell whether ``jobstore`` is a :class:`SharedJobStore`.

    Judged by the store's real class: a ``unittest.mock.MagicMock`` made from a store class
    (as APScheduler 3 test suites use) passes ``isinstance`` checks for its spec, but its type is
    a mock class, so it takes the APScheduler 3 path (``get_due_jobs``, ``update_job``).
    """
    return issubclass(type(jobstore), SharedJobStore)


__all__ = [
    "DEFAULT_CLAIM_BATCH",
    "DEFAULT_LEASE_TIME",
    "DEFAULT_POLL_INTERVAL",
    "NO_REQUESTS",
    "AbandonedRun",
    "ClaimedJobs",
    "RunRequest",
    "RunStart",
    "RunStartOutcome",
    "SharedJobStore",
    "is_shared_store",
]
