"""
Stores written by APScheduler 3.11 keep working.

The files in ``data/`` were produced by the original APScheduler 3.11.3 running
``data/make_311_data.py`` in a separate environment: they are data, not code from it. The
SQLite file is a job table as its SQLAlchemyJobStore left it; the JSON file holds the pickled
jobs as each of its store layouts keeps them, with what 3.11 printed for each job and the first
fire times its triggers gave after the stored one.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from .support import T0, make_job, tick

DATA = Path(__file__).parent / "data"
RECORDS = json.loads((DATA / "apscheduler-3.11-jobs.json").read_text())
# the order get_all_jobs() must give: by next run time, then id, paused jobs last
EXPECTED_ORDER = sorted(
    RECORDS, key=lambda job_id: (RECORDS[job_id]["next_run_time"] is None,
                                 RECORDS[job_id]["next_run_time"] or 0, job_id)
)  # fmt: skip
DUE_AT_T0 = [
    job_id
    for job_id in EXPECTED_ORDER
    if RECORDS[job_id]["next_run_time"] is not None
    and RECORDS[job_id]["next_run_time"] <= T0.timestamp()
]


def fire_times(job, count):
    """The fire times after the stored one, asked for as the scheduler does after a run."""
    times, previous = [], job.next_run_time
    while previous is not None and len(times) < count:
        previous = job.trigger.get_next_fire_time(previous, previous)
        times.append(previous and previous.isoformat())
    return times


def check_jobs_as_311_wrote_them(store):
    jobs = store.get_all_jobs()

    assert store.get_unloadable_jobs() == []
    assert [job.id for job in jobs] == EXPECTED_ORDER
    for job in jobs:
        record = RECORDS[job.id]
        assert str(job) == record["str"], job.id
        # the or-trigger here keeps each of its triggers on that trigger's own schedule, where
        # 3.11 stepped an interval from whichever trigger fired last; the stores have no say
        if record["fire_times"] and job.id != "either":
            assert fire_times(job, len(record["fire_times"])) == record["fire_times"], job.id
        assert job._jobstore_alias == "default"
    assert [job.id for job in store.get_due_jobs(T0)] == DUE_AT_T0


def test_an_apscheduler_311_sqlite_file_just_works(tmp_path):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from .support import RecordingScheduler

    database = tmp_path / "jobs.sqlite"
    shutil.copy(DATA / "apscheduler-3.11.sqlite", database)
    store = SQLAlchemyJobStore(url=f"sqlite:///{database}")
    store.start(RecordingScheduler(), "default")
    try:
        check_jobs_as_311_wrote_them(store)

        interval = store.lookup_job("interval")
        assert interval.func is tick
        assert (interval.args, interval.kwargs) == ((1, "two"), {"three": 3})
        assert (interval.misfire_grace_time, interval.coalesce, interval.max_instances) == (
            30,
            True,
            3,
        )
        method = store.lookup_job("method")
        assert method.args[0].value == 41

        interval._modify(next_run_time=datetime(2026, 3, 1, 12, 30, tzinfo=T0.tzinfo))
        store.update_job(interval)
        store.add_job(make_job(store._scheduler, "new", T0))
        store.remove_job("paused")
        assert "new" in [job.id for job in store.get_due_jobs(T0)]
        assert store.lookup_job("interval").next_run_time.minute == 30
    finally:
        store.shutdown()


# --- every persistent layout, written record by record as 3.11 did ------------------------


def write_311_sql_table(store, records):
    """Create the table with 3.11's column types, then insert the pickled states."""
    from sqlalchemy import text

    blob = "BYTEA" if store.engine.dialect.name == "postgresql" else "BLOB"
    # 3.11's Float(25): a bare FLOAT is single precision on MySQL, too coarse for timestamps
    real = "FLOAT(25)" if store.engine.dialect.name in ("mysql", "mariadb") else "FLOAT"
    table = store.jobs_t.name
    with store.engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE {table} (id VARCHAR(191) NOT NULL, next_run_time {real}, "
                f"job_state {blob} NOT NULL, PRIMARY KEY (id))"
            )
        )
        connection.execute(
            text(f"CREATE INDEX ix_{table}_next_run_time ON {table} (next_run_time)")
        )
        for job_id, record in records.items():
            connection.execute(
                text(f"INSERT INTO {table} VALUES (:id, :run_time, :state)"),
                {
                    "id": job_id,
                    "run_time": record["next_run_time"],
                    "state": bytes.fromhex(record["job_state"]),
                },
            )


def write_311_redis_keys(store, records):
    for job_id, record in records.items():
        store.redis.hset(store.jobs_key, job_id, bytes.fromhex(record["job_state"]))
        if record["next_run_time"] is not None:
            store.redis.zadd(store.run_times_key, {job_id: record["next_run_time"]})


def write_311_mongodb_documents(store, records):
    from bson.binary import Binary

    for job_id, record in records.items():
        store.collection.insert_one(
            {
                "_id": job_id,
                "next_run_time": record["next_run_time"],
                "job_state": Binary(bytes.fromhex(record["job_state"])),
            }
        )


def write_311_zookeeper_nodes(store, records):
    store.client.start()
    for job_id, record in records.items():
        store.client.create(
            f"{store.path}/{job_id}", bytes.fromhex(record["wrapped"]), makepath=True
        )


def write_311_etcd_keys(store, records):
    for job_id, record in records.items():
        store.client.put(f"{store.path}/{job_id}", bytes.fromhex(record["wrapped"]))


WRITERS = {
    "sqlite": write_311_sql_table,
    "postgresql": write_311_sql_table,
    "mysql": write_311_sql_table,
    "redis": write_311_redis_keys,
    "mongodb": write_311_mongodb_documents,
    "zookeeper": write_311_zookeeper_nodes,
    "etcd": write_311_etcd_keys,
}


def test_jobs_written_in_the_311_layout_load_in_order(store_factory):
    writer = store_factory(start=False)
    WRITERS[store_factory.kind](writer, RECORDS)

    check_jobs_as_311_wrote_them(store_factory())


def test_a_311_record_that_no_longer_loads_is_kept_not_deleted(store_factory):
    broken = dict(RECORDS)
    # the pickle of a job whose function module has since been renamed
    state = bytes.fromhex(RECORDS["date"]["job_state"])
    wrapped = bytes.fromhex(RECORDS["date"]["wrapped"])
    old, new = b"tests.jobstores.support", b"tests.jobstores.renamed"
    broken["renamed"] = {
        **RECORDS["date"],
        "job_state": state.replace(old, new).hex(),
        "wrapped": wrapped.replace(old, new).hex(),
    }
    WRITERS[store_factory.kind](store_factory(start=False), broken)
    store = store_factory()

    assert "renamed" not in [job.id for job in store.get_due_jobs(T0)]
    assert [report.job_id for report in store.get_unloadable_jobs()] == ["renamed"]
    assert "tests.jobstores.renamed" in store.get_unloadable_jobs()[0].reason
    store.remove_job("renamed")
    assert store.get_unloadable_jobs() == []
    assert [job.id for job in store.get_all_jobs()] == EXPECTED_ORDER


@pytest.mark.parametrize("job_id", sorted(RECORDS), ids=sorted(RECORDS))
def test_a_job_saved_again_reads_back_the_same(store_factory, job_id):
    """Loading a 3.11 job and storing it again keeps everything 3.11 stored."""
    WRITERS[store_factory.kind](store_factory(start=False), {job_id: RECORDS[job_id]})
    store = store_factory()
    job = store.lookup_job(job_id)

    store.update_job(job)
    again = store_factory(alias="again").lookup_job(job_id)

    assert str(again) == RECORDS[job_id]["str"]
    assert again.__getstate__().keys() == job.__getstate__().keys()
