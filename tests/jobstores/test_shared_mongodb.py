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
import pickle
import threading
from datetime import timedelta
from uuid import uuid4

import pytest

from apscheduler.jobstores.shared import AbandonedRun, RunRequest, RunStart

from . import test_shared_redis
from .leases import expire_leases
from .support import (
    LOST,
    NEXT,
    STARTED,
    T0,
    UTC,
    RecordingScheduler,
    add,
    ids,
    make_job,
    start,
    start_for,
    wait_until,
)
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


def lose_first_reply(monkeypatch, owner, collection: str, method: str, count: str) -> list[int]:
    """
    Make the first call of ``method`` on the ``collection`` that ``owner`` (the store, or its
    queries of leases or of runs) uses reach the server but lose its reply, as a connection
    reset would.

    :param count: the attribute of the write's result to note for each call
    :return: what ``count`` said for each call, filled in as calls come
    """
    from pymongo.errors import AutoReconnect

    wrapped = getattr(owner, collection)
    real = getattr(wrapped, method)
    counts: list[int] = []

    def reply_lost_once(*args, **kwargs):
        result = real(*args, **kwargs)
        counts.append(getattr(result, count))
        if len(counts) == 1:
            raise AutoReconnect("connection reset after the write ran")
        return result

    monkeypatch.setattr(owner, collection, _Wrapped(wrapped, **{method: reply_lost_once}))
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

    _, run_id = start(store, "host:1:abc", store.acquire_due_jobs(T0, "host:1:abc").jobs[0])

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


def test_the_leased_jobs_have_a_sparse_index_of_their_own(mongodb_factory):
    """Whoever claims looks up the jobs leased elsewhere; an index spares a scan of them all."""
    store = mongodb_factory()

    assert store.collection.index_information()["lease_owner_1"]["sparse"] is True


def test_a_job_id_that_looks_like_a_field_path_is_recorded_as_it_is(mongodb_factory):
    store = mongodb_factory()
    add(store, "$price")

    _, run_id = start(store, "one", store.acquire_due_jobs(T0, "one").jobs[0])

    assert store.runs_collection.find_one(run_id)["job_id"] == "$price"


# --- round trips ---------------------------------------------------------------------------


def command_recorder():
    """A pymongo command listener that notes the ``(command, collection)`` of each command."""
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

        def ours(self, store):
            # the change stream waits on the job collection meanwhile: its getMore calls are
            # not the store's operations
            return [sent for sent in self.sent if sent != ("getMore", store.collection.name)]

    return Commands()


def test_a_claim_of_a_batch_takes_two_round_trips_and_tells_the_next_run_time(mongodb_factory):
    commands = command_recorder()
    store = mongodb_factory(event_listeners=[commands])
    jobs_name = store.collection.name
    for index in range(5):
        add(store, f"job{index}")
    add(store, "later", NEXT)
    commands.sent.clear()

    claimed = store.acquire_due_jobs(T0, "one")

    assert (len(claimed.jobs), claimed.next_run_time) == (5, NEXT)
    assert commands.ours(store) == [("aggregate", jobs_name), ("update", jobs_name)]


def test_a_look_that_finds_nothing_due_takes_one_round_trip(mongodb_factory):
    commands = command_recorder()
    store = mongodb_factory(event_listeners=[commands])
    add(store, "later", NEXT)
    commands.sent.clear()

    claimed = store.acquire_due_jobs(T0, "one")

    assert (claimed.jobs, claimed.next_run_time) == ([], NEXT)
    assert commands.ours(store) == [("aggregate", store.collection.name)]


def test_a_batch_of_starts_takes_three_round_trips(mongodb_factory):
    commands = command_recorder()
    store = mongodb_factory(event_listeners=[commands])
    jobs_name, runs_name = store.collection.name, store.runs_collection.name
    for index in range(5):
        add(store, f"job{index}")
    jobs = store.acquire_due_jobs(T0, "one").jobs
    commands.sent.clear()

    outcomes = store.start_claimed_runs(
        "one", [start_for(job, [T0], NEXT, uuid4().hex) for job in jobs]
    )

    assert outcomes == [STARTED] * 5
    assert commands.ours(store) == [
        ("aggregate", runs_name),
        ("update", runs_name),
        ("update", jobs_name),
    ]


# --- starting runs -------------------------------------------------------------------------


def test_a_batch_that_ends_schedules_removes_their_jobs_in_one_more_round_trip(mongodb_factory):
    commands = command_recorder()
    store = mongodb_factory(event_listeners=[commands])
    for job_id in ("a", "b", "c"):
        add(store, job_id)
    jobs = store.acquire_due_jobs(T0, "one").jobs
    commands.sent.clear()
    last = {"a": None, "b": NEXT, "c": None}

    outcomes = store.start_claimed_runs(
        "one", [start_for(job, [T0], last[job.id], f"run-{job.id}") for job in jobs]
    )
    sent = commands.ours(store)

    assert outcomes == [STARTED] * 3
    assert ids(store.get_all_jobs()) == ["b"]
    assert run_ids(store) == {"run-a", "run-b", "run-c"}
    assert sent[2:] == [
        ("update", store.collection.name),
        ("delete", store.collection.name),
    ]


def test_jobs_changed_since_the_claim_lose_their_start_and_the_others_start(mongodb_factory):
    first, second = mongodb_factory(), mongodb_factory()
    for job_id in ("a", "b", "c", "d"):
        add(first, job_id)
    jobs = first.acquire_due_jobs(T0, "one").jobs
    changed = second.lookup_job("b")
    changed._modify(name="changed")
    second.update_job(changed)
    second.remove_job("c")
    last = {"a": NEXT, "b": NEXT, "c": NEXT, "d": None}

    outcomes = first.start_claimed_runs(
        "one", [start_for(job, [T0], last[job.id], f"run-{job.id}") for job in jobs]
    )

    assert outcomes == [STARTED, LOST, LOST, STARTED]
    assert run_ids(first) == {"run-a", "run-d"}
    stored = {job.id: (job.name, job.next_run_time) for job in second.get_all_jobs()}
    assert stored == {"a": ("tick", NEXT), "b": ("changed", T0)}


def test_a_reply_lost_after_the_job_moved_on_still_counts_as_started(mongodb_factory, monkeypatch):
    store = mongodb_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one").jobs[0]
    matches = lose_first_reply(
        monkeypatch, store._leases, "collection", "bulk_write", "matched_count"
    )

    outcome, run_id = start(store, "one", job)

    assert outcome is STARTED
    assert matches == [1, 0]
    assert store.lookup_job("a").next_run_time == NEXT
    assert run_ids(store) == {run_id}


def test_a_reply_lost_after_the_runs_were_recorded_records_them_once(mongodb_factory, monkeypatch):
    store = mongodb_factory()
    add(store, "a")
    job = store.acquire_due_jobs(T0, "one").jobs[0]
    upserts = lose_first_reply(
        monkeypatch, store._runs, "collection", "bulk_write", "upserted_count"
    )

    outcome, run_id = start(store, "one", job)

    assert outcome is STARTED
    assert upserts == [1, 0]
    assert store.runs_collection.count_documents({}) == 1
    assert store.lookup_job("a").next_run_time == NEXT


def test_a_lost_start_deletes_its_run_record_at_once(mongodb_factory):
    first, second = mongodb_factory(), mongodb_factory()
    add(first, "a")
    job = first.acquire_due_jobs(T0, "one").jobs[0]
    second.remove_job("a")

    assert start(first, "one", job)[0] is LOST
    assert run_ids(first) == set()


def fail_after_first_move(monkeypatch, store, reads_fail=False):
    """Make the next write that moves jobs on apply to the first job only, then fail."""
    from pymongo.errors import OperationFailure

    collection = store._leases.collection
    refusal = OperationFailure("not authorized on apscheduler_tests", 13)

    def first_then_fail(requests, **kwargs):
        collection.bulk_write(requests[:1], **kwargs)
        raise refusal

    def find(*args, **kwargs):
        raise refusal

    methods = {"bulk_write": first_then_fail, **({"find": find} if reads_fail else {})}
    monkeypatch.setattr(store._leases, "collection", _Wrapped(collection, **methods))


def test_a_storage_failure_part_way_through_a_batch_loses_the_rest_of_it(
    mongodb_factory, monkeypatch, caplog
):
    """The jobs still leased show they did not move: their records go, and they are freed."""
    store, other = mongodb_factory(), mongodb_factory()
    for job_id in ("a", "b", "c"):
        add(store, job_id)
    jobs = store.acquire_due_jobs(T0, "one").jobs
    fail_after_first_move(monkeypatch, store)
    starts = [start_for(job, [T0], NEXT, f"run-{job.id}") for job in jobs]

    outcomes = store.start_claimed_runs("one", starts)

    assert outcomes == [STARTED, LOST, LOST]
    assert "could not record the start of jobs ['b', 'c']" in caplog.text
    assert run_ids(store) == {"run-a"}
    assert ids(other.acquire_due_jobs(T0, "two").jobs) == ["b", "c"], "released"
    expire_leases(store)
    store.renew_runs("one")  # the run in progress lives on
    assert other.take_abandoned_runs() == []
    assert run_ids(store) == {"run-a"}


def test_a_failed_move_that_cannot_be_checked_leaves_its_records_to_expire(
    mongodb_factory, monkeypatch
):
    """Nobody knows which jobs moved: each record expires, and its job's state tells."""
    store, other = mongodb_factory(), mongodb_factory()
    for job_id in ("a", "b"):
        add(store, job_id)
    jobs = store.acquire_due_jobs(T0, "one").jobs
    fail_after_first_move(monkeypatch, store, reads_fail=True)
    starts = [start_for(job, [T0], NEXT, f"run-{job.id}") for job in jobs]

    assert store.start_claimed_runs("one", starts) == [LOST, LOST]

    monkeypatch.undo()
    assert store.renew_runs("one") == set(), "left unrenewed"
    expire_leases(store)
    # a moved past its run, which never started: reported; b still offers its run
    assert other.take_abandoned_runs() == [AbandonedRun("a", [T0], "one")]
    assert run_ids(store) == set()
    assert ids(other.acquire_due_jobs(T0, "two").jobs) == ["b"]


# --- abandoned runs --------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def test_a_record_left_by_a_process_killed_before_it_moved_the_job_is_not_reported(
    mongodb_factory, monkeypatch
):
    dying, alive = mongodb_factory(), mongodb_factory()
    add(dying, "a")
    job = dying.acquire_due_jobs(T0, "dead").jobs[0]

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
    taken_over = alive.acquire_due_jobs(T0, "alive").jobs
    assert [(j.id, j.next_run_time) for j in taken_over] == [("a", T0)]


def test_an_abandoned_run_whose_job_is_gone_is_reported(mongodb_factory):
    store = mongodb_factory()
    add(store, "a")
    start(store, "dead", store.acquire_due_jobs(T0, "dead").jobs[0])
    store.remove_job("a")
    expire_leases(store, "dead")

    assert store.take_abandoned_runs() == [AbandonedRun("a", [T0], "dead")]


def test_concurrent_takers_get_each_abandoned_run_once(mongodb_factory):
    stores = [mongodb_factory() for _ in range(3)]
    for index in range(12):
        add(stores[0], f"job{index:02}")
    jobs = stores[0].acquire_due_jobs(T0, "dead").jobs
    starts = [start_for(job, [T0], NEXT, job.id) for job in jobs]
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
    job = runner.acquire_due_jobs(T0, "one").jobs[0]
    _, run_id = start(runner, "one", job, T0 + timedelta(seconds=10))
    runner.renew_runs("one")
    runner.finish_runs("one", [run_id])
    # the stream keeps the order of the writes: what the writes above cause comes before this
    add(runner, "last", T0 + timedelta(hours=1))

    assert wait_until(lambda: T0 + timedelta(hours=1) in scheduler.wakeups)
    assert scheduler.wakeups == [T0 + timedelta(seconds=10), T0 + timedelta(hours=1)]


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
    added = []

    def a_new_job_wakes_the_scheduler():
        # the listener watches anew once it finds the old stream invalidated: until then, the
        # jobs added go unheard, so keep adding
        added.append(T0 + timedelta(minutes=len(added) + 1))
        add(writer, f"job{len(added)}", added[-1])
        return any(run_time in scheduler.wakeups for run_time in added)

    assert wait_until(a_new_job_wakes_the_scheduler)


# --- run requests ----------------------------------------------------------------------------

LATER = T0 + timedelta(hours=5)
ASKED_AT = T0 + timedelta(seconds=2)


def test_a_request_is_kept_in_the_job_document_which_it_makes_due(mongodb_factory):
    store = mongodb_factory()
    add(store, "a", LATER)
    pickled = bytes(store.collection.find_one("a")["job_state"])
    store.acquire_due_jobs(LATER, "one")

    assert store.request_run("a", RunRequest("asked-1", ASKED_AT)) is True

    document = store.collection.find_one("a")
    assert document["requests"] == [
        {"run_id": "asked-1", "requested_at": ASKED_AT.timestamp(), "attempt": 1}
    ]
    assert document["next_run_time"] == ASKED_AT.timestamp(), "due for the request"
    assert bytes(document["job_state"]) == pickled, "the job's own schedule is left alone"
    assert "lease_owner" not in document and "lease_expires" not in document


def test_a_request_sent_again_is_kept_once(mongodb_factory):
    """A retry after a lost reply sends the same request again."""
    store = mongodb_factory()
    add(store, "a", LATER)

    store.request_run("a", RunRequest("asked-1", ASKED_AT))
    store.request_run("a", RunRequest("asked-1", ASKED_AT))

    assert len(store.collection.find_one("a")["requests"]) == 1


def test_changing_a_job_keeps_it_due_for_its_requests(mongodb_factory):
    store = mongodb_factory()
    job = add(store, "a", LATER)
    store.request_run("a", RunRequest("asked-1", ASKED_AT))

    job._modify(next_run_time=LATER + timedelta(hours=1))
    store.update_job(job)

    document = store.collection.find_one("a")
    assert document["next_run_time"] == ASKED_AT.timestamp()
    assert [entry["run_id"] for entry in document["requests"]] == ["asked-1"]
    assert store.lookup_job("a").next_run_time == LATER + timedelta(hours=1)


def test_the_start_drops_the_requests_field_and_the_due_time_is_the_schedule_again(
    mongodb_factory,
):
    store = mongodb_factory()
    add(store, "a", LATER)
    store.request_run("a", RunRequest("asked-1", ASKED_AT))
    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    [job] = claimed.jobs

    start = RunStart(job, [ASKED_AT], "run-1", claimed.requests["a"])
    assert store.start_claimed_runs("one", [start]) == [STARTED]

    document = store.collection.find_one("a")
    assert set(document) == {"_id", "next_run_time", "job_state"}
    assert document["next_run_time"] == LATER.timestamp()


def test_a_paused_job_of_apscheduler_3_can_be_asked_to_run(mongodb_factory):
    """A collection written by APScheduler 3 takes requests without any conversion."""
    from bson.binary import Binary

    writer = mongodb_factory(start=False)
    state = make_job(RecordingScheduler(), "a", None).__getstate__()
    writer.collection.insert_one(
        {"_id": "a", "next_run_time": None, "job_state": Binary(pickle.dumps(state))}
    )
    store = mongodb_factory()

    assert store.request_run("a", RunRequest("asked-1", ASKED_AT)) is True

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert ids(claimed.jobs) == ["a"]
    assert claimed.requests == {"a": (RunRequest("asked-1", ASKED_AT),)}
    start = RunStart(claimed.jobs[0], [ASKED_AT], "run-1", claimed.requests["a"])
    assert store.start_claimed_runs("one", [start]) == [STARTED]
    assert store.collection.find_one("a")["next_run_time"] is None, "paused again"


def test_a_request_that_comes_while_a_claim_reads_is_not_claimed_without_it(
    mongodb_factory, monkeypatch
):
    """Else the start would forget a request that its claim never handed over."""
    store, asker = mongodb_factory(), mongodb_factory()
    add(store, "a")
    read = store._leases.outlook

    def read_then_request(*args, **kwargs):
        outlook = read(*args, **kwargs)
        if not asker.collection.find_one("a").get("requests"):
            asker.request_run("a", RunRequest("asked-1", T0))
        return outlook

    monkeypatch.setattr(store._leases, "outlook", read_then_request)
    first = store.acquire_due_jobs(T0, "one")
    monkeypatch.undo()

    assert first.jobs == [] and first.next_run_time is not None and first.next_run_time <= T0
    again = store.acquire_due_jobs(T0, "one")
    assert ids(again.jobs) == ["a"]
    assert [request.run_id for request in again.requests["a"]] == ["asked-1"]


def test_requests_cost_a_claim_and_a_start_no_more_round_trips(mongodb_factory):
    commands = command_recorder()
    store = mongodb_factory(event_listeners=[commands])
    jobs_name, runs_name = store.collection.name, store.runs_collection.name
    add(store, "a", LATER)
    add(store, "b")
    store.request_run("a", RunRequest("asked-1", ASKED_AT))
    commands.sent.clear()

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert commands.ours(store) == [("aggregate", jobs_name), ("update", jobs_name)]
    commands.sent.clear()
    starts = [
        RunStart(
            job, [job.next_run_time or ASKED_AT], f"run-{job.id}", claimed.requests.get(job.id, ())
        )
        for job in claimed.jobs
    ]
    for run in starts:
        if run.job.id == "b":
            run.job._modify(next_run_time=NEXT)

    assert store.start_claimed_runs("one", starts) == [STARTED, STARTED]
    assert commands.ours(store) == [
        ("aggregate", runs_name),
        ("update", runs_name),
        ("update", jobs_name),
    ]


def test_a_request_made_in_another_process_wakes_the_scheduler(mongodb_factory):
    listening, scheduler = start_listening(mongodb_factory)
    asker = mongodb_factory()
    add(asker, "a", LATER)
    assert wait_until(lambda: LATER in scheduler.wakeups)
    scheduler.wakeups.clear()

    asker.request_run("a", RunRequest("asked-1", ASKED_AT))

    assert wait_until(lambda: scheduler.wakeups == [ASKED_AT])
