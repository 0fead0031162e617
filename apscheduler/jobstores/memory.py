"""A job store that keeps the live job objects in memory, for schedules that need no persistence."""

from __future__ import annotations

from heapq import heapify, heappop, heappush
from operator import itemgetter
from typing import TYPE_CHECKING

from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError

if TYPE_CHECKING:
    from datetime import datetime

    from apscheduler.job import Job

# One entry per job: (UTC timestamp of the next run or None if paused, job id, job).
# Tuples order by time, then by id, which is the order the scheduler must see jobs in; two
# entries never get as far as comparing their jobs unless their ids are equal, and jobs with
# equal ids compare equal, so the comparison always stops before needing job < job.
_Entry = tuple[float | None, str, "Job"]

# Below this many stale heap entries, compacting is not worth the pass over the heap.
_MIN_STALE_TO_COMPACT = 64


def _timestamp(job: Job) -> float | None:
    next_run_time = job.next_run_time
    return None if next_run_time is None else next_run_time.timestamp()


class MemoryJobStore(BaseJobStore):
    """
    Stores jobs in memory, as the very objects the scheduler gave it (nothing is pickled, so
    jobs may use lambdas and other callables without a text reference).

    All jobs are lost when the store shuts down. Adding, updating and removing a job takes
    O(log n) time and fetching the due jobs is proportional to how many are due, so the store
    stays fast with hundreds of thousands of jobs.

    Plugin alias: ``memory``
    """

    def __init__(self) -> None:
        super().__init__()
        # every job, by id; the entry it maps to is the only valid one for that job
        self._entries: dict[str, _Entry] = {}
        # entries of scheduled jobs ordered as a binary heap; an entry replaced in _entries or
        # removed from it stays here, stale, until it reaches the top or the heap is compacted
        self._heap: list[_Entry] = []
        self._stale_count = 0

    def _is_current(self, entry: _Entry) -> bool:
        return self._entries.get(entry[1]) is entry

    def _retire(self, entry: _Entry) -> None:
        """Account for ``entry`` leaving _entries, compacting the heap if mostly stale."""
        if entry[0] is None:
            return  # paused jobs have no heap entry

        self._stale_count += 1
        if self._stale_count >= _MIN_STALE_TO_COMPACT and self._stale_count * 2 > len(self._heap):
            # a full pass every time the stale half is reached keeps this O(1) amortized and
            # bounds the heap at twice the number of scheduled jobs
            self._heap = [entry for entry in self._heap if self._is_current(entry)]
            heapify(self._heap)
            self._stale_count = 0

    def _drop_stale_top(self) -> None:
        heap = self._heap
        while heap and not self._is_current(heap[0]):
            heappop(heap)
            self._stale_count -= 1

    def _store(self, job: Job) -> None:
        entry: _Entry = (_timestamp(job), job.id, job)
        self._entries[job.id] = entry
        if entry[0] is not None:
            heappush(self._heap, entry)

    def lookup_job(self, job_id: str) -> Job | None:
        entry = self._entries.get(job_id)
        return None if entry is None else entry[2]

    def get_due_jobs(self, now: datetime) -> list[Job]:
        self._drop_stale_top()
        now_timestamp = now.timestamp()
        heap = self._heap
        size = len(heap)
        # Walk down the heap only through due entries: a child is never earlier than its
        # parent, so the walk touches the due part and its immediate border, nothing more.
        due: list[_Entry] = []
        pending = [0] if heap else []
        while pending:
            index = pending.pop()
            entry = heap[index]
            if entry[0] <= now_timestamp:  # type: ignore[operator]
                if self._is_current(entry):
                    due.append(entry)

                child = 2 * index + 1
                if child < size:
                    pending.append(child)
                    if child + 1 < size:
                        pending.append(child + 1)

        due.sort()
        return [entry[2] for entry in due]

    def get_next_run_time(self) -> datetime | None:
        self._drop_stale_top()
        return self._heap[0][2].next_run_time if self._heap else None

    def get_all_jobs(self) -> list[Job]:
        scheduled = []
        paused = []
        for entry in self._entries.values():
            (scheduled if entry[0] is not None else paused).append(entry)

        scheduled.sort()
        paused.sort(key=itemgetter(1))
        return [entry[2] for entry in scheduled + paused]

    def add_job(self, job: Job) -> None:
        if job.id in self._entries:
            raise ConflictingIdError(job.id)

        self._store(job)

    def update_job(self, job: Job) -> None:
        old_entry = self._entries.get(job.id)
        if old_entry is None:
            raise JobLookupError(job.id)

        # The scheduler usually updates the very object it got from this store, often without
        # changing its next run time (modify_job with other options); that costs nothing here.
        if old_entry[2] is job and old_entry[0] == _timestamp(job):
            return

        self._store(job)
        self._retire(old_entry)

    def remove_job(self, job_id: str) -> None:
        entry = self._entries.pop(job_id, None)
        if entry is None:
            raise JobLookupError(job_id)

        self._retire(entry)

    def remove_all_jobs(self) -> None:
        self._entries.clear()
        self._heap.clear()
        self._stale_count = 0

    def shutdown(self) -> None:
        self.remove_all_jobs()
