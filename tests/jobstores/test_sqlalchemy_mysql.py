"""
SQLAlchemyJobStore on the MySQL family (MariaDB in these tests): what its SQL must get right
there and nowhere else.

The tests freeze the server's clock for a store with the session variable ``timestamp``, set
on each of the store's connections, so that they can put the server at any moment they like.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from tests.services import require_module

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
    """Makes started stores on one table, each on a server clock frozen where the test says."""
    require_module("pymysql")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    tablename = f"jobs_{uuid4().hex[:12]}"
    stores = []

    def make(moment, **options):
        connect_args = {"init_command": f"SET timestamp = {moment.timestamp()}"}
        store = SQLAlchemyJobStore(
            mysql_url,
            tablename=tablename,
            engine_options={"connect_args": connect_args},
            **options,
        )
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
        pytest.skip(
            "the MySQL server's time zone has no repeated hour on 2025-10-26 (the test server "
            "runs with TZ=Europe/Berlin for this)"
        )
    before = store_at(CLOCKS_GO_BACK - timedelta(seconds=2), lease_time=5)
    after = store_at(first_half_minute, lease_time=5)
    before.add_job(make_job(before._scheduler, "job", T0))
    assert [job.id for job in before.acquire_due_jobs(T0, "before")] == ["job"]

    taken_over = after.acquire_due_jobs(T0, "after")

    assert [job.id for job in taken_over] == ["job"]
