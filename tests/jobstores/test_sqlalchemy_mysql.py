"""
SQLAlchemyJobStore on the MySQL family (MariaDB in these tests): what its SQL must get right
there and nowhere else.

A test that needs the server at a given moment freezes the server's clock for a store: the
session variable ``timestamp`` is set on each of the store's connections.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from tests.services import require_module, unavailable

from .support import T0, RecordingScheduler, make_job

pytestmark = pytest.mark.external_service
sqlalchemy = pytest.importorskip("sqlalchemy")

#: the clocks of Central Europe go back from 03:00 summer time to 02:00 at this moment, so
#: that the local times from 02:00 to 03:00 come twice
CLOCKS_GO_BACK = datetime(2025, 10, 26, 1, 0, tzinfo=timezone.utc)


def local_time_at(url, moment):
    """The server's local time (``NOW()``) at ``moment``, in a session of its own."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SET timestamp = {moment.timestamp()}")
            return connection.exec_driver_sql("SELECT NOW()").scalar()
    finally:
        engine.dispose()


@pytest.fixture
def store_at(mysql_url):
    """Makes started stores on one table, on a server clock frozen at ``moment`` if given."""
    require_module("pymysql")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    tablename = f"jobs_{uuid4().hex[:12]}"
    stores = []

    def make(moment=None, **options):
        if moment is not None:
            connect_args = {"init_command": f"SET timestamp = {moment.timestamp()}"}
            options["engine_options"] = {"connect_args": connect_args}
        store = SQLAlchemyJobStore(mysql_url, tablename=tablename, **options)
        stores.append(store)
        store.start(RecordingScheduler(), "default")
        return store

    yield make
    try:
        if stores:
            stores[0].jobs_t.metadata.drop_all(stores[0].engine, checkfirst=True)
    finally:
        for store in stores:
            store.shutdown()


def test_a_lease_from_before_the_clocks_go_back_ends_on_time_after(store_at, mysql_url):
    """
    A server whose local time has summer time (``time_zone=SYSTEM`` on such a host, which is
    common) shows the local times of the hour after the change twice. Leases must still end by
    the real time: a lease of five seconds taken two seconds before the change has ended half a
    minute after it, and not an hour later.
    """
    first_half_minute = CLOCKS_GO_BACK + timedelta(seconds=30)
    if local_time_at(mysql_url, first_half_minute) != local_time_at(
        mysql_url, first_half_minute - timedelta(hours=1)
    ):
        unavailable(
            "the MySQL server's time zone has no repeated hour on 2025-10-26 (the test server "
            "runs with TZ=Europe/Berlin for this)"
        )
    before = store_at(CLOCKS_GO_BACK - timedelta(seconds=2), lease_time=5)
    after = store_at(first_half_minute, lease_time=5)
    before.add_job(make_job(before._scheduler, "job", T0))
    assert [job.id for job in before.acquire_due_jobs(T0, "before").jobs] == ["job"]

    taken_over = after.acquire_due_jobs(T0, "after").jobs

    assert [job.id for job in taken_over] == ["job"]


def test_a_write_costs_the_server_three_statements_and_a_read_two(store_at, mysql_url):
    """
    The statement, COMMIT and the ROLLBACK with which the connection pool takes the connection
    back: switching the connection to autocommit and back would cost three more.
    """
    store = store_at()
    job = make_job(store._scheduler, "job", T0)
    store.add_job(job)
    watcher = sqlalchemy.create_engine(mysql_url, poolclass=sqlalchemy.pool.NullPool)
    counts = {}
    try:
        with watcher.connect() as watching:

            def statements_of(name, operation):
                # the server's count of statements from every client; this one's own SHOW
                # counts once between two readings
                query = "SHOW GLOBAL STATUS LIKE 'Questions'"
                before = int(watching.exec_driver_sql(query).one()[1])
                operation()
                counts[name] = int(watching.exec_driver_sql(query).one()[1]) - before - 1

            statements_of("update", lambda: store.update_job(job))
            statements_of("release", lambda: store.release_claimed_job("job", "someone"))
            statements_of("lookup", lambda: store.lookup_job("job"))
    finally:
        watcher.dispose()

    assert counts["update"] <= 3 and counts["release"] <= 3 and counts["lookup"] <= 2, counts


def test_a_claim_leases_all_its_jobs_with_one_update(store_at):
    """
    The candidates stay locked (``SKIP LOCKED``) until the claim commits; the outlook is read
    first, so that the locks last no longer than the claim.
    """
    store = store_at()
    for index in range(20):
        store.add_job(make_job(store._scheduler, f"job{index:02}", T0))
    statements = []
    sqlalchemy.event.listen(
        store.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )

    claimed = store.acquire_due_jobs(T0, "one").jobs

    assert [job.id for job in claimed] == [f"job{index:02}" for index in range(20)]
    assert [statement.split()[0] for statement in statements] == ["SELECT", "SELECT", "UPDATE"]
    assert "SKIP LOCKED" in statements[1]
    assert store_at().acquire_due_jobs(T0, "two").jobs == [], "all leased"
