"""A job store that keeps the live job objects in memory, for schedules that need no persistence."""

from __future__ import annotations

from array import array
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, cast

from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.runs import (
    JobRun,
    MemoryRunHistory,
    RetentionPolicy,
    RunHistory,
    SchedulerFact,
)
from apscheduler.util import datetime_to_utc_timestamp as datetime_to_utc_timestamp

# ``name as name``: names this module had in APScheduler 3, which programs import from here.

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.job import Job

# Below this many superseded heap entries, rebuilding the heap is not worth a pass over the jobs.
_MIN_SLACK_TO_COMPACT = 64


class _RunTimeHeap:
    """
    A binary min-heap of jobs ordered by next run time, as a UTC timestamp.

    Jobs due at the same time are in no particular order here (the due jobs are sorted by
    id when they are taken): comparing ids at every level made a burst of jobs due at once,
    all with one timestamp, several times as slow to take off the top.

    It is kept as two parallel arrays, raw doubles and job references, so an entry costs 16
    bytes and no object of its own: with hundreds of thousands of jobs, per-entry tuples and
    floats would cost more than the rest of the store. Timestamps, not datetimes, are compared,
    because aware datetimes sharing a zone compare by wall clock and would misorder the two
    passes through a repeated DST hour.
    """

    __slots__ = ("times", "jobs")

    def __init__(self) -> None:
        self.times = array("d")
        self.jobs: list[Job] = []

    def __len__(self) -> int:
        return len(self.jobs)

    def clear(self) -> None:
        del self.times[:]
        self.jobs.clear()

    def push(self, timestamp: float, job: Job) -> None:
        self.times.append(timestamp)
        self.jobs.append(job)
        self._settle(len(self.jobs) - 1, timestamp, job)

    def pop(self) -> None:
        """Remove the first entry."""
        times, jobs = self.times, self.jobs
        last_time = times.pop()
        last_job = jobs.pop()
        size = len(jobs)
        if not size:
            return

        # Move the earlier child up into the hole all the way down to a leaf, then settle the
        # last entry from there: it came from the bottom, so it seldom has far to go back up,
        # and this takes one comparison per level instead of two.
        position = 0
        child = 1
        while child < size:
            right = child + 1
            if right < size and times[right] < times[child]:
                child = right

            times[position] = times[child]
            jobs[position] = jobs[child]
            position = child
            child = 2 * position + 1

        self._settle(position, last_time, last_job)

    def _settle(self, position: int, timestamp: float, job: Job) -> None:
        """Put the entry in the hole at ``position``, moving later parents down."""
        times, jobs = self.times, self.jobs
        while position:
            parent = (position - 1) >> 1
            parent_time = times[parent]
            if parent_time <= timestamp:
                break

            times[position] = parent_time
            jobs[position] = jobs[parent]
            position = parent

        times[position] = timestamp
        jobs[position] = job

    def rebuild(self, jobs: list[Job]) -> None:
        """Replace the contents with ``jobs``, which must all be scheduled."""
        # a sorted array is a valid heap, and sorting runs in C
        ordered = sorted(
            (cast("datetime", job.next_run_time).timestamp(), job.id, job) for job in jobs
        )
        self.times = array("d", [entry[0] for entry in ordered])
        self.jobs = [entry[2] for entry in ordered]

    def entries_until(self, timestamp: float) -> list[tuple[float, str, Job]]:
        """Return the entries at or before ``timestamp``, in heap order (not sorted)."""
        times, jobs = self.times, self.jobs
        size = len(jobs)
        found = []
        # a child is never earlier than its parent, so only the due part and its immediate
        # border are visited
        pending = [0] if size and times[0] <= timestamp else []
        while pending:
            position = pending.pop()
            found.append((times[position], jobs[position].id, jobs[position]))
            for child in (2 * position + 1, 2 * position + 2):
                if child < size and times[child] <= timestamp:
                    pending.append(child)

        return found


class MemoryJobStore(BaseJobStore, RunHistory):
    """
    Stores jobs in memory, as the very objects the scheduler gave it (nothing is pickled, so
    jobs may use lambdas and other callables without a text reference).

    All jobs are lost when the store shuts down. Adding, updating and removing a job takes
    O(log n) time and fetching the due jobs is proportional to how many are due, so the store
    stays fast with hundreds of thousands of jobs.

    The store keeps the run history of its jobs too, in memory; it outlives a shutdown of the
    store, so that the runs can still be read once the scheduler has stopped.

    Plugin alias: ``memory``

    .. versionchanged:: 3.12.0 keeps run history (:class:`~apscheduler.runs.RunHistory`)
    """

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, Job] = {}
        self._runs = MemoryRunHistory()
        # Every scheduled job has an entry here. Entries are never searched for: one that no
        # longer matches its job (the job was removed, replaced, paused or moved to another
        # time) is superseded, skipped when met and dropped when it reaches the top.
        self._heap = _RunTimeHeap()
        # Every update and removal counts one superseded entry, every superseded entry dropped
        # one less: at 0, the due entries need no checking (each check reads the job's run
        # time as a timestamp). That is the usual case in a burst of jobs due at once.
        self._superseded = 0

    def _is_current(self, timestamp: float, job: Job) -> bool:
        next_run_time = job.next_run_time
        return (
            next_run_time is not None
            and self._jobs.get(job.id) is job
            and next_run_time.timestamp() == timestamp
        )

    def _drop_superseded_top(self) -> None:
        if not self._superseded:  # every entry is current: nothing to look at
            return
        heap = self._heap
        while heap.jobs and not self._is_current(heap.times[0], heap.jobs[0]):
            heap.pop()
            if self._superseded:
                self._superseded -= 1

    def _compact_if_mostly_superseded(self) -> None:
        # A rebuild once the heap holds as many superseded entries as jobs keeps the heap at
        # most twice the number of jobs, and costs O(log n) per change, amortized.
        if len(self._heap.jobs) > 2 * len(self._jobs) + _MIN_SLACK_TO_COMPACT:
            scheduled = [job for job in self._jobs.values() if job.next_run_time is not None]
            self._heap.rebuild(scheduled)
            self._superseded = 0

    def _schedule(self, job: Job) -> None:
        if job.next_run_time is not None:
            self._heap.push(job.next_run_time.timestamp(), job)
            self._compact_if_mostly_superseded()

    def lookup_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        self._drop_superseded_top()
        due = self._heap.entries_until(now.timestamp())
        if self._superseded:
            due = [entry for entry in due if self._is_current(entry[0], entry[2])]
        due.sort()
        jobs: list[Job] = []
        for _, _, job in due:
            # a job updated without a new run time may have two current entries, now adjacent
            if not jobs or jobs[-1] is not job:
                jobs.append(job)

        return jobs

    def get_next_run_time(self) -> datetime | None:
        self._drop_superseded_top()
        heap_jobs = self._heap.jobs
        return heap_jobs[0].next_run_time if heap_jobs else None

    def get_all_jobs(self) -> list[Job]:
        scheduled = []
        paused = []
        for job in self._jobs.values():
            if job.next_run_time is None:
                paused.append((job.id, job))
            else:
                scheduled.append((job.next_run_time.timestamp(), job.id, job))

        scheduled.sort()
        paused.sort()
        return [entry[-1] for entry in scheduled] + [entry[-1] for entry in paused]

    def add_job(self, job: Job) -> None:
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)

        self._jobs[job.id] = job
        self._schedule(job)

    def update_job(self, job: Job) -> None:
        if job.id not in self._jobs:
            raise JobLookupError(job.id)

        # The scheduler updates the very object it got from here, after changing it in place,
        # so the old run time is unknown: just push the current one. Superseded entries cost
        # nothing until they surface; an unchanged run time leaves a harmless duplicate.
        self._jobs[job.id] = job
        self._superseded += 1
        self._schedule(job)

    def remove_job(self, job_id: str) -> None:
        jobs = self._jobs
        if jobs.pop(job_id, None) is None:
            raise JobLookupError(job_id)

        self._superseded += 1
        # the test of _compact_if_mostly_superseded, spelt out: this is a hot path
        if len(self._heap.jobs) > 2 * len(jobs) + _MIN_SLACK_TO_COMPACT:
            self._compact_if_mostly_superseded()

    def remove_all_jobs(self) -> None:
        self._jobs.clear()
        self._heap.clear()
        self._superseded = 0

    def shutdown(self) -> None:
        self.remove_all_jobs()

    def record_runs(self, runs: Sequence[JobRun]) -> None:
        self._runs.record_runs(runs)

    def get_job_runs(
        self,
        job_id: str | None = None,
        *,
        states: Collection[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        return self._runs.get_job_runs(job_id, states=states, since=since, limit=limit)

    def prune_runs(self, policy: RetentionPolicy, now: datetime) -> None:
        self._runs.prune_runs(policy, now)

    def record_facts(self, facts: Sequence[SchedulerFact]) -> None:
        self._runs.record_facts(facts)

    def get_facts(
        self, *, until: datetime | None = None, limit: int = 1000
    ) -> list[SchedulerFact]:
        return self._runs.get_facts(until=until, limit=limit)
