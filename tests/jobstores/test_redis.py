"""
RedisJobStore: options, its keys (those of APScheduler 3 and those of shared stores), errors that
need the user, and the change messages of stores shared by several schedulers.
"""

from __future__ import annotations

import json
import pickle
from datetime import timedelta

import pytest

from apscheduler.jobstores.shared import AbandonedRun, RunRequest, RunStart

from .support import (
    LOST,
    MAX_INSTANCES,
    NEXT,
    SHORT_LEASE,
    STARTED,
    T0,
    RecordingScheduler,
    add,
    claim_and_start,
    ids,
    make_job,
    start_for,
    wait_until,
)
from .test_shared_redis import WakeRecorder

redis = pytest.importorskip("redis")

#: the keys next to ``jobs_key`` that hold the runs in progress
RUN_KEY_SUFFIXES = (".runs", ".runs_expiry", ".runs_by_job", ".runs_by_owner")

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


def server_time(store):
    seconds, microseconds = store.redis.time()
    return seconds + microseconds / 1_000_000


def lose_first_reply(monkeypatch, keys, attribute):
    """Make the script ``attribute`` of ``keys`` run, but lose its first reply; log results."""
    script = getattr(keys, attribute)
    results = []

    def reply_lost_once(**kwargs):
        result = script(**kwargs)
        results.append(result)
        if len(results) == 1:
            raise redis.exceptions.ConnectionError("connection reset after the script ran")
        return result

    monkeypatch.setattr(keys, attribute, reply_lost_once)
    return results


def record_round_trips(monkeypatch, store):
    """Log each command, pipeline and script call that ``store`` sends from now on."""
    sent = []
    execute_command, pipeline = store.redis.execute_command, store.redis.pipeline

    def send(*args, **options):
        sent.append(args[0])
        return execute_command(*args, **options)

    def make_pipeline(*args, **options):
        sent.append("pipeline")
        return pipeline(*args, **options)

    monkeypatch.setattr(store.redis, "execute_command", send)
    monkeypatch.setattr(store.redis, "pipeline", make_pipeline)
    return sent


# --- keys of shared stores -----------------------------------------------------------------


@pytest.mark.external_service
def test_leases_live_in_a_hash_beside_the_keys_of_apscheduler_3(redis_factory):
    store = redis_factory()
    add(store, "a")
    store.acquire_due_jobs(T0, "host:1:abc")

    owner, expiry = store.redis.hget(f"{store.jobs_key}.leases", "a").decode().rsplit("|", 1)
    assert owner == "host:1:abc"
    assert 0 < float(expiry) - server_time(store) <= store.lease_time
    assert pickle.loads(store.redis.hget(store.jobs_key, "a"))["id"] == "a"


@pytest.mark.external_service
def test_runs_in_progress_live_in_keys_of_their_own(redis_factory):
    store = redis_factory()
    add(store, "a")
    claim_and_start(store, "host:1:abc", T0, "run-1")
    key = store.jobs_key

    assert json.loads(store.redis.hget(f"{key}.runs", "run-1")) == [
        "a",
        "host:1:abc",
        repr(T0.timestamp()),
    ]
    expiry = store.redis.zscore(f"{key}.runs_expiry", "run-1")
    assert 0 < expiry - server_time(store) <= store.lease_time
    assert store.redis.zrange(f"{key}.runs_by_job", 0, -1) == [b"1:a:run-1"]
    assert store.redis.zrange(f"{key}.runs_by_owner", 0, -1) == [b"10:host:1:abc:run-1"]

    store.finish_runs("host:1:abc", ["run-1"])

    assert [store.redis.exists(f"{key}{suffix}") for suffix in RUN_KEY_SUFFIXES] == [0] * 4


@pytest.mark.external_service
def test_the_runs_of_one_job_are_told_from_those_of_a_job_whose_id_extends_it(redis_factory):
    """Index entries carry the id's length, so job "a" never counts the runs of job "a:b"."""
    store = redis_factory()
    add(store, "a:b", max_instances=1)
    add(store, "a", T0 + timedelta(seconds=1), max_instances=1)
    claim_and_start(store, "one", T0, "1")

    assert claim_and_start(store, "one", T0 + timedelta(seconds=1), "b:1") is STARTED


@pytest.mark.external_service
def test_keys_of_apscheduler_3_get_runs_in_progress_beside_them_unchanged(redis_factory):
    writer = redis_factory(start=False)
    for job_id, run_time in [("a", T0), ("b", T0 + timedelta(hours=1)), ("paused", None)]:
        state = make_job(RecordingScheduler(), job_id, run_time).__getstate__()
        writer.redis.hset(writer.jobs_key, job_id, pickle.dumps(state, protocol=2))
        if run_time is not None:
            writer.redis.zadd(writer.run_times_key, {job_id: run_time.timestamp()})

    store = redis_factory()
    assert claim_and_start(store, "one", T0, "run-1", T0 + timedelta(minutes=1)) is STARTED

    assert [(job.id, job.next_run_time) for job in store.get_all_jobs()] == [
        ("a", T0 + timedelta(minutes=1)),
        ("b", T0 + timedelta(hours=1)),
        ("paused", None),
    ]
    assert store.redis.hexists(f"{store.jobs_key}.runs", "run-1")


@pytest.mark.external_service
def test_a_run_key_of_another_type_is_refused_at_start_with_advice(redis_factory):
    store = redis_factory(start=False)
    store.redis.set(f"{store.jobs_key}.runs_expiry", "something else")

    with pytest.raises(RuntimeError, match=r"holds a string, not a zset of runs in progress"):
        store.start(RecordingScheduler(), "default")
    store.redis.delete(f"{store.jobs_key}.runs_expiry")


# --- run requests --------------------------------------------------------------------------

LATER = T0 + timedelta(hours=5)
ASKED_AT = T0 + timedelta(seconds=2)


def ask(store, job_id="a", run_id="asked-1", at=ASKED_AT):
    return store.request_run(job_id, RunRequest(run_id, at))


@pytest.mark.external_service
def test_a_request_waits_in_a_hash_and_makes_the_job_due_by_its_score(redis_factory):
    store = redis_factory()
    job = add(store, "a", LATER)
    ask(store)

    record = json.loads(store.redis.hget(f"{store.jobs_key}.requests", "a"))
    assert float(record["own"]) == LATER.timestamp(), "the job's own run time is kept"
    [(run_id, requested_at, attempt)] = record["runs"]
    assert (run_id, float(requested_at), attempt) == ("asked-1", ASKED_AT.timestamp(), "1")
    assert store.redis.zscore(store.run_times_key, "a") == ASKED_AT.timestamp()
    assert pickle.loads(store.redis.hget(store.jobs_key, "a")) == job.__getstate__()


@pytest.mark.external_service
def test_a_start_that_makes_the_requests_puts_the_score_back_and_drops_the_record(redis_factory):
    store = redis_factory()
    add(store, "a", LATER)
    ask(store)
    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    [job] = claimed.jobs
    requests = claimed.requests["a"]

    [outcome] = store.start_claimed_runs("one", [RunStart(job, [ASKED_AT], "run-1", requests)])

    assert outcome is STARTED
    assert not store.redis.exists(f"{store.jobs_key}.requests")
    assert store.redis.zscore(store.run_times_key, "a") == LATER.timestamp()


@pytest.mark.external_service
def test_a_start_that_makes_some_requests_keeps_the_job_due_for_the_others(redis_factory):
    store = redis_factory()
    add(store, "a", LATER)
    ask(store, run_id="first")
    ask(store, run_id="second", at=ASKED_AT + timedelta(seconds=1))
    claimed = store.acquire_due_jobs(ASKED_AT + timedelta(seconds=1), "one")
    [job] = claimed.jobs
    first, second = claimed.requests["a"]

    store.start_claimed_runs("one", [RunStart(job, [ASKED_AT], "run-1", (first,))])

    again = store.acquire_due_jobs(ASKED_AT + timedelta(seconds=1), "two")
    assert ids(again.jobs) == ["a"]
    assert again.requests == {"a": (second,)}
    assert again.jobs[0].next_run_time == LATER


@pytest.mark.external_service
def test_jobs_with_requests_are_read_and_listed_by_their_own_run_times(redis_factory):
    store = redis_factory()
    add(store, "early", T0 + timedelta(hours=1))
    add(store, "later", LATER)
    add(store, "paused", None)
    ask(store, "later")
    ask(store, "paused", "asked-2")

    listed = [(job.id, job.next_run_time) for job in store.get_all_jobs()]

    assert listed == [("early", T0 + timedelta(hours=1)), ("later", LATER), ("paused", None)]
    assert store.lookup_job("paused").next_run_time is None


@pytest.mark.external_service
def test_a_request_asked_again_after_a_lost_reply_is_recorded_once(redis_factory, monkeypatch):
    store = redis_factory()
    add(store, "a", LATER)
    results = lose_first_reply(monkeypatch, store._jobs, "_request")

    assert ask(store) is True

    assert results == [1, 1]
    assert store.acquire_due_jobs(ASKED_AT, "one").requests == {
        "a": (RunRequest("asked-1", ASKED_AT),)
    }


@pytest.mark.external_service
def test_keys_of_apscheduler_3_take_requests(redis_factory):
    writer = redis_factory(start=False)
    state = make_job(RecordingScheduler(), "a", LATER).__getstate__()
    writer.redis.hset(writer.jobs_key, "a", pickle.dumps(state, protocol=2))
    writer.redis.zadd(writer.run_times_key, {"a": LATER.timestamp()})
    store = redis_factory()

    assert ask(store) is True

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert ids(claimed.jobs) == ["a"] and claimed.jobs[0].next_run_time == LATER
    assert [request.run_id for request in claimed.requests["a"]] == ["asked-1"]


@pytest.mark.external_service
def test_a_claim_hands_over_requests_in_the_same_round_trip(redis_factory, monkeypatch):
    store = redis_factory()
    add(store, "a", LATER)
    ask(store)
    store.acquire_due_jobs(T0 - timedelta(days=1), "one")  # the server now caches the script
    sent = record_round_trips(monkeypatch, store)

    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    assert ids(claimed.jobs) == ["a"] and set(claimed.requests) == {"a"}
    assert sent == ["EVALSHA"]


@pytest.mark.external_service
def test_a_request_key_of_another_type_is_refused_at_start_with_advice(redis_factory):
    store = redis_factory(start=False)
    store.redis.set(f"{store.jobs_key}.requests", "something else")

    with pytest.raises(RuntimeError, match=r"holds a string, not a hash of run requests"):
        store.start(RecordingScheduler(), "default")
    store.redis.delete(f"{store.jobs_key}.requests")


# --- round trips and lost replies ----------------------------------------------------------


@pytest.mark.external_service
def test_a_claim_tells_the_next_run_time_in_the_same_round_trip(redis_factory, monkeypatch):
    store = redis_factory()
    add(store, "a")
    add(store, "b", T0 + timedelta(minutes=5))
    store.acquire_due_jobs(T0 - timedelta(days=1), "one")  # the server now caches the script
    sent = record_round_trips(monkeypatch, store)

    claimed = store.acquire_due_jobs(T0, "one")

    assert (ids(claimed.jobs), claimed.next_run_time) == (["a"], T0 + timedelta(minutes=5))
    assert sent == ["EVALSHA"]


@pytest.mark.external_service
def test_a_batch_of_starts_is_one_script_call(redis_factory, monkeypatch):
    store = redis_factory()
    for job_id in "abc":
        add(store, job_id)
    starts = [
        start_for(job, [T0], T0 + timedelta(minutes=1), f"{job.id}-1")
        for job in store.acquire_due_jobs(T0, "one").jobs
    ]
    script = store._runs._start
    calls = []
    monkeypatch.setattr(store._runs, "_start", lambda **kw: calls.append(kw) or script(**kw))

    assert store.start_claimed_runs("one", starts) == [STARTED] * 3
    assert len(calls) == 1


@pytest.mark.external_service
def test_runs_started_by_a_call_whose_reply_was_lost_are_started_once(redis_factory, monkeypatch):
    store = redis_factory(lease_time=SHORT_LEASE)
    add(store, "a")
    add(store, "b")
    jobs = store.acquire_due_jobs(T0, "one").jobs
    store.remove_job("b")
    results = lose_first_reply(monkeypatch, store._runs, "_start")
    starts = [start_for(job, [T0], T0 + timedelta(minutes=1), f"{job.id}-1") for job in jobs]

    assert store.start_claimed_runs("one", starts) == [STARTED, LOST]

    assert results == [[1, 0], [1, 0]]
    assert store.lookup_job("a").next_run_time == T0 + timedelta(minutes=1)
    assert wait_until(lambda: store.take_abandoned_runs() == [AbandonedRun("a", [T0], "one")])


@pytest.mark.external_service
def test_a_job_moved_on_at_max_instances_by_a_call_whose_reply_was_lost_is_not_lost(
    redis_factory, monkeypatch
):
    store = redis_factory()
    add(store, "a", max_instances=1)
    claim_and_start(store, "one", T0, "run-1")
    (job,) = store.acquire_due_jobs(NEXT, "one").jobs
    results = lose_first_reply(monkeypatch, store._runs, "_start")
    later = NEXT + timedelta(minutes=1)

    outcomes = store.start_claimed_runs("one", [start_for(job, [NEXT], later, "run-2")])

    assert outcomes == [MAX_INSTANCES]
    assert results == [[2], [0]], "the retry found the lease given up by the lost attempt"
    assert store.lookup_job("a").next_run_time == later


@pytest.mark.external_service
def test_abandoned_runs_taken_by_a_call_whose_reply_was_lost_are_returned(
    redis_factory, monkeypatch
):
    store = redis_factory(lease_time=SHORT_LEASE)
    job_id, owner = 'réunion "1/2"\n', "host:1:ü"  # ids of any text come back as they were
    add(store, job_id)
    claim_and_start(store, owner, T0, "run-1")
    assert wait_until(
        lambda: store.redis.zrangebyscore(
            f"{store.jobs_key}.runs_expiry", "-inf", server_time(store)
        )
    )
    results = lose_first_reply(monkeypatch, store._runs, "_take_abandoned")

    assert store.take_abandoned_runs() == [AbandonedRun(job_id, [T0], owner)]

    assert len(results) == 2
    assert store.take_abandoned_runs() == []


# --- change messages -----------------------------------------------------------------------


@pytest.mark.external_service
def test_a_change_in_another_process_wakes_the_scheduler(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(writer, "a", T0 + timedelta(minutes=1))

    assert wait_until(lambda: scheduler.wakeups == [T0 + timedelta(minutes=1)])


@pytest.mark.external_service
def test_a_request_in_another_process_wakes_the_scheduler(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    # heard only once subscribed (the fresh look on subscribing wakes it for now, not LATER)
    assert wait_until(lambda: listening._listener.live)
    add(writer, "a", LATER)
    assert wait_until(lambda: LATER in scheduler.wakeups)
    scheduler.wakeups.clear()

    ask(writer)

    assert wait_until(lambda: scheduler.wakeups == [ASKED_AT])


@pytest.mark.external_service
def test_a_store_is_not_woken_by_its_own_changes(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    writer = redis_factory()
    assert wait_until(lambda: listening._listener.live)
    scheduler.wakeups.clear()

    add(listening, "own")
    add(writer, "other", T0 + timedelta(minutes=2))

    assert wait_until(lambda: scheduler.wakeups)
    assert scheduler.wakeups == [T0 + timedelta(minutes=2)]


@pytest.mark.external_service
def test_a_batch_of_starts_wakes_the_others_once_for_its_earliest_next_run_time(redis_factory):
    listening = redis_factory(start=False)
    scheduler = WakeRecorder()
    listening.start(scheduler, "default")
    runner = redis_factory()
    add(runner, "a", max_instances=1)
    add(runner, "b")
    assert wait_until(lambda: listening._listener.live)
    a, b = runner.acquire_due_jobs(T0, "one").jobs
    runner.start_claimed_runs("one", [start_for(a, [T0], T0 + timedelta(seconds=5), "a-1")])
    assert wait_until(lambda: T0 + timedelta(seconds=5) in scheduler.wakeups)
    (a,) = runner.acquire_due_jobs(T0 + timedelta(seconds=5), "one").jobs
    scheduler.wakeups.clear()

    outcomes = runner.start_claimed_runs(
        "one",
        [
            start_for(b, [T0], T0 + timedelta(seconds=20), "b-1"),
            start_for(a, [a.next_run_time], T0 + timedelta(seconds=10), "a-2"),
        ],
    )

    assert outcomes == [STARTED, MAX_INSTANCES]
    assert wait_until(lambda: scheduler.wakeups)
    assert scheduler.wakeups == [T0 + timedelta(seconds=10)]


@pytest.mark.external_service
def test_the_scheduler_polls_slowly_while_changes_are_heard(redis_factory):
    store = redis_factory(start=False, poll_interval=0.5)
    assert store.poll_interval == 0.5, "not listening yet"

    store.start(WakeRecorder(), "default")

    assert wait_until(lambda: store.poll_interval == 5.0)
    store.shutdown()
    assert store.poll_interval == 0.5


@pytest.mark.external_service
def test_the_listener_comes_back_after_a_server_restart_and_wakes_the_scheduler(
    redis_factory, redis_server
):
    scheduler = WakeRecorder()
    store = redis_factory(start=False)
    store.start(scheduler, "default")
    assert wait_until(lambda: store._listener.live)

    redis_server.stop()
    try:
        assert wait_until(lambda: not store._listener.live)
        scheduler.wakeups.clear()
    finally:
        redis_server.start()

    assert wait_until(lambda: store._listener.live, timeout=10)
    # woken for now: changes made meanwhile were not heard, so it must look again
    assert wait_until(lambda: scheduler.wakeups)


@pytest.mark.external_service
def test_the_next_run_time_looks_past_a_long_front_of_leased_jobs(redis_factory):
    # the look reads the run times page by page: the free job is beyond the first pages
    first, second = redis_factory(lease_time=30), redis_factory()
    for number in range(80):
        add(first, f"held{number:02}", T0 + timedelta(milliseconds=number))
    add(first, "free", T0 + timedelta(minutes=1))
    while first.acquire_due_jobs(T0 + timedelta(seconds=1), "one").jobs:
        pass

    assert second.get_next_run_time() == T0 + timedelta(minutes=1)
