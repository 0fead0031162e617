"""
The claim protocol between schedulers and a shared store, checked on an in-process store.

``LeasingMemoryStore`` is a small, complete shared store kept in one process, so that two
schedulers on a fake clock can meet it deterministically; the real stores (SQL, Redis, MongoDB)
are checked against real servers and real processes in ``tests/jobstores``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ProcessPoolExecutor
from apscheduler.jobstores.base import AbandonedRun, RunStart, RunStartOutcome
from apscheduler.jobstores.memory import MemoryJobStore
from tests.jobstores.support import wait_until
from tests.schedulers import targets

UTC = dt_timezone.utc
LEASE = timedelta(seconds=5)


class LeasingMemoryStore(MemoryJobStore):
    """A memory store shared by several schedulers of one process, with leases on a clock."""

    shared = True
    poll_interval = 1.0
    lease_time = LEASE.total_seconds()

    def __init__(self, clock):
        super().__init__()
        self._clock = clock
        self._leases: dict[str, tuple[str, datetime]] = {}
        #: run id -> (job id, owner, run times, lease expiry)
        self.runs: dict[str, tuple[str, str, list[datetime], datetime]] = {}
        self._guard = threading.Lock()

    def start(self, scheduler, alias):
        # several schedulers start the same store: keep its jobs
        self._scheduler, self._alias = scheduler, alias

    def shutdown(self):
        pass

    def _now(self):
        return self._clock.now(UTC)

    def _leased(self, job_id):
        # a live lease blocks every claimer, its holder too: the holder's runs are on their way
        lease = self._leases.get(job_id)
        return lease is not None and lease[1] > self._now()

    def acquire_due_jobs(self, now, owner):
        with self._guard:
            claimed = []
            for job in self.get_due_jobs(now):
                if not self._leased(job.id):
                    self._leases[job.id] = (owner, self._now() + LEASE)
                    claimed.append(job)
            return claimed

    def start_claimed_runs(self, owner, starts):
        with self._guard:
            return [self._start(owner, start) for start in starts]

    def _start(self, owner, start):
        job = start.job
        if start.run_id in self.runs:
            return RunStartOutcome.STARTED
        if self._leases.get(job.id, (None,))[0] != owner or job.id not in self._jobs:
            return RunStartOutcome.LOST
        del self._leases[job.id]
        if start.next_run_time is None:
            self.remove_job(job.id)
        else:
            job._modify(next_run_time=start.next_run_time)
            self.update_job(job)
        in_progress = [run for run in self.runs.values() if run[0] == job.id]
        if sum(run[3] >= self._now() for run in in_progress) >= job.max_instances:
            return RunStartOutcome.MAX_INSTANCES
        self.runs[start.run_id] = (job.id, owner, list(start.run_times), self._now() + LEASE)
        return RunStartOutcome.STARTED

    def finish_runs(self, owner, run_ids):
        with self._guard:
            for run_id in run_ids:
                if self.runs.get(run_id, (None, None))[1] == owner:
                    del self.runs[run_id]

    def renew_runs(self, owner):
        with self._guard:
            for run_id, (job_id, run_owner, run_times, _) in list(self.runs.items()):
                if run_owner == owner:
                    self.runs[run_id] = (job_id, owner, run_times, self._now() + LEASE)

    def take_abandoned_runs(self):
        with self._guard:
            expired = [run_id for run_id, run in self.runs.items() if run[3] < self._now()]
            taken = [self.runs.pop(run_id) for run_id in expired]
            return [AbandonedRun(job_id, times, owner) for job_id, owner, times, _ in taken]

    def release_claimed_job(self, job_id, owner):
        with self._guard:
            if self._leases.get(job_id, (None,))[0] == owner:
                del self._leases[job_id]


class HoldingPool(ProcessPoolExecutor):
    """Keeps what it is given: its runs stay in progress until the test releases them."""

    def _do_submit_job(self, job, run_times):
        self.submitted = (job.id, list(run_times))


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


def missed(events):
    return [(e.job_id, e.scheduled_run_time) for e in events if e.code == EVENT_JOB_MISSED]


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

    assert missed(events) == [("tick", datetime(2026, 3, 1, 12, 1, tzinfo=UTC))]
    assert executed(events) == []


def test_runs_whose_lease_was_lost_before_they_started_are_not_submitted(
    pair, shared_store, events, fake_clock
):
    """The first scheduler stalled after claiming: the second took over and ran the job."""
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    job = shared_store.acquire_due_jobs(fake_clock.now(UTC), first._instance_id)[0]
    fake_clock.advance(seconds=6)
    second._process_jobs()  # takes over the expired lease and runs 12:00:10

    late = RunStart(job, [job.next_run_time], None, "late")
    assert shared_store.start_claimed_runs(first._instance_id, [late]) == [RunStartOutcome.LOST]
    assert len(executed(events)) == 1


def test_a_finished_one_shot_job_is_removed_when_its_run_starts(pair, shared_store, fake_clock):
    first, second = pair
    first.add_job(targets.record, "date", run_date=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))
    fake_clock.advance(seconds=5)

    second._process_jobs()

    assert shared_store.get_all_jobs() == []


def test_a_run_is_in_progress_in_the_store_until_the_executor_is_done_with_it(
    make_scheduler, shared_store, fake_clock
):
    """A process pool cannot call back into the store; its runs end when its future does."""
    pool = HoldingPool(max_workers=1)
    scheduler = make_scheduler(executors={"default": pool}, jobstores={"default": shared_store})
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)

    scheduler._process_jobs()

    assert pool.submitted == ("tick", [datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)])
    assert shared_store.lookup_job("tick").next_run_time == datetime(
        2026, 3, 1, 12, 0, 20, tzinfo=UTC
    )
    assert [run[0] for run in shared_store.runs.values()] == ["tick"]
    assert shared_store._leases == {}

    pool._release_instance("tick")
    scheduler._run_keeper.flush(shared_store, ["tick"])
    assert shared_store.runs == {}


def test_max_instances_holds_across_schedulers(pair, shared_store, events, fake_clock):
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", max_instances=1)
    fake_clock.advance(seconds=10)
    [job] = shared_store.acquire_due_jobs(fake_clock.now(UTC), "elsewhere")
    # another process runs 12:00:10 and has not finished it
    shared_store.start_claimed_runs(
        "elsewhere", [RunStart(job, [job.next_run_time], job.next_run_time + LEASE * 2, "r1")]
    )
    fake_clock.advance(seconds=10)
    shared_store.renew_runs("elsewhere")  # as the live process's keeper does

    second._process_jobs()

    skipped = [
        (e.job_id, e.scheduled_run_times) for e in events if e.code == EVENT_JOB_MAX_INSTANCES
    ]
    assert skipped == [("tick", [datetime(2026, 3, 1, 12, 0, 20, tzinfo=UTC)])]
    assert executed(events) == []

    shared_store.finish_runs("elsewhere", ["r1"])
    fake_clock.advance(seconds=10)
    second._process_jobs()
    assert executed(events) == [("tick", datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC))]


def test_runs_left_in_progress_by_a_dead_scheduler_are_reported_missed(
    pair, shared_store, events, fake_clock
):
    """Nobody can tell whether they ran to the end, so they are not silently taken as done."""
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    [job] = shared_store.acquire_due_jobs(fake_clock.now(UTC), "dead")
    shared_store.start_claimed_runs(
        "dead", [RunStart(job, [job.next_run_time], job.next_run_time + LEASE * 2, "r1")]
    )
    second._process_jobs()
    assert missed(events) == []

    fake_clock.advance(seconds=6)  # past the run's lease
    second._process_jobs()

    assert missed(events) == [("tick", datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC))]
    assert executed(events) == []


def test_a_live_scheduler_keeps_its_runs_in_progress_renewed(
    make_scheduler, shared_store, fake_clock
):
    from apscheduler.schedulers._claims import RunKeeper

    shared_store.lease_time = 0.3  # the keeper renews every third of it
    keeper = RunKeeper("alive", logging.getLogger(__name__))
    shared_store.runs["r1"] = ("tick", "alive", [], fake_clock.now(UTC))
    keeper.track(shared_store, "r1")
    fake_clock.advance(seconds=1)

    renewed = wait_until(lambda: shared_store.runs["r1"][3] > fake_clock.now(UTC), timeout=5)
    keeper.stop()

    assert renewed


def test_a_shared_store_makes_the_scheduler_poll(pair, fake_clock):
    first, _ = pair
    first.add_job(targets.record, "interval", hours=1)

    assert first._process_jobs() == 1.0


def test_ended_runs_the_store_failed_to_forget_are_forgotten_on_the_next_try(
    shared_store, fake_clock
):
    """Until forgotten, they would count against max_instances (a mock outage: one failure)."""
    from apscheduler.schedulers._claims import RunKeeper

    keeper = RunKeeper("alive", logging.getLogger(__name__))
    shared_store.runs["r1"] = ("tick", "alive", [], fake_clock.now(UTC) + LEASE)
    finish_runs = shared_store.finish_runs
    calls = []

    def fail_once(owner, run_ids):
        calls.append(list(run_ids))
        if len(calls) == 1:
            raise ConnectionError("store unreachable")
        finish_runs(owner, run_ids)

    shared_store.finish_runs = fail_once
    keeper.finish(shared_store, "r1", "tick")
    keeper.flush(shared_store, ["tick"])
    assert "r1" in shared_store.runs

    keeper.flush(shared_store, ["tick"])

    assert calls == [["r1"], ["r1"]]
    assert shared_store.runs == {}


def test_starting_other_jobs_leaves_ended_runs_to_the_keeper_thread(shared_store, fake_clock):
    """A burst of different jobs pays no round trip to forget runs that cannot count for it."""
    from apscheduler.schedulers._claims import RunKeeper

    keeper = RunKeeper("alive", logging.getLogger(__name__))
    shared_store.runs["r1"] = ("tick", "alive", [], fake_clock.now(UTC) + LEASE)
    keeper.finish(shared_store, "r1", "tick")

    keeper.flush(shared_store, ["tock", "other"])
    assert "r1" in shared_store.runs

    keeper.flush(shared_store, ["other", "tick"])
    assert shared_store.runs == {}


def test_a_pass_waits_for_a_forget_of_its_jobs_runs_already_under_way(shared_store, fake_clock):
    """Else the store would still count the ended run against max_instances."""
    from apscheduler.schedulers._claims import RunKeeper

    keeper = RunKeeper("alive", logging.getLogger(__name__))
    shared_store.runs["r1"] = ("tick", "alive", [], fake_clock.now(UTC) + LEASE)
    finish_runs = shared_store.finish_runs
    forgetting = threading.Event()

    def slow_finish_runs(owner, run_ids):
        forgetting.set()
        time.sleep(0.2)
        finish_runs(owner, run_ids)

    shared_store.finish_runs = slow_finish_runs
    keeper.finish(shared_store, "r1", "tick")
    keeper_thread = threading.Thread(target=keeper._flush)  # as the keeper's own thread does
    keeper_thread.start()
    assert forgetting.wait(10)

    keeper.flush(shared_store, ["tick"])

    assert shared_store.runs == {}
    keeper_thread.join(10)


def test_shutting_down_without_waiting_warns_of_the_runs_left_in_progress(
    make_scheduler, shared_store, fake_clock, caplog
):
    scheduler = make_scheduler(
        executors={"default": HoldingPool(max_workers=1)}, jobstores={"default": shared_store}
    )
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    with caplog.at_level(logging.WARNING, "apscheduler.scheduler"):
        scheduler.shutdown(wait=False)

    assert "Shut down while 1 job runs from shared job stores were still going on" in caplog.text
    assert [run[0] for run in shared_store.runs.values()] == ["tick"], "left to its lease"
