"""
RedisJobStore keeps the history of runs in keys of its own next to ``jobs_key``, on the real
Redis server of the tests. What every store's history does is checked in
``test_history_contract.py``; here is how the Redis store lays it out.
"""

from __future__ import annotations

import json

import pytest

from apscheduler.runs import JOB_PAUSED, PENDING, RUNNING, SUCCEEDED, RetentionPolicy

from . import support
from .support import T0
from .test_history_contract import fact, fact_ids, run, run_ids

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.external_service


@pytest.fixture
def store(redis_factory):
    return redis_factory()


def test_records_are_json_with_times_as_utc_timestamps(store):
    store.record_runs([run("run-1", pid=12)])

    record = json.loads(store.redis.hget(f"{store.jobs_key}.history", "run-1"))

    assert record["scheduled_run_time"] == T0.timestamp()
    assert record["finished_at"] == T0.timestamp() + 1
    assert (record["job_id"], record["state"], record["pid"]) == ("job", SUCCEEDED, 12)


def test_pruning_every_finished_run_of_a_job_drops_its_keys(store):
    store.record_runs([run("done"), run("gone", "other"), run("going", minutes=1, state=RUNNING)])

    store.prune_runs(RetentionPolicy(max_runs=0, max_age=None), T0)

    assert run_ids(store.get_job_runs()) == ["going"]
    assert not store.redis.exists(f"{store.jobs_key}.history:other")
    assert store.redis.smembers(f"{store.jobs_key}.history_jobs") == {b"job"}


def test_stores_on_other_keys_have_histories_of_their_own(redis_factory):
    mine = redis_factory()
    other_keys = {"jobs_key": f"{mine.jobs_key}.other", "run_times_key": f"{mine.jobs_key}.rt"}
    other = redis_factory(**other_keys)
    try:
        mine.record_runs([run("mine")])
        other.record_runs([run("theirs")])

        assert run_ids(mine.get_job_runs()) == ["mine"]
        assert run_ids(other.get_job_runs()) == ["theirs"]
    finally:
        other.remove_all_jobs()
        keys = list(other.redis.scan_iter(match=f"{other.jobs_key}.history*"))
        other.redis.delete(*keys)


def test_the_history_keys_are_none_of_apscheduler_3s_nor_the_runs_in_progress(store):
    history_keys = set(store._history.keys) | {store._history.job_key("job")}
    others = {store.jobs_key, store.run_times_key, store.leases_key, *store._runs.keys}

    assert len(history_keys) == 5
    assert not history_keys & others


def test_a_history_key_of_another_type_is_refused_at_start(redis_factory):
    store = redis_factory(start=False)
    key = f"{store.jobs_key}.history"
    store.redis.set(key, "something else")
    try:
        with pytest.raises(
            RuntimeError, match=f"{key}' holds a string, not a hash of run history"
        ):
            store.start(support.RecordingScheduler(), "default")
    finally:
        store.redis.delete(key)


def test_pending_runs_are_not_indexed_as_ended(store):
    store.record_runs([run("asked", state=PENDING)])

    assert store.redis.zcard(f"{store.jobs_key}.history_ended") == 0


# --- facts -------------------------------------------------------------------------------


def test_facts_are_json_records_indexed_by_their_time(store):
    store.record_facts([fact("f-1", 5, kind=JOB_PAUSED, job_id="job")])

    record = json.loads(store.redis.hget(f"{store.jobs_key}.history_facts", "f-1"))
    assert (record["kind"], record["job_id"], record["at"]) == (
        JOB_PAUSED,
        "job",
        T0.timestamp() + 5,
    )
    assert store.redis.zrange(f"{store.jobs_key}.history_fact_times", 0, -1, withscores=True) == [
        (b"f-1", T0.timestamp() + 5)
    ]


def test_pruning_every_fact_drops_their_keys(store):
    store.record_facts([fact("old", 0), fact("older", -10)])

    store.prune_runs(RetentionPolicy(max_facts=0), T0)

    assert store.get_facts() == []
    assert not store.redis.exists(*store._facts.keys)


def test_the_fact_keys_sit_beside_the_history_and_apart_from_the_jobs(store):
    fact_keys = set(store._facts.keys)
    others = {store.jobs_key, store.run_times_key, *store._jobs.keys, *store._runs.keys}

    assert fact_keys == {f"{store.jobs_key}.history_facts", f"{store.jobs_key}.history_fact_times"}
    assert not fact_keys & (others | set(store._history.keys))


def test_removing_every_job_keeps_the_facts(store):
    store.record_facts([fact("kept", 0)])

    store.remove_all_jobs()

    assert fact_ids(store.get_facts()) == ["kept"]


def test_a_fact_key_of_another_type_is_refused_at_start(redis_factory):
    store = redis_factory(start=False)
    key = f"{store.jobs_key}.history_fact_times"
    store.redis.set(key, "something else")
    try:
        with pytest.raises(RuntimeError, match=f"{key}' holds a string, not a zset of facts"):
            store.start(support.RecordingScheduler(), "default")
    finally:
        store.redis.delete(key)
