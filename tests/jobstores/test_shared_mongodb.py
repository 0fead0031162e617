"""
MongoDBJobStore shared by several schedulers: claims, leases and change streams on a real
server (SecantusDB, which speaks the MongoDB protocol and advertises a one-node replica set).

The tests of the claim protocol are those of ``test_shared_redis``, run here on MongoDB.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from .support import T0
from .test_shared_redis import (  # noqa: F401  (collected here with this module's store)
    WakeRecorder,
    add,
    test_a_change_made_while_claimed_is_not_overwritten_by_the_claim,
    test_a_claimed_job_is_not_handed_to_another_owner,
    test_a_claimed_job_that_fails_to_load_is_reported_and_left_free,
    test_a_finished_schedule_removes_the_job_when_its_last_run_starts,
    test_a_job_leased_to_another_owner_counts_at_its_lease_expiry,
    test_a_job_removed_while_claimed_is_a_lost_lease,
    test_a_lease_that_expires_lets_another_owner_take_the_job_over,
    test_a_released_job_can_be_claimed_by_another_owner_at_once,
    test_a_run_recorded_without_release_keeps_the_lease,
    test_a_store_that_was_shut_down_claims_nothing,
    test_an_expired_lease_nobody_took_still_records_the_run,
    test_an_owner_does_not_claim_again_a_job_it_still_holds,
    test_concurrent_claimers_share_out_the_due_jobs_without_overlap,
    test_each_run_recorded_without_release_renews_the_lease,
    test_jobs_stored_without_lease_data_are_claimed,
    test_recording_a_run_moves_the_job_on_and_frees_it,
    test_the_next_run_time_is_that_of_the_first_free_job,
    test_two_schedulers_start_each_run_time_once,
    wait_until,
)

pytestmark = pytest.mark.external_service


@pytest.fixture
def shared_factory(mongodb_factory):
    return mongodb_factory


def test_a_lease_is_two_fields_of_the_job_document(mongodb_factory):
    store = mongodb_factory()
    add(store, "a")
    store.acquire_due_jobs(T0, "host:1:abc")

    document = store.collection.find_one("a")
    server_now = store.client.admin.command("hello")["localTime"].timestamp()
    assert document["lease_owner"] == "host:1:abc"
    assert 0 < document["lease_expires"] - server_now <= store.lease_time + 0.5
    assert set(document) == {"_id", "next_run_time", "job_state", "lease_owner", "lease_expires"}


def test_recording_the_last_claimed_run_removes_the_lease_fields(mongodb_factory):
    store = mongodb_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one")[0]

    store.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), True)

    assert set(store.collection.find_one("a")) == {"_id", "next_run_time", "job_state"}


def test_a_reply_lost_after_the_run_was_recorded_still_counts(mongodb_factory, monkeypatch):
    from pymongo.errors import AutoReconnect

    store = mongodb_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one")[0]
    real_update_one = store.collection.update_one
    calls = []

    def reply_lost_once(*args, **kwargs):
        result = real_update_one(*args, **kwargs)
        calls.append(result.matched_count)
        if len(calls) == 1:
            raise AutoReconnect("connection reset after the update ran")
        return result

    monkeypatch.setattr(store, "collection", _Wrapped(store.collection, reply_lost_once))

    assert store.advance_claimed_job(job, "one", T0 + timedelta(minutes=1), True) is True
    assert calls[0] == 1
    assert store.lookup_job("a").next_run_time == T0 + timedelta(minutes=1)


class _Wrapped:
    """A collection whose update_one is replaced."""

    def __init__(self, collection, update_one):
        self._collection = collection
        self.update_one = update_one

    def __getattr__(self, name):
        return getattr(self._collection, name)


def start_listening(mongodb_factory):
    scheduler = WakeRecorder()
    store = mongodb_factory(start=False)
    store.start(scheduler, "default")
    assert wait_until(lambda: store._listener is not None and store._listener.live)
    return store, scheduler


def test_a_job_added_in_another_process_wakes_the_scheduler(mongodb_factory):
    listening, scheduler = start_listening(mongodb_factory)
    writer = mongodb_factory()
    scheduler.wakeups.clear()

    add(writer, "a", T0 + timedelta(minutes=1))

    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(minutes=1)])


def test_claims_wake_nobody_but_a_recorded_run_does(mongodb_factory):
    listening, scheduler = start_listening(mongodb_factory)
    runner = mongodb_factory()
    add(runner, "a")
    assert wait_until(lambda: T0 in scheduler.wakeups)
    scheduler.wakeups.clear()

    job = runner.acquire_due_jobs(T0, "one")[0]
    runner.release_claimed_job("a", "one")
    job = runner.acquire_due_jobs(T0, "one")[0]
    runner.advance_claimed_job(job, "one", T0 + timedelta(seconds=10), True)

    assert wait_until(lambda: scheduler.wakeups)
    time.sleep(0.2)
    assert scheduler.wakeups == [T0 + timedelta(seconds=10)]


def test_the_scheduler_polls_slowly_while_it_follows_the_change_stream(mongodb_factory):
    store, _ = start_listening(mongodb_factory)

    assert store.poll_interval == 5.0


def test_without_change_streams_the_scheduler_polls(mongodb_factory, monkeypatch, caplog):
    from pymongo.errors import OperationFailure

    def standalone(*args, **kwargs):
        raise OperationFailure("The $changeStream stage is only supported on replica sets", 40573)

    store = mongodb_factory(start=False, poll_interval=0.25)
    monkeypatch.setattr(store, "collection", _Wrapped(store.collection, None))
    store.collection.watch = standalone

    with caplog.at_level(logging.INFO):
        store.start(WakeRecorder(), "default")

    assert store._listener is None
    assert store.poll_interval == 0.25
    assert "looks for changes made by other processes every 0.25 seconds" in caplog.text


def test_the_change_stream_is_followed_again_after_the_collection_is_dropped(mongodb_factory):
    listening, scheduler = start_listening(mongodb_factory)
    writer = mongodb_factory()
    writer.collection.drop()
    time.sleep(0.2)
    scheduler.wakeups.clear()

    add(writer, "a", T0 + timedelta(minutes=3))

    assert wait_until(lambda: T0 + timedelta(minutes=3) in scheduler.wakeups)
