"""
The claim protocol between schedulers and a shared store, checked on an in-process store.

``LeasingMemoryStore`` is a small, complete shared store kept in one process, so that two
schedulers on a fake clock can meet it deterministically; the real stores (SQL, Redis, MongoDB)
are checked against real servers and real processes in ``tests/jobstores``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ProcessPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers._claims import ClaimedRunTimes
from tests.schedulers import targets

UTC = dt_timezone.utc
LEASE = timedelta(seconds=5)


class LeasingMemoryStore(MemoryJobStore):
    """A memory store shared by several schedulers of one process, with leases on a clock."""

    shared = True
    poll_interval = 1.0

    def __init__(self, clock):
        super().__init__()
        self._clock = clock
        self._leases: dict[str, tuple[str, datetime]] = {}
        self._guard = threading.Lock()

    def start(self, scheduler, alias):
        # several schedulers start the same store: keep its jobs
        self._scheduler, self._alias = scheduler, alias

    def shutdown(self):
        pass

    def _leased(self, job_id):
        # a live lease blocks every claimer, its holder too: the holder's runs are on their way
        lease = self._leases.get(job_id)
        return lease is not None and lease[1] > self._clock.now(UTC)

    def acquire_due_jobs(self, now, owner):
        with self._guard:
            claimed = []
            for job in self.get_due_jobs(now):
                if not self._leased(job.id):
                    self._leases[job.id] = (owner, self._clock.now(UTC) + LEASE)
                    claimed.append(job)
            return claimed

    def advance_claimed_job(self, job, owner, next_run_time, release):
        with self._guard:
            lease = self._leases.get(job.id)
            if lease is None or lease[0] != owner or job.id not in self._jobs:
                return False
            if next_run_time is None:
                self.remove_job(job.id)
                self._leases.pop(job.id, None)
                return True
            job._modify(next_run_time=next_run_time)
            self.update_job(job)
            if release:
                self._leases.pop(job.id, None)
            return True

    def release_claimed_job(self, job_id, owner):
        with self._guard:
            if self._leases.get(job_id, (None,))[0] == owner:
                del self._leases[job_id]


@pytest.fixture
def shared_store(fake_clock):
    return LeasingMemoryStore(fake_clock)


@pytest.fixture
def pair(make_scheduler, shared_store):
    """Two started schedulers sharing one store."""
    first = make_scheduler(jobstores={"default": shared_store})
    second = make_scheduler(jobstores={"default": shared_store})
    first.start()
    second.start()
    return first, second


def executed(events):
    return [(e.job_id, e.scheduled_run_time) for e in events if e.code == EVENT_JOB_EXECUTED]


def test_each_run_time_is_started_by_one_scheduler(pair, events, fake_clock):
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick")

    for _ in range(6):
        fake_clock.advance(seconds=10)
        first._process_jobs()
        second._process_jobs()

    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert executed(events) == [("tick", start + timedelta(seconds=10 * n)) for n in range(1, 7)]


def test_a_job_leased_to_a_dead_scheduler_runs_once_its_lease_expires(
    pair, shared_store, events, fake_clock
):
    """The dead scheduler claimed the job and died before running it: the run is not lost."""
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    assert [job.id for job in shared_store.acquire_due_jobs(fake_clock.now(UTC), "dead")] == [
        "tick"
    ]

    second._process_jobs()
    assert executed(events) == []

    fake_clock.advance(seconds=6)  # past the lease
    second._process_jobs()
    assert executed(events) == [("tick", datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC))]


def test_runs_too_late_after_failover_are_reported_missed(pair, shared_store, events, fake_clock):
    first, second = pair
    first.add_job(targets.record, "interval", seconds=60, id="tick", misfire_grace_time=2)
    fake_clock.advance(seconds=60)
    shared_store.acquire_due_jobs(fake_clock.now(UTC), "dead")

    fake_clock.advance(seconds=6)
    second._process_jobs()

    missed = [(e.job_id, e.scheduled_run_time) for e in events if e.code == EVENT_JOB_MISSED]
    assert missed == [("tick", datetime(2026, 3, 1, 12, 1, tzinfo=UTC))]
    assert executed(events) == []


def test_a_run_whose_lease_was_lost_before_it_started_is_not_started(
    pair, shared_store, events, fake_clock
):
    """The executor was slow: another scheduler took over, so the late start stays out."""
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    job = shared_store.acquire_due_jobs(fake_clock.now(UTC), first._instance_id)[0]
    fake_clock.advance(seconds=6)
    second._process_jobs()  # takes over the expired lease and runs 12:00:10

    stale = ClaimedRunTimes([job.next_run_time], job, shared_store, first._instance_id, None)
    assert stale.start(0) is False
    assert len(executed(events)) == 1


def test_a_finished_one_shot_job_is_removed_when_its_run_starts(pair, shared_store, fake_clock):
    first, second = pair
    first.add_job(targets.record, "date", run_date=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))
    fake_clock.advance(seconds=5)

    second._process_jobs()

    assert shared_store.get_all_jobs() == []


def test_process_pool_runs_are_recorded_at_submission(make_scheduler, shared_store, fake_clock):
    """A process pool cannot call back into the store, so the scheduler records the runs."""

    class RecordingPool(ProcessPoolExecutor):
        def _do_submit_job(self, job, run_times):
            self.submitted = (job.id, list(run_times), type(run_times))
            self._release_instance(job.id)

    pool = RecordingPool(max_workers=1)
    scheduler = make_scheduler(executors={"default": pool}, jobstores={"default": shared_store})
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)

    scheduler._process_jobs()

    assert pool.submitted[0] == "tick" and pool.submitted[2] is list
    assert shared_store.lookup_job("tick").next_run_time == datetime(
        2026, 3, 1, 12, 0, 20, tzinfo=UTC
    )
    assert shared_store._leases == {}


def test_a_shared_store_makes_the_scheduler_poll(pair, fake_clock):
    first, _ = pair
    first.add_job(targets.record, "interval", hours=1)

    assert first._process_jobs() == 1.0
