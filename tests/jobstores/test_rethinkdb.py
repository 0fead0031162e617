"""
RethinkDBJobStore: options, and the contract when a server is at hand.

No RethinkDB server can be installed from the package registries this project uses, so the
tests that need one run only when ``RETHINKDB_HOST`` names a server (``host`` or ``host:port``).
"""

from __future__ import annotations

import os
from uuid import uuid4

import pytest

from .support import T0, RecordingScheduler, make_job

pytest.importorskip("rethinkdb")

from apscheduler.jobstores.rethinkdb import RethinkDBJobStore  # noqa: E402


@pytest.mark.parametrize("option", ["database", "table"], ids=["database", "table"])
def test_empty_names_are_refused(option):
    with pytest.raises(ValueError, match=f'The "{option}" parameter must not be empty'):
        RethinkDBJobStore(**{option: ""})


def test_repr_shows_the_connection_made_at_start():
    assert repr(RethinkDBJobStore()) == "<RethinkDBJobStore (connection=None)>"


@pytest.fixture
def rethinkdb_store():
    address = os.environ.get("RETHINKDB_HOST")
    if not address:
        pytest.skip("no RethinkDB server (set RETHINKDB_HOST to run these tests)")
    host, _, port = address.partition(":")
    store = RethinkDBJobStore(
        database="apscheduler_tests", table=f"jobs_{uuid4().hex[:12]}", host=host,
        port=int(port or 28015),
    )  # fmt: skip
    store.start(RecordingScheduler(), "default")
    yield store
    store.remove_all_jobs()
    store.shutdown()


@pytest.mark.external_service
def test_jobs_round_trip_through_a_real_server(rethinkdb_store):
    store = rethinkdb_store
    store.add_job(make_job(store._scheduler, "b", T0))
    store.add_job(make_job(store._scheduler, "a", T0))
    store.add_job(make_job(store._scheduler, "paused", None))

    assert [job.id for job in store.get_due_jobs(T0)] == ["a", "b"]
    assert [job.id for job in store.get_all_jobs()] == ["a", "b", "paused"]
    assert store.get_next_run_time() == T0
    store.remove_job("a")
    assert store.lookup_job("a") is None
