"""
MongoDBJobStore keeps the history of runs in the collection ``<collection>_history``. What every
store's history does is checked in ``test_history_contract.py``; here is how the MongoDB store
lays it out.
"""

from __future__ import annotations

import pytest

from apscheduler.runs import RUNNING, SUCCEEDED

from .support import T0
from .test_history_contract import run

pytest.importorskip("pymongo")

pytestmark = pytest.mark.external_service


@pytest.fixture
def store(mongodb_factory):
    return mongodb_factory()


def test_a_run_recorded_again_stays_one_document(store):
    started = run("run-1", state=RUNNING)

    store.record_runs([started, started.evolve(state=SUCCEEDED)])
    store.record_runs([started.evolve(state=SUCCEEDED)])

    assert store.history_collection.count_documents({}) == 1


def test_runs_are_documents_keyed_by_run_id_with_utc_timestamps(store):
    store.record_runs([run("run-1", host="h", pid=7)])

    document = store.history_collection.find_one("run-1")

    assert document["job_id"] == "job"
    assert document["scheduled_run_time"] == T0.timestamp()
    assert document["finished_at"] == T0.timestamp() + 1
    assert store.history_collection.name == f"{store.collection.name}_history"
    assert (
        len({store.collection.name, store.runs_collection.name, store.history_collection.name})
        == 3
    )
    indexes = store.history_collection.index_information()
    assert [("job_id", 1), ("scheduled_run_time", 1), ("_id", 1)] in [
        index["key"] for index in indexes.values()
    ]
