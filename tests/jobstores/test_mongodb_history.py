"""
MongoDBJobStore keeps the history of runs in the collection ``<collection>_history``, and the
facts beside it in ``<collection>_facts``. What every store's history does is checked in
``test_history_contract.py``; here is how the MongoDB store lays it out.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from apscheduler.runs import PENDING, RUNNING, SUCCEEDED, RetentionPolicy

from .support import T0
from .test_history_contract import fact, run

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


def test_pruning_keeps_running_and_pending_runs_whatever_their_age(store):
    store.record_runs([run("old", minutes=-60), run("running", state=RUNNING, minutes=-50)])
    store.record_runs([run("asked", state=PENDING, minutes=-40)])

    store.prune_runs(RetentionPolicy(max_runs=0, max_age=timedelta(0)), T0 + timedelta(days=1))

    assert {document["_id"] for document in store.history_collection.find()} == {
        "running",
        "asked",
    }


def test_facts_are_documents_keyed_by_fact_id_with_utc_timestamps(store):
    store.record_facts([fact("fact-1", 5, job_id="job")])
    store.record_facts([fact("fact-1", 5, job_id="job")])

    document = store.facts_collection.find_one("fact-1")

    assert store.facts_collection.name == f"{store.collection.name}_facts"
    assert store.facts_collection.count_documents({}) == 1
    assert document["at"] == T0.timestamp() + 5
    assert (document["kind"], document["job_id"], document["owner"]) == (
        "scheduler_started",
        "job",
        "host:1:abc",
    )
    assert "fact_id" not in document


def index_names(plan):
    """The indexes an explained query plan scans."""
    if isinstance(plan, dict):
        names = {plan["indexName"]} if plan.get("stage") == "IXSCAN" else set()
        return names.union(*map(index_names, plan.values()))
    if isinstance(plan, list):
        return set().union(*map(index_names, plan))
    return set()


def test_facts_are_read_and_pruned_by_their_index(store):
    from apscheduler.jobstores.mongodb.facts import NEWEST_FIRST

    store.record_facts([fact(f"f{index}", index) for index in range(5)])
    [name] = [
        name
        for name, index in store.facts_collection.index_information().items()
        if index["key"] == NEWEST_FIRST
    ]

    until = {"at": {"$lte": T0.timestamp() + 3}}
    reading = store.facts_collection.find(until, sort=NEWEST_FIRST, limit=2).explain()
    pruning = store.facts_collection.find({}, ["at"], sort=NEWEST_FIRST, skip=2).explain()

    assert name in index_names(reading["queryPlanner"]["winningPlan"])
    assert name in index_names(pruning["queryPlanner"]["winningPlan"])
