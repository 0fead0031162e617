"""
RedisJobStore's change listener holds a connection of its own, outside the store's pool, and
a shutdown closes it without waiting for the listener's thread.
"""

from __future__ import annotations

import time
from datetime import timedelta
from unittest.mock import MagicMock

import pytest

from .support import T0, add, wait_until
from .test_shared_redis import WakeRecorder

redis = pytest.importorskip("redis")

from apscheduler.jobstores.redis.listen import _own_pool  # noqa: E402


def subscribers(store):
    """How many connections the server has subscribed to the store's change channel."""
    ((_, count),) = store.redis.pubsub_numsub(store.changes_channel)
    return count


@pytest.mark.external_service
def test_the_listener_leaves_a_single_pooled_connection_to_the_store(redis_factory):
    # a pool of one: the listener must not take that one connection
    listening = redis_factory(start=False, max_connections=1)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(listening, "own", T0 + timedelta(minutes=5))
    add(writer, "other", T0 + timedelta(minutes=1))

    assert listening.lookup_job("own").next_run_time == T0 + timedelta(minutes=5)
    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(minutes=1)])


@pytest.mark.external_service
def test_the_first_operations_after_start_reuse_the_set_up_connection(redis_factory):
    store = redis_factory()
    assert wait_until(lambda: store._listener.live)

    store.get_all_jobs()
    store.lookup_job("missing")

    # the listener's connection is not among the store's: the store made just one
    assert store.redis.connection_pool._created_connections == 1
    assert subscribers(store) == 1


@pytest.mark.external_service
def test_shutdown_closes_the_listener_connection(redis_factory):
    store = redis_factory()
    assert wait_until(lambda: store._listener.live)
    listener = store._listener

    store.shutdown()

    assert store._listener is None
    assert wait_until(lambda: subscribers(store) == 0)
    assert wait_until(lambda: not listener._thread.is_alive())


@pytest.mark.external_service
def test_a_restarted_store_listens_again(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    assert wait_until(lambda: listening._listener.live)
    listening.shutdown()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(writer, "a", T0 + timedelta(minutes=1))

    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(minutes=1)])
    # the listener of the first start is gone: the restarted one and the writer's remain
    assert wait_until(lambda: subscribers(listening) == 2)


def test_a_pool_of_another_kind_is_shared_with_the_listener():
    # Sentinel pools and test doubles cannot be copied: the listener takes its connection there
    assert _own_pool(MagicMock()) is None


def test_a_plain_pool_is_copied_with_its_settings():
    client = redis.Redis(host="example.invalid", port=1234, db=3, password="secret")

    own = _own_pool(client)

    assert own is not client.connection_pool
    assert own.connection_class is client.connection_pool.connection_class
    assert {key: own.connection_kwargs[key] for key in ("host", "port", "db", "password")} == {
        "host": "example.invalid",
        "port": 1234,
        "db": 3,
        "password": "secret",
    }


class _OwnKindOfPool(redis.ConnectionPool):
    """A pool the listener cannot copy (as Sentinel's): it takes its connection from it."""


@pytest.mark.external_service
def test_a_pool_of_another_kind_serves_the_listener_too(redis_factory, caplog):
    options = redis_factory.options
    pool = _OwnKindOfPool(host=options["host"], port=options["port"], db=options["db"])
    listening = redis_factory(start=False, connection_pool=pool)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(writer, "a", T0 + timedelta(minutes=1))
    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(minutes=1)])
    listening.shutdown()

    # the writer's listener is left
    assert wait_until(lambda: subscribers(writer) == 1)
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


@pytest.mark.external_service
def test_a_shutdown_right_after_start_leaves_no_subscription_behind(redis_factory, caplog):
    observer = redis_factory()
    assert wait_until(lambda: observer._listener.live)
    store = redis_factory(start=False)
    scheduler = WakeRecorder()
    store.start(scheduler, "default")
    listener = store._listener

    store.shutdown()  # most likely before the listener has subscribed
    woken = list(scheduler.wakeups)

    assert wait_until(lambda: not listener._thread.is_alive())
    assert wait_until(lambda: subscribers(observer) == 1)
    assert scheduler.wakeups == woken, "woken after the shutdown"
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


@pytest.mark.external_service
def test_the_listener_subscribes_once_the_scheduler_has_looked(redis_factory, monkeypatch):
    # its connection would compete with the scheduler's start and first look for the GIL
    from apscheduler.jobstores.redis import listen

    monkeypatch.setattr(listen, "FIRST_LOOK_WAIT", 30.0)
    store = redis_factory(start=False)
    store.start(WakeRecorder(), "default")
    time.sleep(0.2)
    assert subscribers(store) == 0

    store.get_next_run_time()

    assert wait_until(lambda: store._listener.live)
    assert subscribers(store) == 1


@pytest.mark.external_service
def test_the_listener_subscribes_without_a_look_soon_enough(redis_factory):
    # a store used without a scheduler, or by a paused one, still hears other processes
    store = redis_factory()

    assert wait_until(lambda: store._listener.live, timeout=1.0)
