"""
SQLAlchemyJobStore shared by several schedulers: claims, leases, upgrades and notifications.

Two store instances on one table stand for two scheduler processes: each has its own engine
and its own owner name, exactly as two processes would. Leases end by the database's clock,
so the few tests about expiry use a half-second lease and wait for it, on the real clock.
The runs in progress are tested in ``test_shared_sqlalchemy_runs``.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from apscheduler.jobstores.shared import RunStartOutcome
from tests.conftest import FakeClock
from tests.services import require_module

from .conftest import StoreFactory, external
from .leases import expire_leases
from .support import T0, RecordingScheduler, ids, make_job, start_for, wait_until

sqlalchemy = pytest.importorskip("sqlalchemy")

DATA = Path(__file__).parent / "data"


class StubScheduler(RecordingScheduler):
    """A running scheduler as far as a store can tell: a clock, and wake-ups counted."""

    state = 1  # STATE_RUNNING

    def __init__(self, clock=None):
        super().__init__()
        self._clock = clock or FakeClock(T0)
        self.wakeups = []
        self.woken = threading.Event()

    def wakeup(self):
        self.wakeups.append("now")
        self.woken.set()

    def _wakeup_for(self, run_time):
        self.wakeups.append(run_time)
        self.woken.set()


def _store_maker(kind, request, tmp_path):
    factory = StoreFactory(kind, request, tmp_path)

    def make(clock=None, **options):
        store = factory(start=False, **options)
        store.start(StubScheduler(clock), "default")
        return store

    yield make
    factory.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=external),
        pytest.param("mysql", id="mysql", marks=external),
    ]
)
def make_store(request, tmp_path):
    """Makes started stores on one table, each with a scheduler of its own."""
    yield from _store_maker(request.param, request, tmp_path)


@pytest.fixture
def make_sqlite_store(request, tmp_path):
    yield from _store_maker("sqlite", request, tmp_path)


@pytest.fixture
def make_postgres_store(request, tmp_path):
    yield from _store_maker("postgresql", request, tmp_path)


@pytest.fixture
def pair(make_store):
    """Two stores on one table, as two scheduler processes would have."""
    return make_store(), make_store()


def add(store, *job_ids, run_time=T0):
    jobs = [make_job(store._scheduler, job_id, run_time) for job_id in job_ids]
    for job in jobs:
        store.add_job(job)
    return jobs


def start(store, owner, job, next_run_time=T0 + timedelta(minutes=1), run_id=None):
    """Record the start of the one due run of a claimed job; return the outcome."""
    run = start_for(job, [job.next_run_time or T0], next_run_time, run_id or f"run-{job.id}")
    [outcome] = store.start_claimed_runs(owner, [run])
    return outcome


def lease_of(store, job_id):
    table = store.jobs_t
    with store.engine.connect() as connection:
        return connection.execute(
            sqlalchemy.select(table.c.lease_owner, table.c.lease_expires).where(
                table.c.id == job_id
            )
        ).one()


# --- claims ------------------------------------------------------------------------------


def test_a_due_job_is_claimed_by_one_scheduler_only(pair):
    first, second = pair
    add(first, "b", "a")
    add(first, "later", run_time=T0 + timedelta(minutes=1))

    assert ids(first.acquire_due_jobs(T0, "first").jobs) == ["a", "b"]
    assert second.acquire_due_jobs(T0, "second").jobs == []
    assert lease_of(second, "a").lease_owner == "first"
    assert lease_of(second, "later").lease_owner is None


def test_on_sqlite_a_claim_and_its_outlook_are_sqlites_own_sql(make_sqlite_store):
    """Nothing to build or compile for each new store: its first pass did both, for 3 ms."""
    store = make_sqlite_store()
    add(store, "a")
    add(store, "later", run_time=T0 + timedelta(minutes=1))
    sent = []

    @sqlalchemy.event.listens_for(store.engine, "before_cursor_execute")
    def note(connection, cursor, statement, parameters, context, executemany):
        sent.append((statement.split()[0], context.compiled is None))

    claimed = store.acquire_due_jobs(T0, "first")

    assert ids(claimed.jobs) == ["a"]
    assert claimed.next_run_time == T0 + timedelta(minutes=1)
    assert sent == [("UPDATE", True), ("SELECT", True)]


def test_on_sqlite_the_claim_leaves_the_ids_to_skip_waiting(make_sqlite_store):
    """Jobs known to be broken are skipped until their recheck: claiming them is waste."""
    store = make_sqlite_store()
    add(store, "a", "b", "c")
    statements = store._jobs_sql
    params = statements.params(
        now=T0.timestamp(), owner="first", lease=30.0, skip=["a", "c"], batch=10, looked_at=5
    )

    with store.engine.begin() as connection:
        claimed, outlook = statements.claim(connection, params)

    assert [row[0] for row in claimed] == ["b"]
    assert sorted(job_id for job_id, _run_time in outlook.waiting) == ["a", "c"]


def test_a_scheduler_does_not_claim_again_what_it_holds(pair):
    """Its executor may not have started the run yet: claiming it twice would skip it."""
    first, _ = pair
    add(first, "a")

    assert ids(first.acquire_due_jobs(T0, "first").jobs) == ["a"]
    assert first.acquire_due_jobs(T0, "first").jobs == []


def test_schedulers_claiming_at_the_same_moment_share_the_jobs_out(make_store):
    stores = [make_store() for _ in range(4)]
    add(stores[0], *(f"job{index:03}" for index in range(300)))
    claimed = {index: [] for index in range(4)}
    start = threading.Barrier(4)

    def claim(index):
        start.wait()
        deadline = time.monotonic() + 30
        # as a scheduler does: come back while the claim says that more jobs are due (on
        # MariaDB a claim can come back empty while another one holds row locks)
        while time.monotonic() < deadline:
            batch = stores[index].acquire_due_jobs(T0, f"owner{index}")
            claimed[index].extend(ids(batch.jobs))
            if not batch.jobs and (batch.next_run_time is None or batch.next_run_time > T0):
                return

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    every_claim = [job_id for batch in claimed.values() for job_id in batch]
    assert sorted(every_claim) == [f"job{index:03}" for index in range(300)]


def test_the_select_then_update_claim_of_other_databases_is_exclusive_too(pair):
    """Databases without UPDATE … RETURNING claim row by row, checking each lease again."""
    first, second = pair
    first._jobs_sql.claims_in_one_statement = second._jobs_sql.claims_in_one_statement = False
    add(first, "a", "b")

    assert ids(first.acquire_due_jobs(T0, "first").jobs) == ["a", "b"]
    assert second.acquire_due_jobs(T0, "second").jobs == []


def test_an_expired_lease_is_taken_over_and_its_first_holder_loses_the_run(make_store):
    first, second = make_store(), make_store()
    (job,) = add(first, "a")
    (claimed,) = first.acquire_due_jobs(T0, "first").jobs

    assert second.acquire_due_jobs(T0, "second").jobs == []
    expire_leases(first, "first")
    assert ids(second.acquire_due_jobs(T0, "second").jobs) == ["a"]

    assert start(first, "first", claimed) is RunStartOutcome.LOST
    assert first.lookup_job("a").next_run_time == T0


def test_a_scheduler_clock_far_ahead_cannot_end_a_lease_early(make_store):
    """Leases end by the database's clock, whatever the claiming scheduler's clock says."""
    first = make_store()
    skewed = make_store(clock=FakeClock(T0 + timedelta(minutes=5)))
    add(first, "a")
    first.acquire_due_jobs(T0, "first")

    assert skewed.acquire_due_jobs(T0 + timedelta(minutes=5), "skewed").jobs == []


def test_an_expired_lease_nobody_took_is_still_honoured(make_store):
    store = make_store()
    add(store, "a")
    (claimed,) = store.acquire_due_jobs(T0, "first").jobs
    expire_leases(store, "first")

    assert start(store, "first", claimed) is RunStartOutcome.STARTED


# --- giving leases back ------------------------------------------------------------------


def test_releasing_gives_the_job_back_unchanged(pair):
    first, second = pair
    add(first, "a")
    first.acquire_due_jobs(T0, "first")

    second.release_claimed_job("a", "second")  # not its lease: nothing happens
    assert second.acquire_due_jobs(T0, "second").jobs == []

    first.release_claimed_job("a", "first")
    assert ids(second.acquire_due_jobs(T0, "second").jobs) == ["a"]


def test_a_claimed_job_that_fails_to_load_is_released_kept_and_reported(pair):
    first, second = pair
    add(first, "broken", "fine")
    with first.engine.begin() as connection:
        table = first.jobs_t
        connection.execute(
            sqlalchemy.update(table).where(table.c.id == "broken").values(job_state=b"junk")
        )

    assert ids(first.acquire_due_jobs(T0, "first").jobs) == ["fine"]

    assert [report.job_id for report in first.get_unloadable_jobs()] == ["broken"]
    assert lease_of(first, "broken").lease_owner is None
    # known broken: left out of the next claims until its recheck time
    assert first.acquire_due_jobs(T0, "first").jobs == []


# --- when to look again --------------------------------------------------------------------


def test_a_job_leased_elsewhere_counts_with_the_end_of_its_lease(pair):
    """Its overdue run time would make the other scheduler spin until the lease ends."""
    first, second = pair
    add(first, "a")
    add(first, "later", run_time=T0 + timedelta(hours=1))
    first.acquire_due_jobs(T0, "first")

    next_time = second.get_next_run_time()

    # on the second scheduler's own clock, however far that is from the database's
    lease_end = T0 + timedelta(seconds=second.lease_time)
    assert lease_end - timedelta(seconds=2) < next_time <= lease_end


def test_jobs_nobody_holds_count_with_their_run_time(pair):
    first, second = pair
    add(first, "a", run_time=T0 + timedelta(minutes=3))
    add(first, "paused", run_time=None)

    assert second.get_next_run_time() == T0 + timedelta(minutes=3)


@pytest.fixture(params=["native", "portable"])
def claiming_pair(request, make_store):
    """Two stores on one table, claiming the shortest way the database allows or the portable
    way of databases without ``UPDATE … RETURNING`` (the outlook is read before the claim)."""
    stores = make_store(), make_store()
    if request.param == "portable":
        for store in stores:
            store._jobs_sql.claims_in_one_statement = False
    return stores


def test_a_claim_tells_when_the_table_next_has_work_besides_the_jobs_it_took(claiming_pair):
    first, _ = claiming_pair
    add(first, "a")
    add(first, "later", run_time=T0 + timedelta(hours=1))
    add(first, "paused", run_time=None)

    claimed = first.acquire_due_jobs(T0, "first")

    assert ids(claimed.jobs) == ["a"]
    assert claimed.next_run_time == T0 + timedelta(hours=1), "its own new lease does not count"


def test_a_claim_counts_a_job_leased_elsewhere_with_the_end_of_its_lease(claiming_pair):
    first, second = claiming_pair
    add(first, "a")
    add(first, "later", run_time=T0 + timedelta(hours=1))
    first.acquire_due_jobs(T0, "first")

    claimed = second.acquire_due_jobs(T0, "second")

    lease_end = T0 + timedelta(seconds=second.lease_time)
    assert claimed.jobs == []
    assert lease_end - timedelta(seconds=2) < claimed.next_run_time <= lease_end


def test_a_full_batch_tells_that_more_jobs_are_due(claiming_pair):
    first, _ = claiming_pair
    first.claim_batch = 2
    add(first, "a", "b", "c")

    claimed = first.acquire_due_jobs(T0, "first")

    assert (ids(claimed.jobs), claimed.next_run_time) == (["a", "b"], T0)


def test_a_claim_of_an_empty_table_tells_nothing_is_scheduled(claiming_pair):
    first, _ = claiming_pair
    add(first, "paused", run_time=None)

    claimed = first.acquire_due_jobs(T0, "first")

    assert (claimed.jobs, claimed.next_run_time, dict(claimed.requests)) == ([], None, {})


def test_a_claimed_job_that_fails_to_load_brings_in_its_recheck_time(claiming_pair):
    """Its overdue run time would make the scheduler come back at once, forever."""
    first, _ = claiming_pair
    add(first, "broken", "fine")
    add(first, "later", run_time=T0 + timedelta(hours=1))
    with first.engine.begin() as connection:
        table = first.jobs_t
        connection.execute(
            sqlalchemy.update(table).where(table.c.id == "broken").values(job_state=b"junk")
        )

    claimed = first.acquire_due_jobs(T0, "first")

    recheck = T0 + timedelta(seconds=first.recheck_interval)
    assert (ids(claimed.jobs), claimed.next_run_time) == (["fine"], recheck)


def _statements_and_commits(store):
    """Record the statements that reach the driver, and the commits of transactions."""
    seen = []
    sqlalchemy.event.listen(
        store.engine, "before_cursor_execute", lambda *args: seen.append("statement")
    )
    sqlalchemy.event.listen(store.engine, "commit", lambda *args: seen.append("commit"))
    return seen


@external
def test_a_claim_and_its_outlook_are_one_statement_on_postgresql(make_postgres_store):
    store = make_postgres_store()
    add(store, "a", "b")
    seen = _statements_and_commits(store)

    claimed = store.acquire_due_jobs(T0, "one")

    assert len(claimed.jobs) == 2
    assert seen.count("statement") == 1, "in autocommit mode: no BEGIN, and no COMMIT to send"


def test_a_claim_and_its_outlook_are_one_transaction_on_sqlite(tmp_path, request):
    factory = StoreFactory("sqlite", request, tmp_path)
    try:
        store = factory()
        add(store, "a", "b")
        seen = _statements_and_commits(store)

        claimed = store.acquire_due_jobs(T0, "one")

        assert len(claimed.jobs) == 2
        assert seen == ["statement", "statement", "commit"]
    finally:
        factory.close()


# --- tables of APScheduler 3 -------------------------------------------------------------


def test_a_311_table_gets_the_lease_columns_and_a_runs_table_and_keeps_every_job(tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        before = connection.exec_driver_sql("SELECT * FROM apscheduler_jobs ORDER BY id").all()
    assert len(before[0]) == 3, "the fixture is a table of APScheduler 3"

    store = SQLAlchemyJobStore(url=f"sqlite:///{database}")
    store.start(StubScheduler(), "default")
    try:
        with store.engine.connect() as connection:
            after = connection.exec_driver_sql(
                "SELECT id, next_run_time, job_state, lease_owner, lease_expires "
                "FROM apscheduler_jobs ORDER BY id"
            ).all()
        indexes = sqlalchemy.inspect(store.engine).get_indexes("apscheduler_jobs")

        assert [tuple(row[:3]) for row in after] == [tuple(row) for row in before]
        assert {row[3:] for row in after} == {(None, None)}
        assert ["lease_expires"] in [index["column_names"] for index in indexes]
        runs_indexes = sqlalchemy.inspect(store.engine).get_indexes("apscheduler_jobs_runs")
        assert sorted(index["column_names"] for index in runs_indexes) == [["job_id"], ["owner"]]
        due = [
            row.id for row in before if row.next_run_time and row.next_run_time <= T0.timestamp()
        ]
        assert sorted(ids(store.acquire_due_jobs(T0, "upgraded").jobs)) == sorted(due)
    finally:
        store.shutdown()


@external
def test_a_3x_table_on_postgresql_gets_the_lease_columns_and_a_runs_table(postgres_url):
    """The table as APScheduler 3 made it on PostgreSQL, with a job it stored."""
    import pickle
    from uuid import uuid4

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    require_module("psycopg")
    table = f"jobs_3x_{uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(postgres_url)
    state = make_job(StubScheduler(), "kept", T0).__getstate__()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {table} (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT, "
            f"job_state BYTEA NOT NULL)"
        )
        connection.exec_driver_sql(
            f"CREATE INDEX ix_{table}_next_run_time ON {table} (next_run_time)"
        )
        connection.exec_driver_sql(
            f"INSERT INTO {table} VALUES (%(id)s, %(run)s, %(state)s)",
            {"id": "kept", "run": T0.timestamp(), "state": pickle.dumps(state)},
        )
    store = SQLAlchemyJobStore(postgres_url, tablename=table)
    store.start(StubScheduler(), "default")
    try:
        columns = [c["name"] for c in sqlalchemy.inspect(engine).get_columns(table)]
        assert columns == [
            "id",
            "next_run_time",
            "job_state",
            "lease_owner",
            "lease_expires",
            "run_requests",
            "requested_at",
        ]
        assert sqlalchemy.inspect(engine).has_table(f"{table}_runs")
        assert store.lookup_job("kept").__getstate__() == state
        [job] = store.acquire_due_jobs(T0, "upgraded").jobs
        assert start(store, "upgraded", job) is RunStartOutcome.STARTED
    finally:
        store.jobs_t.metadata.drop_all(engine)
        store.shutdown()
        engine.dispose()


def test_schedulers_starting_together_on_a_311_table_upgrade_it_once(tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)
    stores = [SQLAlchemyJobStore(url=f"sqlite:///{database}") for _ in range(4)]
    barrier = threading.Barrier(4)
    errors = []

    def start_store(store):
        barrier.wait()
        try:
            store.start(StubScheduler(), "default")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start_store, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert errors == []
        columns = sqlalchemy.inspect(stores[0].engine).get_columns("apscheduler_jobs")
        assert [column["name"] for column in columns][3:] == [
            "lease_owner",
            "lease_expires",
            "run_requests",
            "requested_at",
        ]
        assert sqlalchemy.inspect(stores[0].engine).has_table("apscheduler_jobs_runs")
    finally:
        for store in stores:
            store.shutdown()


# --- change notifications ------------------------------------------------------------------


def test_a_sqlite_store_is_polled(tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"

    assert SQLAlchemyJobStore(url).poll_interval == 0.5
    assert SQLAlchemyJobStore(url, poll_interval=2).poll_interval == 2


@pytest.fixture
def postgres_pair(make_postgres_store):
    """Two PostgreSQL stores whose listeners are up, with no wake-up recorded yet."""
    first, second = make_postgres_store(), make_postgres_store()
    for store in (first, second):
        assert wait_until(lambda store=store: store._listener.live)
    for store in (first, second):
        store._scheduler.wakeups.clear()
        store._scheduler.woken.clear()
    return first, second


@external
def test_a_job_added_by_another_process_wakes_the_scheduler_for_its_run_time(postgres_pair):
    first, second = postgres_pair

    add(first, "a", run_time=T0 + timedelta(seconds=30))

    assert second._scheduler.woken.wait(5)
    assert second._scheduler.wakeups == [T0 + timedelta(seconds=30)]
    assert first._scheduler.wakeups == [], "a store's own changes do not come back to it"


@external
def test_runs_started_elsewhere_announce_the_next_run_time(postgres_pair):
    first, second = postgres_pair
    add(first, "a")
    assert wait_until(lambda: second._scheduler.wakeups)
    second._scheduler.wakeups.clear()
    (claimed,) = first.acquire_due_jobs(T0, "first").jobs

    start(first, "first", claimed, next_run_time=T0 + timedelta(seconds=1))

    assert wait_until(lambda: second._scheduler.wakeups)
    assert second._scheduler.wakeups == [T0 + timedelta(seconds=1)]


@external
def test_removals_wake_nobody(postgres_pair):
    first, second = postgres_pair
    add(first, "a")
    assert wait_until(lambda: second._scheduler.wakeups)
    second._scheduler.wakeups.clear()

    first.remove_job("a")
    first.remove_all_jobs()
    add(first, "marker", run_time=T0 + timedelta(hours=1))

    assert wait_until(lambda: second._scheduler.wakeups)
    assert second._scheduler.wakeups == [T0 + timedelta(hours=1)]


@external
def test_with_notifications_the_scheduler_polls_only_as_a_safety_net(postgres_pair):
    first, _ = postgres_pair

    assert first.poll_interval == 5.0


@external
def test_the_listener_reconnects_after_losing_its_connection(postgres_pair):
    """Notifications sent meanwhile are lost, so the scheduler gets a fresh look on return."""
    first, second = postgres_pair
    with second.engine.connect() as connection:
        killed = connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
        ).all()
    assert killed

    def woken_for_a_fresh_look():
        now = datetime.now(timezone.utc)
        return any(when == "now" or when <= now for when in second._scheduler.wakeups)

    assert wait_until(woken_for_a_fresh_look)
    assert wait_until(lambda: second._listener.live)
    second._scheduler.wakeups.clear()
    add(first, "after", run_time=T0 + timedelta(seconds=5))
    assert wait_until(lambda: T0 + timedelta(seconds=5) in second._scheduler.wakeups)


@external
def test_shutdown_stops_the_listener_at_once(postgres_pair):
    first, _ = postgres_pair
    listener = first._listener

    started = time.monotonic()
    first.shutdown()

    assert not listener._thread.is_alive()
    assert time.monotonic() - started < 1.0


@external
def test_the_psycopg2_driver_hears_changes_too(make_postgres_store, postgres_url):
    """``postgresql://`` URLs use psycopg2 in SQLAlchemy: APScheduler 3 configurations do."""
    require_module("psycopg2")
    first = make_postgres_store()
    second = make_postgres_store(url=postgres_url.replace("+psycopg:", "+psycopg2:"))
    assert wait_until(lambda: second._listener.live)

    add(first, "a", run_time=T0 + timedelta(seconds=30))

    assert wait_until(lambda: T0 + timedelta(seconds=30) in second._scheduler.wakeups)
    started = time.monotonic()
    second.shutdown()
    assert time.monotonic() - started < 1.0


def test_a_background_scheduler_alone_on_the_store_runs_its_jobs_as_before(tmp_path, monkeypatch):
    from apscheduler.schedulers.background import BackgroundScheduler

    from . import support

    monkeypatch.setattr(support, "RUNS", [])
    scheduler = BackgroundScheduler(
        timezone="UTC",
        jobstores={"default": {"type": "sqlalchemy", "url": f"sqlite:///{tmp_path / 'j.db'}"}},
    )
    scheduler.start()
    try:
        soon = datetime.now(timezone.utc) + timedelta(seconds=0.2)
        scheduler.add_job(support.record_run, "date", run_date=soon, args=["once"], id="once")
        scheduler.add_job(support.record_run, "interval", hours=1, args=["later"], id="later")

        assert wait_until(lambda: support.RUNS == ["once"])
        assert wait_until(lambda: [job.id for job in scheduler.get_jobs()] == ["later"])
        store = scheduler._lookup_jobstore("default")
        assert tuple(lease_of(store, "later")) == (None, None)
    finally:
        scheduler.shutdown()
