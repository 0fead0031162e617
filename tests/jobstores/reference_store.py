"""
A reference :class:`~apscheduler.jobstores.shared.SharedJobStore` kept in one process.

Written from the public interface alone (``apscheduler.jobstores.shared`` and the guide to
writing a shared store), as a third-party author would write one, it shows that the interface
is enough and is small. It is the worked example of that guide, and it runs the same contract
as the real stores (``test_runs_contract.py``).

:class:`ReferenceStorage` stands for the server: the jobs, the claims (leases) on them and the
runs in progress, behind one lock, with a clock of its own that a test can replace. Each
:class:`ReferenceJobStore` built on one storage stands for one scheduler process's connection
to it, so two schedulers in one test meet as two processes would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.events import EVENT_JOB_UNLOADABLE, JobUnloadableEvent
from apscheduler.job import Job
from apscheduler.jobstores.base import (
    ConflictingIdError,
    JobLookupError,
    TransientJobError,
    UnloadableJob,
)
from apscheduler.jobstores.shared import (
    DEFAULT_CLAIM_BATCH,
    DEFAULT_LEASE_TIME,
    DEFAULT_POLL_INTERVAL,
    AbandonedRun,
    ClaimedJobs,
    RunRequest,
    RunStart,
    RunStartOutcome,
    SharedJobStore,
)

UTC = timezone.utc
#: an expiry before any clock's now, for ending leases at once
LONG_AGO = float("-inf")


@dataclass
class Lease:
    """A claim on a job: who holds it, and until when by the storage's clock."""

    owner: str
    expires: float


@dataclass
class Run:
    """Runs of a job in progress, leased to the scheduler that started them."""

    job_id: str
    owner: str
    run_times: list[datetime]
    expires: float


class ReferenceStorage:
    """
    What every scheduler sharing the store sees: jobs, claims and runs in progress.

    :param clock: the storage's own clock, in seconds; leases end by it (as a database's do by
        the database server's clock), so a test may pass a fake one
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        #: job id → the job's state (``Job.__getstate__()``), as the scheduler last gave it
        self.jobs: dict[str, dict[str, Any]] = {}
        #: job id → the claim on it
        self.leases: dict[str, Lease] = {}
        #: run id → the runs in progress it names
        self.runs: dict[str, Run] = {}
        #: job id → the runs asked for (``request_run``) and not made yet, oldest first
        self.requests: dict[str, list[RunRequest]] = {}

    def expire_leases(self, owner: str | None = None) -> None:
        """End the claims and runs in progress of ``owner`` (everybody's if ``None``) now."""
        with self.lock:
            records: list[Lease | Run] = [*self.leases.values(), *self.runs.values()]
            for record in records:
                if owner is None or record.owner == owner:
                    record.expires = LONG_AGO


def _run_time_order(state: dict[str, Any]) -> tuple[float, str]:
    """Sort key of scheduled job states: by next run time (an instant), then by id."""
    return (state["next_run_time"].timestamp(), state["id"])


def _due_at(state: dict[str, Any], requests: list[RunRequest]) -> datetime | None:
    """When a job is next due: its next run time, or its oldest run request if earlier."""
    due_at: datetime | None = state["next_run_time"]
    for request in requests:
        due_at = _earliest(due_at, request.requested_at)
    return due_at


class ReferenceJobStore(SharedJobStore):
    """
    One scheduler's view of a :class:`ReferenceStorage`.

    :param storage: the storage shared with other schedulers (a new one by default)
    :param lease_time: seconds a claim or a run in progress lasts unless renewed
    :param claim_batch: the most jobs one claim takes
    :param poll_interval: how often the scheduler looks for jobs other schedulers added; this
        store does not tell it
    """

    def __init__(
        self,
        storage: ReferenceStorage | None = None,
        lease_time: float = DEFAULT_LEASE_TIME,
        claim_batch: int = DEFAULT_CLAIM_BATCH,
        poll_interval: float | None = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__()
        self.storage = storage if storage is not None else ReferenceStorage()
        self.lease_time = lease_time
        self.claim_batch = claim_batch
        self.poll_interval = poll_interval
        #: job id → why it failed to load, until it loads again
        self._unloadable: dict[str, str] = {}

    # --- loading and ordering ---------------------------------------------------------------

    def _load(self, state: dict[str, Any]) -> Job | None:
        """Rebuild a job for this store's scheduler; ``None`` (reported) if it cannot load."""
        job_id = state["id"]
        try:
            job = Job.__new__(Job)
            job.__setstate__(state)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self._unloadable.get(job_id) != reason:
                self._logger.error('Unable to load job "%s" (%s); keeping it', job_id, reason)
                # inside a pass the handle holds the event until the scheduler's lock is free
                self._handle.dispatch(
                    JobUnloadableEvent(EVENT_JOB_UNLOADABLE, job_id, self._alias, reason)
                )
            self._unloadable[job_id] = reason
            return None

        self._unloadable.pop(job_id, None)
        job._scheduler = self._scheduler  # type: ignore[assignment]
        job._jobstore_alias = self._alias
        return job

    def _load_all(self, states: list[dict[str, Any]]) -> list[Job]:
        return [job for job in map(self._load, states) if job is not None]

    def _scheduled(self) -> list[dict[str, Any]]:
        """The states of the jobs with a next run time, earliest first. Hold the lock."""
        states = [s for s in self.storage.jobs.values() if s["next_run_time"] is not None]
        return sorted(states, key=_run_time_order)

    def _to_scheduler_time(self, storage_time: float, storage_now: float) -> datetime:
        """Tell a moment of the storage's clock by the scheduler's clock."""
        return self._handle.now(UTC) + timedelta(seconds=storage_time - storage_now)

    # --- the plain job store interface (APScheduler 3's) -----------------------------------

    def lookup_job(self, job_id: str) -> Job | None:
        with self.storage.lock:
            state = self.storage.jobs.get(job_id)
        return None if state is None else self._load(state)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        with self.storage.lock:
            due = [s for s in self._scheduled() if s["next_run_time"] <= now]
        return self._load_all(due)

    def get_next_run_time(self) -> datetime | None:
        with self.storage.lock:
            # a job that cannot load would be due forever: it does not count
            scheduled = [s for s in self._scheduled() if s["id"] not in self._unloadable]
        return scheduled[0]["next_run_time"] if scheduled else None

    def get_all_jobs(self) -> list[Job]:
        with self.storage.lock:
            paused = [s for s in self.storage.jobs.values() if s["next_run_time"] is None]
            states = self._scheduled() + sorted(paused, key=lambda state: state["id"])
        return self._load_all(states)

    def get_unloadable_jobs(self) -> list[UnloadableJob]:
        return [
            UnloadableJob(job_id, self._alias, reason)
            for job_id, reason in sorted(self._unloadable.items())
        ]

    def add_job(self, job: Job) -> None:
        state = self._state_of(job)
        with self.storage.lock:
            if job.id in self.storage.jobs:
                raise ConflictingIdError(job.id)
            self.storage.jobs[job.id] = state

    def update_job(self, job: Job) -> None:
        state = self._state_of(job)
        with self.storage.lock:
            if job.id not in self.storage.jobs:
                raise JobLookupError(job.id)
            self.storage.jobs[job.id] = state
            # a user's change wins over a claim: the claimer's start will find it lost
            self.storage.leases.pop(job.id, None)
            # and its pending run requests stay with it
        self._unloadable.pop(job.id, None)

    def remove_job(self, job_id: str) -> None:
        with self.storage.lock:
            if job_id not in self.storage.jobs:
                raise JobLookupError(job_id)
            del self.storage.jobs[job_id]
            self.storage.leases.pop(job_id, None)
            self.storage.requests.pop(job_id, None)
        self._unloadable.pop(job_id, None)

    def remove_all_jobs(self) -> None:
        with self.storage.lock:
            self.storage.jobs.clear()
            self.storage.leases.clear()
            self.storage.requests.clear()
            # runs in progress go on: they still count for max_instances of a job added again
        self._unloadable.clear()

    @staticmethod
    def _state_of(job: Job) -> dict[str, Any]:
        # other processes rebuild the job from its state: the callable needs a text reference
        try:
            return job.__getstate__()
        except ValueError:
            raise TransientJobError(job.id) from None

    # --- the shared store interface ---------------------------------------------------------

    def request_run(self, job_id: str, request: RunRequest) -> bool:
        with self.storage.lock:
            if job_id not in self.storage.jobs:
                return False
            self.storage.requests.setdefault(job_id, []).append(request)
            # as a user's write: a claimer that has not started the job must claim it again
            self.storage.leases.pop(job_id, None)
        return True

    def acquire_due_jobs(self, now: datetime, owner: str) -> ClaimedJobs:
        storage = self.storage
        with storage.lock:
            storage_now = storage.clock()
            claimed: list[Job] = []
            requests: dict[str, tuple[RunRequest, ...]] = {}
            next_run_time: datetime | None = None
            for due_at, state in self._due_states():
                job_id = state["id"]
                lease = storage.leases.get(job_id)
                if lease is not None and lease.expires > storage_now:
                    # held (by this owner too: its runs are on their way); may be free later
                    lease_end = self._to_scheduler_time(lease.expires, storage_now)
                    next_run_time = _earliest(next_run_time, lease_end)
                    continue
                due = due_at <= now and len(claimed) < self.claim_batch
                job = self._load(state) if due else None
                if job is None:
                    if job_id not in self._unloadable:
                        next_run_time = _earliest(next_run_time, due_at)
                    continue
                storage.leases[job_id] = Lease(owner, storage_now + self.lease_time)
                claimed.append(job)
                if storage.requests.get(job_id):
                    by_time = sorted(storage.requests[job_id], key=_request_order)
                    requests[job_id] = tuple(by_time)
            # expired runs count: they are the abandoned ones, still to be taken
            runs_in_progress = bool(storage.runs)
        return ClaimedJobs(claimed, next_run_time, requests, runs_in_progress)

    def _due_states(self) -> list[tuple[datetime, dict[str, Any]]]:
        """The jobs that will be due (scheduled, or asked to run), earliest first. Hold the lock."""
        due = []
        for job_id, state in self.storage.jobs.items():
            due_at = _due_at(state, self.storage.requests.get(job_id, []))
            if due_at is not None:
                due.append((due_at, state))
        due.sort(key=lambda item: (item[0].timestamp(), item[1]["id"]))
        return due

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        states = [self._state_of(start.job) for start in starts]
        with self.storage.lock:
            storage_now = self.storage.clock()
            return [
                self._start(owner, start, state, storage_now)
                for start, state in zip(starts, states, strict=True)
            ]

    def _start(
        self, owner: str, start: RunStart, state: dict[str, Any], storage_now: float
    ) -> RunStartOutcome:
        """Start one claimed job's runs. Hold the lock."""
        storage, job = self.storage, start.job
        recorded = storage.runs.get(start.run_id)
        if recorded is not None and recorded.owner == owner:
            return RunStartOutcome.STARTED  # a retry of a start that went through

        lease = storage.leases.get(job.id)
        # the owner's claim alone says the job is unchanged: user writes end claims
        if lease is None or lease.owner != owner or job.id not in storage.jobs:
            return RunStartOutcome.LOST

        del storage.leases[job.id]
        if start.removes_job:
            del storage.jobs[job.id]
        else:
            storage.jobs[job.id] = state
        # the claim held, so no request came since the claim: these are all of them
        storage.requests.pop(job.id, None)
        in_progress = sum(
            run.job_id == job.id and run.expires > storage_now for run in storage.runs.values()
        )
        if in_progress >= job.max_instances:
            return RunStartOutcome.MAX_INSTANCES

        storage.runs[start.run_id] = Run(
            job.id, owner, list(start.run_times), storage_now + self.lease_time
        )
        return RunStartOutcome.STARTED

    def release_claimed_job(self, job_id: str, owner: str) -> None:
        with self.storage.lock:
            lease = self.storage.leases.get(job_id)
            if lease is not None and lease.owner == owner:
                del self.storage.leases[job_id]

    def renew_runs(self, owner: str) -> set[str]:
        with self.storage.lock:
            expires = self.storage.clock() + self.lease_time
            held = set()
            for run_id, run in self.storage.runs.items():
                if run.owner == owner:
                    run.expires = expires
                    held.add(run_id)
            return held

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        with self.storage.lock:
            for run_id in run_ids:
                run = self.storage.runs.get(run_id)
                if run is not None and run.owner == owner:
                    del self.storage.runs[run_id]

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        with self.storage.lock:
            storage_now = self.storage.clock()
            expired = [
                run_id for run_id, run in self.storage.runs.items() if run.expires <= storage_now
            ]
            taken = [self.storage.runs.pop(run_id) for run_id in expired]
        return [AbandonedRun(run.job_id, run.run_times, run.owner) for run in taken]


def _request_order(request: RunRequest) -> tuple[float, str]:
    return request.requested_at.timestamp(), request.run_id


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    return first if second is None else min(first, second)
