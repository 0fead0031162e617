"""
The claim protocol between schedulers and a shared store, checked on an in-process store.

The reference store (``tests/jobstores/reference_store.py``) is a complete shared store kept in
one process, with leases on a clock the test moves, so that two schedulers on a fake clock meet
it deterministically; each scheduler has a store of its own on one storage, as each process has
its own connection to one database. The real stores (SQL, Redis, MongoDB) are checked against
real servers and real processes in ``tests/jobstores`` and ``tests/multiprocess``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_UNLOADABLE,
)
from apscheduler.executors.pool import ProcessPoolExecutor
from apscheduler.jobstores.shared import AbandonedRun, RunStartOutcome
from apscheduler.schedulers._run_leases import RunLeases
from tests.jobstores import support
from tests.jobstores.reference_store import ReferenceJobStore, ReferenceStorage
from tests.jobstores.support import RecordingScheduler, start_for, wait_until
from tests.schedulers import targets
from tests.schedulers.conftest import LaterExecutor

UTC = dt_timezone.utc
LEASE = timedelta(seconds=5)
#: the fake clock's start (see tests/conftest.py)
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class HoldingPool(ProcessPoolExecutor):
    """Keeps what it is given: its runs stay in progress until the test ends them."""

    submitted: tuple[str, list[datetime]] | None = None

    def _do_submit_job(self, job, run_times):
        self.submitted = (job.id, list(run_times))
        self.run_times = run_times

    def end_run(self):
        """Report the held run ended, as the pool does when the run's future is done."""
        self._release_instance(self.submitted[0], self.run_times)


class PausedProcessTime:
    """
    Stands in for the ``time`` module of the run leases, in a process that was paused.

    ``time.monotonic()`` goes on from where it was, plus the time the process spent stopped
    (``SIGSTOP``, a paused virtual machine): that is how the process sees the pause once it
    runs again. Only the thread that runs the job sees it yet; the run leases' own thread is
    still asleep in its timed wait (which thread runs first after a pause is up to the OS).
    """

    def __init__(self, paused_for: float):
        self.paused_for = paused_for
        self._job_thread = threading.get_ident()

    def monotonic(self):
        if threading.get_ident() == self._job_thread:
            return time.monotonic() + self.paused_for
        return time.monotonic()


@pytest.fixture
def storage(fake_clock):
    """What the schedulers share, with leases on the fake clock."""
    return ReferenceStorage(clock=lambda: fake_clock.now(UTC).timestamp())


@pytest.fixture
def make_store(storage):
    """Makes stores on the shared storage: one per scheduler, as one connection per process."""

    def factory(**options):
        options.setdefault("lease_time", LEASE.total_seconds())
        options.setdefault("poll_interval", 1.0)
        return ReferenceJobStore(storage, **options)

    return factory


@pytest.fixture
def shared_store(make_store):
    """The store as another process sees it: the test claims and starts through it."""
    store = make_store()
    store.start(RecordingScheduler(), "default")
    return store


@pytest.fixture
def pair(make_scheduler, make_store):
    """Two started schedulers sharing one storage."""
    first = make_scheduler(jobstores={"default": make_store()})
    second = make_scheduler(jobstores={"default": make_store()})
    first.start()
    second.start()
    return first, second


def missed(events):
    return [(e.job_id, e.scheduled_run_time) for e in events if e.code == EVENT_JOB_MISSED]


def executed(events):
    return [(e.job_id, e.scheduled_run_time) for e in events if e.code == EVENT_JOB_EXECUTED]


def claimed_ids(store, owner, now):
    return [job.id for job in store.acquire_due_jobs(now, owner).jobs]


def record_calls(store):
    """
    Record the names of the store methods called on this thread (the scheduler's pass).

    Runs that ended are finished from the run leases' own thread, off the pass: not recorded.
    """
    calls = []
    caller = threading.get_ident()
    for name in (
        "lookup_job",
        "get_due_jobs",
        "get_next_run_time",
        "get_all_jobs",
        "add_job",
        "update_job",
        "remove_job",
        "acquire_due_jobs",
        "start_claimed_runs",
        "release_claimed_job",
        "renew_runs",
        "finish_runs",
        "take_abandoned_runs",
    ):
        method = getattr(store, name)

        def recorded(*args, _method=method, _name=name, **kwargs):
            if threading.get_ident() == caller:
                calls.append(_name)
            return _method(*args, **kwargs)

        setattr(store, name, recorded)
    return calls


def test_each_run_time_is_started_by_one_scheduler(pair, events, fake_clock):
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick")

    for _ in range(6):
        fake_clock.advance(seconds=10)
        first._process_jobs()
        second._process_jobs()

    assert executed(events) == [("tick", NOON + timedelta(seconds=10 * n)) for n in range(1, 7)]


def test_a_job_leased_to_a_dead_scheduler_runs_once_its_lease_expires(
    pair, shared_store, events, fake_clock
):
    """The dead scheduler claimed the job and died before running it: the run is not lost."""
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=30)
    fake_clock.advance(seconds=10)
    assert claimed_ids(shared_store, "dead", fake_clock.now(UTC)) == ["tick"]

    second._process_jobs()
    assert executed(events) == []

    fake_clock.advance(seconds=6)  # past the lease
    second._process_jobs()
    assert executed(events) == [("tick", datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC))]


def test_a_scheduler_wakes_when_a_lease_held_elsewhere_runs_out(
    make_scheduler, make_store, shared_store, fake_clock
):
    """The holder may die: the claim says when its lease ends, and the scheduler looks then."""
    scheduler = make_scheduler(jobstores={"default": make_store(poll_interval=None)})
    scheduler.start()
    scheduler.add_job(targets.record, "interval", hours=1, id="tick")
    fake_clock.advance(hours=1)
    assert claimed_ids(shared_store, "elsewhere", fake_clock.now(UTC)) == ["tick"]

    assert scheduler._process_jobs() == LEASE.total_seconds()


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
    [job] = shared_store.acquire_due_jobs(fake_clock.now(UTC), first._instance_id).jobs
    fake_clock.advance(seconds=6)
    second._process_jobs()  # takes over the expired lease and runs 12:00:10

    late = start_for(job, [job.next_run_time], None, "late")
    assert shared_store.start_claimed_runs(first._instance_id, [late]) == [RunStartOutcome.LOST]
    assert len(executed(events)) == 1


def test_a_finished_one_shot_job_is_removed_when_its_run_starts(pair, shared_store, fake_clock):
    first, second = pair
    first.add_job(targets.record, "date", run_date=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC))
    fake_clock.advance(seconds=5)

    second._process_jobs()

    assert shared_store.get_all_jobs() == []


def test_a_run_is_in_progress_in_the_store_until_the_executor_is_done_with_it(
    make_scheduler, make_store, storage, fake_clock
):
    """A process pool cannot call back into the store; its runs end when its future does."""
    pool = HoldingPool(max_workers=1)
    store = make_store()
    scheduler = make_scheduler(executors={"default": pool}, jobstores={"default": store})
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)

    scheduler._process_jobs()

    assert pool.submitted == ("tick", [datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)])
    assert store.lookup_job("tick").next_run_time == datetime(2026, 3, 1, 12, 0, 20, tzinfo=UTC)
    assert [run.job_id for run in storage.runs.values()] == ["tick"]
    assert storage.leases == {}

    pool.end_run()

    # finished in the store from the run leases' thread, off the job's and the pass's
    assert wait_until(lambda: storage.runs == {})


def test_max_instances_holds_across_schedulers(pair, shared_store, events, fake_clock):
    first, second = pair
    first.add_job(targets.record, "interval", seconds=10, id="tick", max_instances=1)
    fake_clock.advance(seconds=10)
    [job] = shared_store.acquire_due_jobs(fake_clock.now(UTC), "elsewhere").jobs
    # another process runs 12:00:10 and has not finished it
    shared_store.start_claimed_runs(
        "elsewhere", [start_for(job, [job.next_run_time], job.next_run_time + LEASE * 2, "r1")]
    )
    fake_clock.advance(seconds=10)
    assert shared_store.renew_runs("elsewhere") == {"r1"}  # as the live process's leases do

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
    [job] = shared_store.acquire_due_jobs(fake_clock.now(UTC), "dead").jobs
    shared_store.start_claimed_runs(
        "dead", [start_for(job, [job.next_run_time], job.next_run_time + LEASE * 2, "r1")]
    )
    second._process_jobs()
    assert missed(events) == []

    fake_clock.advance(seconds=6)  # past the run's lease
    second._process_jobs()

    assert missed(events) == [("tick", datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC))]
    assert executed(events) == []


def test_a_live_scheduler_keeps_its_runs_in_progress_renewed(
    make_scheduler, make_store, shared_store, storage, fake_clock
):
    # renewed every third of the lease, by the run leases' thread
    store = make_store(lease_time=0.3)
    scheduler = make_scheduler(
        executors={"default": HoldingPool(max_workers=1)}, jobstores={"default": store}
    )
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    fake_clock.advance(seconds=1)  # past the first lease of the run, by the store's clock

    renewed = wait_until(
        lambda: all(run.expires > storage.clock() for run in storage.runs.values()), timeout=5
    )

    assert renewed
    assert shared_store.take_abandoned_runs() == []
    assert [run.job_id for run in storage.runs.values()] == ["tick"]


def test_a_shared_store_makes_the_scheduler_poll(pair, fake_clock):
    first, _ = pair
    first.add_job(targets.record, "interval", hours=1)

    assert first._process_jobs() == 1.0


def test_ended_runs_the_store_failed_to_finish_are_finished_on_the_next_try(
    make_scheduler, make_store, storage, fake_clock, caplog
):
    """Until finished, they would count against max_instances (a mock outage: one failure)."""
    pool = HoldingPool(max_workers=1)
    store = make_store()
    scheduler = make_scheduler(executors={"default": pool}, jobstores={"default": store})
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    [run_id] = storage.runs
    finish_runs = store.finish_runs
    calls = []

    def fail_once(owner, run_ids):
        calls.append(list(run_ids))
        if len(calls) == 1:
            raise ConnectionError("store unreachable")
        finish_runs(owner, run_ids)

    store.finish_runs = fail_once
    with caplog.at_level(logging.WARNING, "apscheduler.scheduler"):
        pool.end_run()

        # the run leases' thread tries again after a pause
        assert wait_until(lambda: storage.runs == {})

    assert calls == [[run_id], [run_id]]
    assert "Could not record the end of 1 job runs" in caplog.text


@pytest.fixture
def run_leases():
    leases = RunLeases("alive", logging.getLogger(__name__))
    yield leases
    leases.stop()


def start_run(store, job_id, owner="alive"):
    """Put one run of a new job ``job_id`` in progress in ``store``; return its run times."""
    support.add(store, job_id, run_time=NOON)
    [job] = store.acquire_due_jobs(NOON, owner).jobs
    run_times = [NOON]
    [outcome] = store.start_claimed_runs(owner, [start_for(job, run_times, None, job_id)])
    assert outcome is RunStartOutcome.STARTED
    return run_times


def test_starting_other_jobs_leaves_ended_runs_to_the_leases_thread(
    run_leases, shared_store, storage
):
    """A burst of different jobs pays no round trip to finish runs that cannot count for it."""
    run_times = start_run(shared_store, "tick")
    run_leases.track(shared_store, "tick", "tick", run_times, time.monotonic())
    run_leases.ended("tick", run_times)
    calls = record_calls(shared_store)

    run_leases.flush(shared_store, ["tock", "other"])
    assert calls == [], "no round trip on the pass's thread"

    run_leases.flush(shared_store, ["other", "tick"])
    assert storage.runs == {}, "finished (by the pass, or by the thread before it)"


def test_a_pass_waits_for_a_finish_of_its_jobs_runs_already_under_way(
    run_leases, shared_store, storage
):
    """Else the store would still count the ended run against max_instances."""
    run_times = start_run(shared_store, "tick")
    finish_runs = shared_store.finish_runs
    finishing, may_finish = threading.Event(), threading.Event()

    def slow_finish_runs(owner, run_ids):
        finishing.set()
        may_finish.wait(10)
        finish_runs(owner, run_ids)

    shared_store.finish_runs = slow_finish_runs
    run_leases.track(shared_store, "tick", "tick", run_times, time.monotonic())
    run_leases.ended("tick", run_times)  # the leases' thread starts finishing it
    assert finishing.wait(10)
    left_in_store = []

    def next_pass():
        run_leases.flush(shared_store, ["tick"])
        left_in_store.extend(storage.runs)

    passing = threading.Thread(target=next_pass)
    passing.start()
    # the pass must still be waiting while the finish is under way (if it is slow to get
    # there, the test checks less, but never fails for it)
    passing.join(0.1)
    assert passing.is_alive()
    may_finish.set()
    passing.join(10)

    assert left_in_store == []


def test_shutting_down_without_waiting_warns_of_the_runs_left_in_progress(
    make_scheduler, make_store, storage, fake_clock, caplog
):
    scheduler = make_scheduler(
        executors={"default": HoldingPool(max_workers=1)}, jobstores={"default": make_store()}
    )
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick")
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()

    with caplog.at_level(logging.WARNING, "apscheduler.scheduler"):
        scheduler.shutdown(wait=False)

    assert "Shut down while 1 job runs from shared job stores were still going on" in caplog.text
    assert [run.job_id for run in storage.runs.values()] == ["tick"], "left to its lease"


# --- the pass over a shared store -----------------------------------------------------------


def test_a_pass_that_starts_jobs_makes_two_store_calls(
    make_scheduler, make_store, events, fake_clock
):
    """Claim, and start the batch: no separate look at the next run time, no finishing."""
    store = make_store(lease_time=60)  # no look for abandoned runs in the pass measured
    scheduler = make_scheduler(jobstores={"default": store})
    scheduler.start()
    for job_id in ("a", "b", "c"):
        scheduler.add_job(targets.record, "interval", seconds=10, id=job_id)
    scheduler._process_jobs()  # a first pass looks for abandoned runs where runs go on
    fake_clock.advance(seconds=10)
    calls = record_calls(store)

    scheduler._process_jobs()

    assert calls == ["acquire_due_jobs", "start_claimed_runs"]
    assert sorted(job_id for job_id, _ in executed(events)) == ["a", "b", "c"]


def test_an_idle_pass_looks_for_abandoned_runs_only_while_runs_are_in_progress(
    make_scheduler, make_store, shared_store, fake_clock
):
    """With no run in progress anywhere, none can be abandoned: a look is one claim."""
    store = make_store()
    scheduler = make_scheduler(jobstores={"default": store})
    scheduler.start()
    scheduler.add_job(targets.record, "interval", hours=1, id="hourly")
    calls = record_calls(store)

    for _ in range(4):  # each pass a lease apart, when a look would be due
        fake_clock.advance(seconds=LEASE.total_seconds())
        scheduler._process_jobs()

    assert calls == ["acquire_due_jobs"] * 4

    # another scheduler starts a run: once it could be abandoned, the next pass looks
    now = fake_clock.now(UTC)
    support.add(shared_store, "elsewhere", run_time=now)
    (claimed,) = shared_store.acquire_due_jobs(now, "other").jobs
    shared_store.start_claimed_runs("other", [start_for(claimed, [now], None, "run-1")])
    calls.clear()
    fake_clock.advance(seconds=LEASE.total_seconds())
    scheduler._process_jobs()

    assert calls == ["acquire_due_jobs", "take_abandoned_runs"]


def test_a_burst_costs_no_extra_wakeup_or_pass(make_scheduler, make_store, fake_clock):
    """The store does not wake its scheduler: the pass knows the moved-on jobs' run times."""
    scheduler = make_scheduler(jobstores={"default": make_store(poll_interval=None)})
    scheduler.start()
    for job_id in ("a", "b", "c"):
        scheduler.add_job(targets.record, "interval", seconds=10, id=job_id)
    fake_clock.advance(seconds=10)
    wakeups = scheduler.wakeups

    delay = scheduler._process_jobs()

    assert scheduler.wakeups == wakeups
    assert delay == 10, "back when the jobs moved on are due"


def test_events_a_store_sends_during_a_pass_reach_listeners_after_the_lock(
    make_scheduler, make_store, fake_clock, monkeypatch
):
    """A job that fails to load is reported while the store is read, under the scheduler lock."""
    scheduler = make_scheduler(jobstores={"default": make_store()})
    scheduler.start()
    heard = []

    def listener(event):
        heard.append((event.job_id, scheduler._jobstores_lock._is_owned()))

    scheduler.add_listener(listener, EVENT_JOB_UNLOADABLE)
    scheduler.add_job(support.doomed, "interval", seconds=10, id="doomed")
    monkeypatch.delattr(support, "doomed")  # a deploy renamed the function
    fake_clock.advance(seconds=10)

    scheduler._process_jobs()

    assert heard == [("doomed", False)]


def test_a_run_whose_lease_was_lost_while_the_process_was_paused_is_not_started(
    make_scheduler, make_store, shared_store, events, fake_clock, monkeypatch, caplog
):
    """The other scheduler reported the run missed: starting it now could run it twice."""
    # a long lease: the run leases' thread renews only every 20 seconds of real time
    lease_time = 60.0
    executor = LaterExecutor()
    scheduler = make_scheduler(
        executors={"default": executor}, jobstores={"default": make_store(lease_time=lease_time)}
    )
    scheduler.start()
    targets.calls.clear()
    scheduler.add_job(targets.record, "interval", seconds=10, id="tick", misfire_grace_time=300)
    fake_clock.advance(seconds=10)
    scheduler._process_jobs()
    assert [job.id for job, _ in executor.waiting] == ["tick"], "submitted, not started yet"

    # the process is stopped for longer than the lease; meanwhile another scheduler takes
    # the run as abandoned and reports it
    fake_clock.advance(seconds=lease_time + 1)
    assert shared_store.take_abandoned_runs() == [
        AbandonedRun("tick", [datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)], scheduler._instance_id)
    ]
    monkeypatch.setattr(
        "apscheduler.schedulers._run_leases.time", PausedProcessTime(lease_time + 1)
    )

    with caplog.at_level(logging.WARNING, "apscheduler.scheduler"):
        executor.run_waiting()  # the process runs again, and its executor gets to the run

    assert targets.calls == []
    assert executed(events) == []
    assert 'Run of job "tick" (scheduled at 2026-03-01 12:00:10+00:00) not started' in caplog.text
