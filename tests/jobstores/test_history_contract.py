"""
The run-history contract (:class:`~apscheduler.runs.RunHistory`) of every store that keeps one.

Each test runs on the memory store and on every shared store against its real server; where
the order or the pruning of runs is checked, the store must agree with
:class:`~apscheduler.runs.MemoryRunHistory` given the same records. What each store writes where
(tables, keys, documents) is checked in its own ``test_<store>_history.py``.
"""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.runs import (
    FAILED,
    JOB_PAUSED,
    MISSED,
    PENDING,
    RUNNING,
    SCHEDULER_STARTED,
    SCHEDULER_STOPPED,
    SKIPPED,
    STORE_UNREACHABLE,
    SUCCEEDED,
    JobRun,
    MemoryRunHistory,
    RetentionPolicy,
    RunHistory,
    SchedulerFact,
)
from tests.conftest import FakeClock
from tests.schedulers import targets

from . import support
from .conftest import HISTORY_KINDS, PERSISTENT_SHARED_KINDS, StoreFactory, _factory
from .support import T0, SteppedScheduler, make_job


@pytest.fixture(params=HISTORY_KINDS)
def factory(request, tmp_path):
    """Makes started stores of each kind that keeps a history, all on one storage."""
    yield from _factory(request.param, request, tmp_path)


@pytest.fixture(params=PERSISTENT_SHARED_KINDS)
def shared_factory(request, tmp_path):
    """The same, for the stores that several processes share."""
    yield from _factory(request.param, request, tmp_path)


@pytest.fixture
def store(factory):
    return factory()


def run(run_id, job_id="job", minutes=0, state=SUCCEEDED, **fields):
    """A run of ``job_id`` scheduled ``minutes`` after T0, finished a second later."""
    scheduled = T0 + timedelta(minutes=minutes)
    if state != RUNNING:
        fields.setdefault("finished_at", scheduled + timedelta(seconds=1))
    return JobRun(run_id, job_id, "default", scheduled, state, **fields)


def run_ids(runs):
    return [run.run_id for run in runs]


def mixed_runs():
    """Thirty runs of each of three jobs, in every state, out of order, ended at many times."""
    states = [SUCCEEDED, FAILED, RUNNING, MISSED, SKIPPED]
    return [
        run(
            f"{job_id}-{i:02d}",
            job_id,
            minutes=(i * 7) % 50,
            state=states[i % len(states)],
            finished_at=None if i % 5 == 2 else T0 + timedelta(minutes=i * 9),
        )
        for job_id in ("a", "b", "c")
        for i in range(30)
    ]


def reader_after(factory: StoreFactory, writer):
    """
    What another process on the writer's storage reads with: a new store object. A memory
    store has no storage beyond itself, so it is the writer again (its history outlives it).
    """
    return writer if factory.kind == "memory" else factory()


def test_the_store_keeps_a_run_history(store):
    assert isinstance(store, RunHistory)


# --- recording ---------------------------------------------------------------------------


def test_every_field_of_a_run_reads_back_as_recorded(factory):
    store = factory()
    eastern = timezone(timedelta(hours=-5))
    failed = JobRun(
        run_id="run-1",
        job_id="jöb ✓ 𝄞",
        jobstore="default",
        scheduled_run_time=T0,
        state=FAILED,
        submitted_at=T0 + timedelta(microseconds=1500),
        started_at=(T0 + timedelta(seconds=1, microseconds=250_001)).astimezone(eastern),
        finished_at=T0 + timedelta(seconds=3, microseconds=999_999),
        reason=None,
        exception_type="builtins.ValueError",
        exception='bad "value": ünïcode\n𝄞',
        traceback="Traceback (most recent call last):\n" + "  line\n" * 5000,
        host="worker-1.example.com",
        pid=4_194_303,
    )
    missed = JobRun(
        "run-2",
        "jöb ✓ 𝄞",
        None,
        T0 - timedelta(minutes=1),
        MISSED,
        reason="started 12.4 s after its scheduled time, beyond misfire_grace_time=1",
    )

    store.record_runs([failed, missed])

    [read_failed, read_missed] = store.get_job_runs("jöb ✓ 𝄞")
    assert read_failed == failed
    assert read_missed == missed
    if factory.kind != "memory":  # it keeps the very records it was given
        # times are written as UTC timestamps: the same moments come back, in UTC
        for moment in (read_failed.scheduled_run_time, read_failed.started_at):
            assert moment.utcoffset() == timedelta(0)
    assert read_missed.submitted_at is None and read_missed.finished_at is None


def test_recording_a_run_again_replaces_its_record(store):
    """A run is recorded when it is submitted and again, under the same id, when it ends."""
    started = run("run-1", state=RUNNING, started_at=T0)
    store.record_runs([started, run("run-2", minutes=-1)])
    ended = started.evolve(state=SUCCEEDED, finished_at=T0 + timedelta(seconds=2))

    store.record_runs([ended])
    store.record_runs([ended])  # a retry after a lost reply

    assert store.get_job_runs("job") == [ended, run("run-2", minutes=-1)]
    assert store.get_job_runs(limit=1000) == [ended, run("run-2", minutes=-1)]


def test_a_batch_that_names_a_run_twice_keeps_its_last_record(store):
    started = run("run-1", state=RUNNING)
    ended = started.evolve(state=FAILED, exception="boom")

    store.record_runs([started, run("other"), ended])
    store.record_runs([])

    assert store.get_job_runs() == [ended, run("other")]


def test_a_run_recorded_again_under_another_job_or_time_moves_with_it(store):
    store.record_runs([run("run-1", "first", minutes=0)])

    store.record_runs([run("run-1", "second", minutes=5)])

    assert store.get_job_runs("first") == []
    assert store.get_job_runs("second") == [run("run-1", "second", minutes=5)]
    assert store.get_job_runs(since=T0 + timedelta(minutes=5)) == [
        run("run-1", "second", minutes=5)
    ]


# --- reading -----------------------------------------------------------------------------


def test_runs_come_newest_first_with_ties_broken_by_the_later_run_id(store):
    runs = [
        run("b", minutes=1),
        run("a", minutes=1),
        run("c", minutes=-5),
        run("d", "other", minutes=3),
        run("e", "other", minutes=1),
    ]
    memory = MemoryRunHistory()
    memory.record_runs(runs)

    store.record_runs(runs)

    assert run_ids(store.get_job_runs()) == ["d", "e", "b", "a", "c"]
    assert store.get_job_runs() == memory.get_job_runs()
    assert run_ids(store.get_job_runs("job")) == ["b", "a", "c"]


def test_runs_are_filtered_by_job_state_time_and_count(store):
    runs = [
        run("r0", minutes=0, state=SUCCEEDED),
        run("r1", minutes=1, state=FAILED),
        run("r2", minutes=2, state=SKIPPED, reason="max_instances=1 reached"),
        run("r3", minutes=3, state=RUNNING),
        run("x1", "other", minutes=1, state=FAILED),
    ]
    store.record_runs(runs)

    assert run_ids(store.get_job_runs("job")) == ["r3", "r2", "r1", "r0"]
    assert run_ids(store.get_job_runs("missing")) == []
    assert run_ids(store.get_job_runs(states={FAILED})) == ["x1", "r1"]
    assert run_ids(store.get_job_runs("job", states=[RUNNING, SKIPPED])) == ["r3", "r2"]
    assert run_ids(store.get_job_runs(states=())) == []
    # since is inclusive, and any time zone names the same moment
    since = (T0 + timedelta(minutes=1)).astimezone(timezone(timedelta(hours=9)))
    assert run_ids(store.get_job_runs("job", since=since)) == ["r3", "r2", "r1"]
    assert run_ids(store.get_job_runs(limit=2)) == ["r3", "r2"]
    assert store.get_job_runs(limit=0) == []
    assert run_ids(store.get_job_runs("job", states={FAILED, SUCCEEDED}, since=T0, limit=1)) == [
        "r1"
    ]


def test_a_filter_by_state_reads_past_many_runs_of_other_states(store):
    """The one failure among many successes is found, however far back it is."""
    runs = [run(f"ok-{i:04d}", minutes=i) for i in range(1, 1000)]
    runs.append(run("the-failure", minutes=0, state=FAILED))
    store.record_runs(runs)

    assert run_ids(store.get_job_runs("job", states={FAILED})) == ["the-failure"]
    assert len(store.get_job_runs(limit=5000)) == 1000
    assert run_ids(store.get_job_runs(states={SUCCEEDED}, limit=300))[-1] == "ok-0700"


# --- pruning -----------------------------------------------------------------------------


def test_pruning_keeps_the_newest_runs_of_each_job_and_every_running_one(store):
    runs = [run(f"job-{i}", minutes=i) for i in range(6)]
    runs += [run(f"other-{i}", "other", minutes=i) for i in range(2)]
    # the oldest run of the job is still going on: it is kept, though it counts
    runs[0] = run("job-0", minutes=0, state=RUNNING)
    store.record_runs(runs)

    store.prune_runs(RetentionPolicy(max_runs=3, max_age=None), T0)
    store.prune_runs(RetentionPolicy(max_runs=3, max_age=None), T0)  # a retry

    assert run_ids(store.get_job_runs("job")) == ["job-5", "job-4", "job-3", "job-0"]
    assert run_ids(store.get_job_runs("other")) == ["other-1", "other-0"]
    assert run_ids(store.get_job_runs()) == [
        "job-5",
        "job-4",
        "job-3",
        "other-1",
        "other-0",
        "job-0",
    ]


def test_pruning_drops_runs_that_ended_too_long_ago_but_not_running_ones(store):
    now = T0 + timedelta(days=10)
    store.record_runs(
        [
            run("old", minutes=0),
            run("old-running", minutes=1, state=RUNNING),
            run("old-unfinished", minutes=2, state=SKIPPED, finished_at=None),  # kept by age
            run("recent", minutes=3, finished_at=now - timedelta(days=1)),
            run("new", minutes=4, finished_at=now),
        ]
    )

    store.prune_runs(RetentionPolicy(max_runs=100, max_age=timedelta(days=2)), now)

    assert run_ids(store.get_job_runs()) == ["new", "recent", "old-unfinished", "old-running"]
    assert run_ids(store.get_job_runs("job")) == ["new", "recent", "old-unfinished", "old-running"]


def test_a_run_that_ended_long_ago_but_runs_again_is_not_pruned_by_age(store):
    """A record replaced by a running one is no longer a finished run."""
    now = T0 + timedelta(days=10)
    store.record_runs([run("run-1")])
    store.record_runs([run("run-1", state=RUNNING)])

    store.prune_runs(RetentionPolicy(max_runs=100, max_age=timedelta(days=2)), now)

    assert run_ids(store.get_job_runs()) == ["run-1"]


def test_pruning_by_count_and_age_keeps_what_the_memory_history_keeps(store):
    now = T0 + timedelta(hours=3)
    runs = mixed_runs()
    memory = MemoryRunHistory()
    memory.record_runs(runs)
    store.record_runs(runs)
    policy = RetentionPolicy(max_runs=8, max_age=timedelta(hours=1))

    memory.prune_runs(policy, now)
    store.prune_runs(policy, now)

    assert store.get_job_runs(limit=1000) == memory.get_job_runs(limit=1000)
    for job_id in ("a", "b", "c"):
        assert store.get_job_runs(job_id, limit=1000) == memory.get_job_runs(job_id, limit=1000)
    assert len(store.get_job_runs(limit=1000)) < len(runs)


def test_no_history_at_all_drops_every_finished_run(store):
    store.record_runs([run("done"), run("gone", "other"), run("going", minutes=1, state=RUNNING)])

    store.prune_runs(RetentionPolicy(max_runs=0, max_age=None), T0)

    assert run_ids(store.get_job_runs()) == ["going"]


# --- the history and the store -----------------------------------------------------------


def test_the_history_outlives_the_store_that_wrote_it(factory):
    first = factory()
    first.record_runs([run("run-1"), run("run-2", minutes=1, state=RUNNING)])
    first.shutdown()

    second = reader_after(factory, first)

    assert run_ids(second.get_job_runs("job")) == ["run-2", "run-1"]


def test_the_history_is_shared_by_every_store_on_the_storage(shared_factory):
    first, second = shared_factory(), shared_factory()

    first.record_runs([run("from-first")])
    second.record_runs([run("from-second", minutes=1)])

    assert run_ids(first.get_job_runs()) == ["from-second", "from-first"]
    assert second.get_job_runs() == first.get_job_runs()


def test_history_and_jobs_live_side_by_side(store):
    """Removing every job leaves their history: it tells what ran, also of removed jobs."""
    store.add_job(make_job(store._scheduler, "job", T0))
    store.record_runs([run("run-1")])

    store.remove_all_jobs()

    assert store.get_all_jobs() == []
    assert run_ids(store.get_job_runs("job")) == ["run-1"]


def test_a_scheduler_on_the_store_records_its_runs_there(factory, monkeypatch):
    """Every process sharing the store reads them: a new store object sees the runs."""
    monkeypatch.setattr(support, "RUNS", [])
    clock = FakeClock(T0)
    scheduler = SteppedScheduler(
        timezone="UTC",
        clock=clock,
        executors={"default": DebugExecutor()},
        jobstores={"default": (writer := factory(start=False))},
    )
    scheduler.start()
    try:
        scheduler.add_job(support.record_run, "interval", seconds=30, id="tick", args=["tick"])
        scheduler.add_job(targets.fail, "interval", seconds=30, id="broken")
        clock.advance(seconds=30)
        scheduler._process_jobs()
        scheduler._run_recorder.flush()
        ended = scheduler.get_job_runs(state=[SUCCEEDED, FAILED])
        assert sorted(run.job_id for run in ended) == ["broken", "tick"]
    finally:
        scheduler.shutdown()

    reader = reader_after(factory, writer)
    [recorded] = reader.get_job_runs("tick")
    [broken] = reader.get_job_runs("broken")
    assert support.RUNS == ["tick"]
    assert (recorded.job_id, recorded.jobstore, recorded.state) == ("tick", "default", SUCCEEDED)
    assert recorded.scheduled_run_time == T0 + timedelta(seconds=30)
    assert recorded.finished_at == T0 + timedelta(seconds=30)
    assert (broken.state, broken.jobstore) == (FAILED, "default")
    assert broken.exception == "the job failed on purpose"


# --- facts: what happened besides runs ---------------------------------------------------


def fact(fact_id, seconds=0, kind=SCHEDULER_STARTED, **fields):
    """A fact that happened ``seconds`` after T0."""
    at = T0 + timedelta(seconds=seconds)
    return SchedulerFact(fact_id, kind, at, fields.pop("owner", "host:1:abc"), **fields)


def fact_ids(facts):
    return [fact.fact_id for fact in facts]


def test_every_field_of_a_fact_reads_back_as_recorded(store):
    eastern = timezone(timedelta(hours=-5))
    recorded = SchedulerFact(
        "fact-1",
        STORE_UNREACHABLE,
        (T0 + timedelta(microseconds=250_001)).astimezone(eastern),
        "wörker-1.example.com:4194303:0123456789ab",
        jobstore="default",
        job_id="jöb ✓ 𝄞",
        detail='connection refused: "127.0.0.1:1" ünïcode',
    )
    bare = SchedulerFact("fact-2", SCHEDULER_STOPPED, T0 - timedelta(minutes=1), "host:2:x")

    store.record_facts([recorded, bare])

    assert store.get_facts() == [recorded, bare]


def test_facts_come_newest_first_and_until_a_time(store):
    store.record_facts([fact("b", 10), fact("a", 0), fact("c", 20), fact("d", 10)])

    assert fact_ids(store.get_facts()) == ["c", "d", "b", "a"]
    assert fact_ids(store.get_facts(until=T0 + timedelta(seconds=10))) == ["d", "b", "a"]
    assert fact_ids(store.get_facts(until=T0 + timedelta(seconds=10), limit=2)) == ["d", "b"]
    assert store.get_facts(until=T0 - timedelta(seconds=1)) == []


def test_recording_a_fact_again_keeps_one(store):
    store.record_facts([fact("a", 0)])
    store.record_facts([fact("a", 0)])  # a retry after a lost reply

    assert fact_ids(store.get_facts()) == ["a"]


def test_pruning_drops_old_facts_and_keeps_the_newest_ones(store):
    store.record_facts([fact(f"f{i:02d}", i * 3600) for i in range(30)])
    now = T0 + timedelta(hours=30)
    policy = RetentionPolicy(max_runs=100, max_age=timedelta(hours=20), max_facts=5)

    store.prune_runs(policy, now)
    store.prune_runs(policy, now)  # a retry

    expected = MemoryRunHistory()
    expected.record_facts([fact(f"f{i:02d}", i * 3600) for i in range(30)])
    expected.prune_runs(policy, now)
    assert (
        fact_ids(store.get_facts())
        == fact_ids(expected.get_facts())
        == [
            "f29",
            "f28",
            "f27",
            "f26",
            "f25",
        ]
    )


def test_pruning_facts_by_age_alone(store):
    store.record_facts([fact(f"f{i:02d}", i * 3600) for i in range(30)])

    store.prune_runs(RetentionPolicy(max_age=timedelta(hours=10)), T0 + timedelta(hours=30))

    assert fact_ids(store.get_facts()) == [f"f{i:02d}" for i in range(29, 19, -1)]


def test_pruning_facts_keeps_pending_runs(store):
    pending = run("asked", state=PENDING)
    store.record_runs([pending])

    store.prune_runs(RetentionPolicy(max_runs=0, max_age=None), T0 + timedelta(days=1))

    assert store.get_job_runs("job") == [pending], "a run nobody has made yet is kept"


def test_facts_are_shared_by_every_store_on_the_storage(shared_factory):
    writer, reader = shared_factory(), shared_factory()

    writer.record_facts([fact("a", 0, kind=JOB_PAUSED, job_id="job")])

    assert reader.get_facts() == [fact("a", 0, kind=JOB_PAUSED, job_id="job")]
