"""MongoDBJobStore keeps the history of runs in the collection ``<collection>_history``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apscheduler.runs import (
    FAILED,
    MISSED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    JobRun,
    MemoryRunHistory,
    RetentionPolicy,
    RunHistory,
)
from tests.schedulers import targets

from .support import T0, make_job, wait_until

pytest.importorskip("pymongo")

from apscheduler.jobstores.mongodb import MongoDBJobStore  # noqa: E402

pytestmark = pytest.mark.external_service


@pytest.fixture
def make_store(mongodb_factory):
    """Makes started stores on one collection, and drops their history afterwards."""
    yield mongodb_factory
    # the factory drops the jobs and the runs in progress, the history is left to this
    mongodb_factory(start=False).history_collection.drop()


@pytest.fixture
def store(make_store):
    return make_store()


def run(run_id, job_id="job", minutes=0, state=SUCCEEDED, **fields):
    """A run of ``job_id`` scheduled ``minutes`` after T0, finished a second later."""
    scheduled = T0 + timedelta(minutes=minutes)
    if state != RUNNING:
        fields.setdefault("finished_at", scheduled + timedelta(seconds=1))
    return JobRun(run_id, job_id, "default", scheduled, state, **fields)


def run_ids(runs):
    return [run.run_id for run in runs]


def test_the_store_keeps_a_run_history():
    assert issubclass(MongoDBJobStore, RunHistory)


def test_every_field_of_a_run_reads_back_as_recorded(store):
    eastern = timezone(timedelta(hours=-5))
    failed = JobRun(
        run_id="run-1",
        job_id="job",
        jobstore="default",
        scheduled_run_time=T0,
        state=FAILED,
        submitted_at=T0 + timedelta(microseconds=1500),
        started_at=(T0 + timedelta(seconds=1, microseconds=250_001)).astimezone(eastern),
        finished_at=T0 + timedelta(seconds=3, microseconds=999_999),
        reason=None,
        exception_type="builtins.ValueError",
        exception="bad value: ünïcode",
        traceback="Traceback (most recent call last):\n" + "  line\n" * 5000,
        host="worker-1.example.com",
        pid=4_194_303,
    )
    missed = JobRun(
        "run-2",
        "job",
        None,
        T0 - timedelta(minutes=1),
        MISSED,
        reason="started 12.4 s after its scheduled time, beyond misfire_grace_time=1",
    )

    store.record_runs([failed, missed])

    [read_failed, read_missed] = store.get_job_runs("job")
    assert read_failed == failed
    assert read_missed == missed
    for moment in (read_failed.scheduled_run_time, read_failed.started_at):
        assert moment.utcoffset() == timedelta(0)
    assert read_missed.submitted_at is None and read_missed.finished_at is None


def test_runs_are_documents_keyed_by_run_id_with_utc_timestamps(store):
    store.record_runs([run("run-1", host="h", pid=7)])

    document = store.history_collection.find_one("run-1")

    assert document["job_id"] == "job"
    assert document["scheduled_run_time"] == T0.timestamp()
    assert document["finished_at"] == T0.timestamp() + 1
    assert store.history_collection.name == f"{store.collection.name}_history"
    assert (
        len({store.collection.name, store.runs_collection.name, store.history_collection.name})
        == 3
    )
    indexes = store.history_collection.index_information()
    assert [("job_id", 1), ("scheduled_run_time", 1), ("_id", 1)] in [
        index["key"] for index in indexes.values()
    ]


def test_recording_a_run_again_replaces_its_record(store):
    """A run is recorded when it is submitted and again, under the same id, when it ends."""
    started = run("run-1", state=RUNNING, started_at=T0)
    store.record_runs([started, run("run-2", minutes=-1)])
    ended = started.evolve(state=SUCCEEDED, finished_at=T0 + timedelta(seconds=2))

    store.record_runs([ended])
    store.record_runs([ended])  # a retry after a lost reply

    assert store.get_job_runs("job") == [ended, run("run-2", minutes=-1)]
    assert store.history_collection.count_documents({}) == 2


def test_a_batch_that_names_a_run_twice_keeps_its_last_record(store):
    started = run("run-1", state=RUNNING)
    ended = started.evolve(state=FAILED, exception="boom")

    store.record_runs([started, run("other"), ended])
    store.record_runs([])

    assert store.get_job_runs() == [ended, run("other")]


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


def test_pruning_keeps_the_newest_runs_of_each_job_and_every_running_one(store):
    runs = [run(f"job-{i}", minutes=i) for i in range(6)]
    runs += [run(f"other-{i}", "other", minutes=i) for i in range(2)]
    # the oldest run of the job is still going on: it is kept, though it counts
    runs[0] = run("job-0", minutes=0, state=RUNNING)
    store.record_runs(runs)

    store.prune_runs(RetentionPolicy(max_runs=3, max_age=None), T0)

    assert run_ids(store.get_job_runs("job")) == ["job-5", "job-4", "job-3", "job-0"]
    assert run_ids(store.get_job_runs("other")) == ["other-1", "other-0"]


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


def test_pruning_by_count_and_age_keeps_what_the_memory_history_keeps(store):
    now = T0 + timedelta(hours=3)
    states = [SUCCEEDED, FAILED, RUNNING, MISSED, SKIPPED]
    runs = [
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
    memory = MemoryRunHistory()
    memory.record_runs(runs)
    store.record_runs(runs)
    policy = RetentionPolicy(max_runs=8, max_age=timedelta(hours=1))

    memory.prune_runs(policy, now)
    store.prune_runs(policy, now)

    assert store.get_job_runs(limit=1000) == memory.get_job_runs(limit=1000)
    assert len(store.get_job_runs(limit=1000)) < len(runs)


def test_no_history_at_all_drops_every_finished_run(store):
    store.record_runs([run("done"), run("going", minutes=1, state=RUNNING)])

    store.prune_runs(RetentionPolicy(max_runs=0, max_age=None), T0)

    assert run_ids(store.get_job_runs()) == ["going"]


def test_the_history_outlives_the_store_that_wrote_it(make_store):
    first = make_store()
    first.record_runs([run("run-1"), run("run-2", minutes=1, state=RUNNING)])
    first.shutdown()

    second = make_store()

    assert run_ids(second.get_job_runs("job")) == ["run-2", "run-1"]


def test_the_history_is_shared_by_every_store_on_the_collection(make_store):
    first, second = make_store(), make_store()

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


def test_a_scheduler_on_the_store_records_its_runs_there(make_store):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(jobstores={"default": make_store(start=False)})
    scheduler.start()
    try:
        scheduler.add_job(targets.record, "date", run_date=datetime.now(timezone.utc), id="once")
        scheduler.add_job(targets.fail, "date", run_date=datetime.now(timezone.utc), id="broken")
        assert wait_until(lambda: len(scheduler.get_job_runs(state=[SUCCEEDED, FAILED])) == 2)
    finally:
        scheduler.shutdown()

    # another process on the same collection sees them
    reader = make_store()
    [once] = reader.get_job_runs("once")
    [broken] = reader.get_job_runs("broken")
    assert (once.state, once.jobstore) == (SUCCEEDED, "default")
    assert (broken.state, broken.exception) == (FAILED, "the job failed on purpose")
