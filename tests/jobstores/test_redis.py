"""RedisJobStore: options, the key layout of APScheduler 3 and errors that need the user."""

from __future__ import annotations

import pickle

import pytest

from .support import T0, RecordingScheduler, make_job

pytest.importorskip("redis")

from apscheduler.jobstores.redis import RedisJobStore  # noqa: E402


@pytest.mark.parametrize(
    "option", ["db", "jobs_key", "run_times_key"], ids=["db", "jobs-key", "run-times-key"]
)
def test_empty_names_are_refused(option):
    with pytest.raises(ValueError, match=f'The "{option}" parameter must not be empty'):
        RedisJobStore(**{option: None if option == "db" else ""})


def test_repr_is_the_class_name():
    assert repr(RedisJobStore()) == "<RedisJobStore>"


def test_the_client_leaves_retrying_to_the_store_unless_told_otherwise():
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    own = Retry(ConstantBackoff(0.1), 5)

    assert RedisJobStore().redis.get_retry()._retries == 1
    assert RedisJobStore(retry=own).redis.get_retry()._retries == 5


@pytest.mark.external_service
def test_jobs_live_in_a_hash_and_run_times_in_a_sorted_set(redis_factory):
    store = redis_factory()
    job = make_job(store._scheduler, "a", T0)
    store.add_job(job)
    store.add_job(make_job(store._scheduler, "paused", None))

    assert pickle.loads(store.redis.hget(store.jobs_key, "a")) == job.__getstate__()
    assert store.redis.hlen(store.jobs_key) == 2
    assert store.redis.zrange(store.run_times_key, 0, -1, withscores=True) == [
        (b"a", T0.timestamp())
    ]


@pytest.mark.external_service
def test_a_key_of_another_type_is_refused_at_start_with_advice(redis_factory):
    store = redis_factory(start=False)
    store.redis.set(store.jobs_key, "something else")

    with pytest.raises(RuntimeError, match=r"holds a string, not a hash .* jobs_key="):
        store.start(RecordingScheduler(), "default")
    store.redis.delete(store.jobs_key)


@pytest.mark.external_service
def test_wrong_credentials_fail_start_with_advice(redis_factory):
    store = redis_factory(start=False, username="nobody", password="wrong")

    with pytest.raises(RuntimeError, match="check the username= and password="):
        store.start(RecordingScheduler(), "default")
