"""
SQLAlchemyJobStore keeps the runs asked for with ``run_job_now`` in the job table.

What every shared store does with run requests is checked in ``test_requests_contract.py``;
here is what is the SQL store's own: the requests live in the columns ``run_requests`` and
``requested_at`` of the job's row, and ``next_run_time`` is lowered to them while they are
pending (the job's own next run time stays in its state); the portable ways of claiming and
starting hand them over too; a table of the previous release gains the columns in place; and
PostgreSQL announces a request as any other change.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from apscheduler.jobstores.shared import RunRequest, RunStart, RunStartOutcome

from .conftest import StoreFactory, external
from .support import T0, ids, wait_until
from .test_shared_sqlalchemy import (  # noqa: F401 (fixtures)
    _store_maker,
    add,
    make_postgres_store,
    make_store,
    postgres_pair,
)

sqlalchemy = pytest.importorskip("sqlalchemy")

LATER = T0 + timedelta(hours=5)
ASKED_AT = T0 + timedelta(seconds=2)


def ask(store, job_id="a", run_id="asked-1", at=ASKED_AT):
    return store.request_run(job_id, RunRequest(run_id, at))


def columns_of(store, job_id="a"):
    """The job's row as the database holds it: run time, requests, earliest request."""
    c = store.jobs_t.c
    statement = sqlalchemy.select(c.next_run_time, c.run_requests, c.requested_at).where(
        c.id == job_id
    )
    with store.engine.connect() as connection:
        return connection.execute(statement).one()


def start_requested(store, owner, job, requests, next_run_time, run_id="run-1"):
    job._modify(next_run_time=next_run_time)
    run_times = [request.requested_at for request in requests]
    [outcome] = store.start_claimed_runs(owner, [RunStart(job, run_times, run_id, requests)])
    return outcome


@pytest.fixture(params=["native", "portable"])
def store(request, make_store):  # noqa: F811
    """A store that claims and starts the shortest way the database allows, or the portable
    way of databases without ``UPDATE … RETURNING`` and data-modifying ``WITH`` queries."""
    store = make_store()
    if request.param == "portable":
        store._jobs_sql.claims_in_one_statement = False
        store._runs_sql.starts_in_one_statement = False
    return store


def test_a_request_lowers_the_run_time_column_and_leaves_the_job_its_own(store):
    add(store, "a", run_time=LATER)

    ask(store)

    run_time, requests, requested_at = columns_of(store)
    assert (run_time, requested_at) == (ASKED_AT.timestamp(), ASKED_AT.timestamp())
    assert "asked-1" in requests
    assert store.lookup_job("a").next_run_time == LATER
    assert store.get_next_run_time() == ASKED_AT, "the scheduler wakes for the request"


def test_a_later_request_leaves_an_earlier_run_time_column_alone(store):
    add(store, "a", run_time=T0)

    ask(store, at=LATER)

    assert columns_of(store)[0] == T0.timestamp()
    assert columns_of(store)[2] == LATER.timestamp()


def test_changing_a_job_keeps_its_row_due_for_its_requests(store):
    [job] = add(store, "a", run_time=LATER)
    ask(store)

    job._modify(next_run_time=LATER + timedelta(hours=1))
    store.update_job(job)
    assert columns_of(store)[0] == ASKED_AT.timestamp()

    job._modify(next_run_time=T0)
    store.update_job(job)
    assert columns_of(store)[0] == T0.timestamp(), "its own run time is earlier"

    job._modify(next_run_time=None)
    store.update_job(job)
    assert columns_of(store)[0] == ASKED_AT.timestamp(), "paused, it is due for the request"


def test_the_claim_hands_the_requests_over_and_the_start_clears_them(store):
    add(store, "a", run_time=LATER)
    ask(store, run_id="second", at=ASKED_AT + timedelta(seconds=1))
    ask(store, run_id="first")

    claimed = store.acquire_due_jobs(LATER, "one")
    requests = claimed.requests["a"]
    assert [request.run_id for request in requests] == ["first", "second"]
    assert start_requested(store, "one", claimed.jobs[0], requests, LATER) is (
        RunStartOutcome.STARTED
    )

    assert tuple(columns_of(store)) == (LATER.timestamp(), None, None)


def test_a_start_skipped_for_max_instances_forgets_its_requests_too(store):
    [job] = add(store, "a", run_time=LATER)
    job._modify(max_instances=1)
    store.update_job(job)
    ask(store, run_id="one")
    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    start_requested(store, "one", claimed.jobs[0], claimed.requests["a"], LATER)
    ask(store, run_id="two")

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    outcome = start_requested(
        store, "one", claimed.jobs[0], claimed.requests["a"], LATER, run_id="run-2"
    )

    assert outcome is RunStartOutcome.MAX_INSTANCES
    assert tuple(columns_of(store)) == (LATER.timestamp(), None, None)


def test_a_retried_request_counts_once(store):
    add(store, "a", run_time=LATER)

    ask(store)
    ask(store)  # a retry after a lost reply

    claimed = store.acquire_due_jobs(ASKED_AT, "one")
    assert claimed.requests["a"] == (RunRequest("asked-1", ASKED_AT),)


def test_a_requested_paused_job_is_listed_with_the_paused_ones(store):
    add(store, "paused", run_time=None)
    add(store, "scheduled", run_time=LATER)

    ask(store, "paused")

    assert ids(store.get_all_jobs()) == ["scheduled", "paused"]


def test_a_requested_job_that_fails_to_load_hands_over_no_requests(store):
    add(store, "a", run_time=LATER)
    c = store.jobs_t.c
    with store.engine.begin() as connection:
        connection.execute(
            sqlalchemy.update(store.jobs_t).where(c.id == "a").values(job_state=b"broken")
        )
    ask(store)

    claimed = store.acquire_due_jobs(ASKED_AT, "one")

    assert claimed.jobs == [] and dict(claimed.requests) == {}
    assert [job.job_id for job in store.get_unloadable_jobs()] == ["a"]
    assert columns_of(store)[2] == ASKED_AT.timestamp(), "the request stays pending"


# --- tables of the previous release ----------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=external),
        pytest.param("mysql", id="mysql", marks=external),
    ],
)
def test_a_table_of_the_previous_release_gains_the_request_columns(kind, request, tmp_path):
    """The job table as the previous release made it, with a job leased to a scheduler."""
    factory = StoreFactory(kind, request, tmp_path)
    try:
        first = factory()
        [job] = add(first, "a", run_time=LATER)
        state = first._serialize(job)
        old = sqlalchemy.Table(
            first.jobs_t.name,
            sqlalchemy.MetaData(),
            sqlalchemy.Column("id", sqlalchemy.Unicode(191), primary_key=True),
            sqlalchemy.Column("next_run_time", sqlalchemy.Float(25), index=True),
            sqlalchemy.Column("job_state", sqlalchemy.LargeBinary, nullable=False),
            sqlalchemy.Column("lease_owner", sqlalchemy.Unicode(191), nullable=True),
            sqlalchemy.Column("lease_expires", sqlalchemy.Float(25), nullable=True),
        )
        with first.engine.begin() as connection:
            first.jobs_t.drop(connection)
            old.create(connection)
            connection.execute(
                sqlalchemy.insert(old).values(
                    id="a",
                    next_run_time=LATER.timestamp(),
                    job_state=state,
                    lease_owner="elsewhere",
                    lease_expires=time.time() + 3600,  # the database's clock
                )
            )
        first.shutdown()

        store = factory()

        names = [c["name"] for c in sqlalchemy.inspect(store.engine).get_columns(old.name)]
        assert names[-2:] == ["run_requests", "requested_at"]
        assert store.lookup_job("a").next_run_time == LATER
        assert store.acquire_due_jobs(LATER, "one").jobs == [], "its lease is kept"
        assert ask(store) is True
        claimed = store.acquire_due_jobs(ASKED_AT, "one")
        assert ids(claimed.jobs) == ["a"] and "a" in claimed.requests
    finally:
        factory.close()


# --- change notifications ----------------------------------------------------------------


@external
def test_a_request_wakes_the_other_schedulers_for_its_time(postgres_pair):  # noqa: F811
    first, second = postgres_pair
    add(first, "a", run_time=LATER)
    assert wait_until(lambda: second._scheduler.wakeups)
    second._scheduler.wakeups.clear()

    ask(first)

    assert wait_until(lambda: second._scheduler.wakeups)
    assert second._scheduler.wakeups == [ASKED_AT]


# --- claiming without row locks -----------------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param("postgresql", id="postgresql", marks=external),
        pytest.param("mysql", id="mysql", marks=external),
    ]
)
def unlocked_pair(request, tmp_path):
    """Two stores on a server whose other connections may write between the claim's read and
    its update, claiming as databases without ``SKIP LOCKED`` do (no lock on what they read)."""
    makers = _store_maker(request.param, request, tmp_path)
    make = next(makers)
    claimer, client = make(), make()
    claimer._jobs_sql.claims_in_one_statement = False
    claimer._jobs_sql.candidates_locked = False
    yield claimer, client
    next(makers, None)


def test_a_request_made_while_a_job_is_being_claimed_is_not_lost(unlocked_pair):
    """The claim read the row before the request came: it leaves the job for the next claim."""
    claimer, client = unlocked_pair
    add(claimer, "a", run_time=LATER)
    ask(client, run_id="first")
    asked_meanwhile = []

    def ask_before_the_claim(connection, cursor, statement, parameters, context, many):
        if statement.lstrip().upper().startswith("UPDATE") and not asked_meanwhile:
            asked_meanwhile.append(ask(client, run_id="second"))

    sqlalchemy.event.listen(claimer.engine, "before_cursor_execute", ask_before_the_claim)
    try:
        missed = claimer.acquire_due_jobs(ASKED_AT, "one")
    finally:
        sqlalchemy.event.remove(claimer.engine, "before_cursor_execute", ask_before_the_claim)

    assert asked_meanwhile == [True]
    assert missed.jobs == [] and missed.next_run_time == ASKED_AT
    claimed = claimer.acquire_due_jobs(ASKED_AT, "one")
    assert [request.run_id for request in claimed.requests["a"]] == ["first", "second"]
