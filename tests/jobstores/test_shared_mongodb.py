"""
MongoDBJobStore shared by several schedulers: claims, leases, runs in progress and change
streams on a real server (SecantusDB, which speaks the MongoDB protocol and advertises a one-node
replica set).

Every test of ``test_shared_redis`` that takes the ``shared_factory`` fixture runs here too, on
MongoDB; the contract of the runs in progress is in ``test_runs_contract``.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from datetime import timedelta
from uuid import uuid4

import pytest

from apscheduler.jobstores.base import AbandonedRun, RunStart

from . import test_shared_redis
from .leases import expire_leases
from .support import LOST, NEXT, STARTED, T0, UTC, add, start, wait_until
from .test_shared_redis import WakeRecorder

pytestmark = pytest.mark.external_service

# collected here with this module's shared_factory
globals().update(
    (name, test)
    for name, test in vars(test_shared_redis).items()
    if name.startswith("test_") and "shared_factory" in inspect.signature(test).parameters
)


@pytest.fixture
def shared_factory(mongodb_factory):
    return mongodb_factory


def server_now(store):
    return store.client.admin.command("hello")["localTime"].replace(tzinfo=UTC).timestamp()


def run_ids(store):
    return {record["_id"] for record in store.runs_collection.find({}, ["_id"])}


class _Wrapped:
    """A collection with some of its methods replaced."""

    def __init__(self, collection, **methods):
        self._collection = collection
        vars(self).update(methods)

    def __getattr__(self, name):
        return getattr(self._collection, name)


def lose_first_reply(monkeypatch, store, collection: str, method: str, count: str) -> list[int]:
    """
    Make the first call of ``method`` on the store's ``collection`` reach the server but lose
    its reply, as a connection reset would.

    :param count: the attribute of the write's result to note for each call
    :return: what ``count`` said for each call, filled in as calls come
    """
    from pymongo.errors import AutoReconnect

    wrapped = getattr(store, collection)
    real = getattr(wrapped, method)
    counts: list[int] = []

    def reply_lost_once(*args, **kwargs):
        result = real(*args, **kwargs)
        counts.append(getattr(result, count))
        if len(counts) == 1:
            raise AutoReconnect("connection reset after the write ran")
        return result

    monkeypatch.setattr(store, collection, _Wrapped(wrapped, **{method: reply_lost_once}))
    return counts


# --- the documents ---------------------------------------------------------------------------


def test_a_lease_is_two_fields_of_the_job_document(mongodb_factory):
    store = mongodb_factory()
    add(store, "a")
    store.acquire_due_jobs(T0, "host:1:abc")

    document = store.collection.find_one("a")
    assert document["lease_owner"] == "host:1:abc"
    assert 0 < document["lease_expires"] - server_now(store) <= store.lease_time + 0.5
    assert set(document) == {"_id", "next_run_time", "job_state", "lease_owner", "lease_expires"}


def test_a_started_run_is_a_document_of_the_runs_collection(mongodb_factory):
    store = mongodb_factory()
    add(store, "a")

    _, run_id = start(store, "host:1:abc", store.acquire_due_jobs(T0, "host:1:abc")[0])

    record = store.runs_collection.find_one(run_id)
    assert store.runs_collection.name == f"{store.collection.name}_runs"
    assert {key: record[key] for key in ("job_id", "owner", "run_times")} == {
        "job_id": "a",
        "owner": "host:1:abc",
        "run_times": [T0.timestamp()],
    }
    assert 0 < record["expires"] - server_now(store) <= store.lease_time + 0.5
    assert set(store.collection.find_one("a")) == {"_id", "next_run_time", "job_state"}


def test_the_runs_collection_is_indexed_for_counting_renewing_and_expiring(mongodb_factory):
    store = mongodb_factory()

    indexes = store.runs_collection.index_information()

    assert {"job_id_1", "owner_1", "expires_1"} <= set(indexes)


def test_a_job_id_that_looks_like_a_field_path_is_recorded_as_it_is(mongodb_factory):
    store = mongodb_factory()
    add(store, "$price")

    _, run_id = start(store, "one", store.acquire_due_jobs(T0, "one")[0])

    assert store.runs_collection.find_one(run_id)["job_id"] == "$price"


# --- starting runs -------------------------------------------------------------------------


def test_a_batch_of_starts_takes_two_round_trips_and_one_per_job(mongodb_factory):
    from pymongo import monitoring

    class Commands(monitoring.CommandListener):
        def __init__(self):
            self.sent = []

        def started(self, event):
            name = event.command_name
            self.sent.append((name, event.command["collection" if name == "getMore" else name]))

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    commands = Commands()
    store = mongodb_factory(event_listeners=[commands])
    jobs_name, runs_name = store.collection.name, store.runs_collection.name
    for index in range(5):
        add(store, f"job{index}")
    jobs = store.acquire_due_jobs(T0, "one")
    commands.sent.clear()

    outcomes = store.start_claimed_runs(
        "one", [RunStart(job, [T0], NEXT, uuid4().hex) for job in jobs]
    )

    assert outcomes == [STARTED] * 5
    # the change stream waits on the job collection meanwhile: its getMore calls are not ours
    ours = [sent for sent in commands.sent if sent != ("getMore", jobs_name)]
    assert ours == [("aggregate", runs_name), ("update", runs_name), *[("update", jobs_name)] * 5]


def test_a_reply_lost_after_the_job_moved_on_still_counts_as_started(mongodb_factory, monkeypatch):
    store = mongodb_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one")[0]
    matches = lose_first_reply(monkeypatch, store, "collection", "update_one", "matched_count")

    outcome, run_id = start(store, "one", job)

    assert outcome is STARTED
    assert matches == [1, 0]
    assert store.lookup_job("a").next_run_time == NEXT
    assert run_ids(store) == {run_id}


def test_a_reply_lost_after_the_runs_were_recorded_records_them_once(mongodb_factory, monkeypatch):
    store = mongodb_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one")[0]
    upserts = lose_first_reply(
        monkeypatch, store, "runs_collection", "bulk_write", "upserted_count"
    )

    outcome, run_id = start(store, "one", job)

    assert outcome is STARTED
    assert upserts == [1, 0]
    assert store.runs_collection.count_documents({}) == 1
    assert store.lookup_job("a").next_run_time == NEXT


def test_a_lost_start_deletes_its_run_record_at_once(mongodb_factory):
    first, second = mongodb_factory(), mongodb_factory()
    add(first, "a")
    job = first.acquire_due_jobs(T0, "one")[0]
    second.remove_job("a")

    assert start(first, "one", job)[0] is LOST
    assert run_ids(first) == set()


def test_a_storage_failure_part_way_through_a_batch_loses_the_rest_of_it(
    mongodb_factory, monkeypatch, caplog
):
    """The job whose move failed may have moved: its record expires and its state tells."""
    from pymongo.errors import OperationFailure

    store, other = mongodb_factory(), mongodb_factory()
    for job_id in ("a", "b", "c"):
        add(store, job_id)
    jobs = store.acquire_due_jobs(T0, "one")
    real_update_one = store.collection.update_one

    def fail_on_b(query, *args, **kwargs):
        if query["_id"] == "b":
            raise OperationFailure("not authorized on apscheduler_tests", 13)
        return real_update_one(query, *args, **kwargs)

    monkeypatch.setattr(store, "collection", _Wrapped(store.collection, update_one=fail_on_b))
    starts = [RunStart(job, [T0], NEXT, f"run-{job.id}") for job in jobs]

    outcomes = store.start_claimed_runs("one", starts)

    assert outcomes == [STARTED, LOST, LOST]
    assert "could not record the start of jobs ['b', 'c']" in caplog.text
    assert run_ids(store) == {"run-a", "run-b"}
    assert [job.id for job in other.acquire_due_jobs(T0, "two")] == ["b", "c"], "released"
    expire_leases(store)
    store.renew_runs("one")  # the run in progress lives on; the record of b is left to expire
    # b was never moved on: the job still offers its run, so nothing is reported
    assert other.take_abandoned_runs() == []
    assert run_ids(store) == {"run-a"}


# --- abandoned runs --------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def test_a_record_left_by_a_process_killed_before_it_moved_the_job_is_not_reported(
    mongodb_factory, monkeypatch
):
    dying, alive = mongodb_factory(), mongodb_factory()
    add(dying, "a")
    job = dying.acquire_due_jobs(T0, "dead")[0]

    def killed(*args):
        raise Killed

    monkeypatch.setattr(dying, "_move_on", killed)
    with pytest.raises(Killed):
        start(dying, "dead", job, run_id="orphan")
    assert run_ids(alive) == {"orphan"}
    expire_leases(alive, "dead")

    assert alive.take_abandoned_runs() == []
    assert run_ids(alive) == set()
    # the job itself still offers the run
    taken_over = alive.acquire_due_jobs(T0, "alive")
    assert [(j.id, j.next_run_time) for j in taken_over] == [("a", T0)]


def test_an_abandoned_run_whose_job_is_gone_is_reported(mongodb_factory):
    store = mongodb_factory()
    add(store, "a")
    start(store, "dead", store.acquire_due_jobs(T0, "dead")[0])
    store.remove_job("a")
    expire_leases(store, "dead")

    assert store.take_abandoned_runs() == [AbandonedRun("a", [T0], "dead")]


def test_concurrent_takers_get_each_abandoned_run_once(mongodb_factory):
    stores = [mongodb_factory() for _ in range(3)]
    for index in range(12):
        add(stores[0], f"job{index:02}")
    jobs = stores[0].acquire_due_jobs(T0, "dead")
    starts = [RunStart(job, [T0], NEXT, job.id) for job in jobs]
    assert stores[0].start_claimed_runs("dead", starts) == [STARTED] * 12
    expire_leases(stores[0], "dead")
    barrier = threading.Barrier(len(stores))
    taken: list[list[str]] = []

    def take(store):
        barrier.wait()
        taken.append([run.job_id for run in store.take_abandoned_runs()])

    threads = [threading.Thread(target=take, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every_run = [job_id for runs in taken for job_id in runs]
    assert sorted(every_run) == [f"job{index:02}" for index in range(12)]


# --- change streams --------------------------------------------------------------------------


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


def test_claims_and_run_records_wake_nobody_but_a_job_moved_on_does(mongodb_factory):
    listening, scheduler = start_listening(mongodb_factory)
    runner = mongodb_factory()
    add(runner, "a")
    assert wait_until(lambda: T0 in scheduler.wakeups)
    scheduler.wakeups.clear()

    runner.acquire_due_jobs(T0, "one")
    runner.release_claimed_job("a", "one")
    job = runner.acquire_due_jobs(T0, "one")[0]
    _, run_id = start(runner, "one", job, T0 + timedelta(seconds=10))
    runner.renew_runs("one")
    runner.finish_runs("one", [run_id])

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
    monkeypatch.setattr(store, "collection", _Wrapped(store.collection, watch=standalone))

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
