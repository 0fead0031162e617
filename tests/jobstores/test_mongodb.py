"""MongoDBJobStore: options, the document layout of APScheduler 3."""

from __future__ import annotations

import pickle

import pytest

from .support import T0, RecordingScheduler, make_job

pytest.importorskip("pymongo")

from apscheduler.jobstores.mongodb import MongoDBJobStore  # noqa: E402


@pytest.mark.parametrize("option", ["database", "collection"], ids=["database", "collection"])
def test_empty_names_are_refused(option):
    with pytest.raises(ValueError, match=f'The "{option}" parameter must not be empty'):
        MongoDBJobStore(**{option: ""})


def test_the_module_offers_pymongos_client():
    import pymongo

    from apscheduler.jobstores.mongodb import MongoClient

    assert MongoClient is pymongo.MongoClient


def test_repr_shows_the_client():
    store = MongoDBJobStore(host="mongodb://db.example:27017/", connect=False)

    assert repr(store).startswith("<MongoDBJobStore (client=MongoClient(host=['db.example:27017']")


def test_the_connection_attribute_is_deprecated():
    store = MongoDBJobStore(connect=False)

    with pytest.deprecated_call(match='"connection" member is deprecated'):
        assert store.connection is store.client


@pytest.mark.external_service
def test_jobs_are_documents_with_a_sparse_run_time_index(mongodb_factory):
    store = mongodb_factory()
    job = make_job(store._scheduler, "a", T0)
    store.add_job(job)

    document = store.collection.find_one("a")
    indexes = store.collection.index_information()

    assert document["next_run_time"] == T0.timestamp()
    assert pickle.loads(document["job_state"]) == job.__getstate__()
    assert indexes["next_run_time_1"]["sparse"] is True


@pytest.mark.external_service
def test_the_client_may_be_given_as_a_text_reference(mongodb_factory, monkeypatch):
    from . import support

    client = mongodb_factory(start=False).client
    monkeypatch.setattr(support, "CLIENT", client, raising=False)

    store = MongoDBJobStore(client=f"{support.__name__}:CLIENT")

    assert store.client is client


@pytest.mark.external_service
def test_a_collection_of_apscheduler_3_gets_its_other_collections_at_start(mongodb_factory):
    from bson.binary import Binary

    writer = mongodb_factory(start=False)
    state = make_job(RecordingScheduler(), "a", T0).__getstate__()
    document = {
        "_id": "a",
        "next_run_time": T0.timestamp(),
        "job_state": Binary(pickle.dumps(state)),
    }
    writer.collection.insert_one(document)
    database = writer.collection.database
    assert writer.runs_collection.name not in database.list_collection_names()
    assert writer.facts_collection.name not in database.list_collection_names()

    store = mongodb_factory()

    assert writer.runs_collection.name in database.list_collection_names()
    assert "job_id_1" in store.runs_collection.index_information()
    fact_indexes = store.facts_collection.index_information().values()
    assert [("at", -1), ("_id", -1)] in [index["key"] for index in fact_indexes]
    stored = store.collection.find_one("a")
    assert set(stored) == {"_id", "next_run_time", "job_state"}
    assert bytes(stored["job_state"]) == bytes(document["job_state"])
    assert store.lookup_job("a").next_run_time == T0
