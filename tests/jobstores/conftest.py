"""
Job store fixtures: every test of the contract runs against every kind of store.

Each test gets its own namespace (table, keys, collection or path), so tests never see each
other's jobs, while the servers themselves live for the whole session (``tests/services.py``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from tests.services import require_module

from .reference_store import ReferenceStorage
from .support import RecordingScheduler

external = pytest.mark.external_service

#: kind of store → (module, class, Python package its back end needs)
STORE_CLASSES = {
    "memory": ("apscheduler.jobstores.memory", "MemoryJobStore", None),
    # the shared store written from the public interface alone, kept in this process
    "reference": ("tests.jobstores.reference_store", "ReferenceJobStore", None),
    "sqlite": ("apscheduler.jobstores.sqlalchemy", "SQLAlchemyJobStore", "sqlalchemy"),
    "postgresql": ("apscheduler.jobstores.sqlalchemy", "SQLAlchemyJobStore", "psycopg"),
    "mysql": ("apscheduler.jobstores.sqlalchemy", "SQLAlchemyJobStore", "pymysql"),
    "redis": ("apscheduler.jobstores.redis", "RedisJobStore", "redis"),
    "mongodb": ("apscheduler.jobstores.mongodb", "MongoDBJobStore", "pymongo"),
    "zookeeper": ("apscheduler.jobstores.zookeeper", "ZooKeeperJobStore", "kazoo"),
    "etcd": ("apscheduler.jobstores.etcd", "EtcdJobStore", "etcd3"),
    "rethinkdb": ("apscheduler.jobstores.rethinkdb", "RethinkDBJobStore", "rethinkdb"),
}
#: the stores that several scheduler processes may share, each on its real server
PERSISTENT_SHARED_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=external),
    pytest.param("mysql", id="mysql", marks=external),
    pytest.param("redis", id="redis", marks=external),
    pytest.param("mongodb", id="mongodb", marks=external),
]
#: the same, and the reference store that shows the shared-store interface is enough
SHARED_KINDS = [pytest.param("reference", id="reference"), *PERSISTENT_SHARED_KINDS]
PERSISTENT_KINDS = [
    *PERSISTENT_SHARED_KINDS,
    pytest.param("zookeeper", id="zookeeper", marks=external),
    pytest.param("etcd", id="etcd", marks=external),
    pytest.param("rethinkdb", id="rethinkdb", marks=external),
]
#: the stores that keep a history of runs of their own (:class:`~apscheduler.runs.RunHistory`)
HISTORY_KINDS = [pytest.param("memory", id="memory"), *PERSISTENT_SHARED_KINDS]
ALL_KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("reference", id="reference"),
    *PERSISTENT_KINDS,
]


def store_options(kind: str, request: pytest.FixtureRequest, tmp_path: Path, ns: str) -> dict:
    """Constructor arguments that put a store of ``kind`` in the namespace ``ns``."""
    if kind == "reference":
        # one storage for every store of the factory, as one server for several processes
        return {"storage": ReferenceStorage()}
    if kind == "sqlite":
        return {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}
    if kind == "postgresql":
        return {"url": request.getfixturevalue("postgres_url"), "tablename": f"jobs_{ns}"}
    if kind == "mysql":
        return {"url": request.getfixturevalue("mysql_url"), "tablename": f"jobs_{ns}"}
    if kind == "redis":
        url = urlsplit(request.getfixturevalue("redis_url"))
        return {
            "host": url.hostname,
            "port": url.port,
            "db": int(url.path.strip("/") or 0),
            "jobs_key": f"{ns}.jobs",
            "run_times_key": f"{ns}.run_times",
        }
    if kind == "mongodb":
        return {
            "host": request.getfixturevalue("mongodb_url"),
            "database": "apscheduler_tests",
            "collection": f"jobs_{ns}",
            "serverSelectionTimeoutMS": 5000,
        }
    if kind == "zookeeper":
        return {
            "hosts": request.getfixturevalue("zookeeper_hosts"),
            "path": f"/apscheduler_tests/{ns}",
            "close_connection_on_exit": True,
        }
    if kind == "etcd":
        host, port = request.getfixturevalue("etcd_endpoint").rsplit(":", 1)
        return {"host": host, "port": int(port), "path": f"/apscheduler_tests/{ns}"}
    if kind == "rethinkdb":
        # no RethinkDB server can be installed from the package registries: use one at hand
        address = os.environ.get("RETHINKDB_HOST")
        if not address:
            pytest.skip("no RethinkDB server (set RETHINKDB_HOST to run these tests)")
        host, _, port = address.partition(":")
        return {
            "database": "apscheduler_tests",
            "table": f"jobs_{ns}",
            "host": host,
            "port": int(port or 28015),
        }
    return {}


def wipe(store: Any, kind: str) -> None:
    """Delete everything the store put on its server, table or collection included."""
    if kind in ("postgresql", "mysql"):
        # the job table and every table made with it, such as its runs in progress
        store.jobs_t.metadata.drop_all(store.engine, checkfirst=True)
    elif kind == "mongodb":
        store.collection.drop()
        store.runs_collection.drop()
        store.history_collection.drop()
        store.facts_collection.drop()
    elif kind == "zookeeper":
        store.client.delete(store.path, recursive=True)
    elif kind == "rethinkdb":
        from rethinkdb import r

        r.db(store.database).table_drop(store.table_name).run(store.conn)
    elif kind == "redis":
        store.remove_all_jobs()
        # removing every job keeps the history of runs: its keys go here
        history_keys = list(store.redis.scan_iter(match=f"{store.jobs_key}.history*"))
        if history_keys:
            store.redis.delete(*history_keys)
    elif kind != "memory":
        store.remove_all_jobs()


class StoreFactory:
    """Makes started stores of one kind that share one namespace, and cleans up after them."""

    def __init__(self, kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        module_name, class_name, package = STORE_CLASSES[kind]
        if package:
            require_module(package)
        self.kind = kind
        self.store_class = getattr(importlib.import_module(module_name), class_name)
        self.options = store_options(kind, request, tmp_path, uuid4().hex[:12])
        self.scheduler = RecordingScheduler()
        self.stores: list[Any] = []

    def __call__(self, alias: str = "default", start: bool = True, **overrides: Any) -> Any:
        store = self.store_class(**{**self.options, **overrides})
        self.stores.append(store)
        if start:
            store.start(self.scheduler, alias)
        return store

    def close(self) -> None:
        try:
            if self.kind != "memory":
                cleaner = self.store_class(**self.options)
                self.stores.append(cleaner)
                cleaner.start(RecordingScheduler(), "cleanup")
                wipe(cleaner, self.kind)
        finally:
            for store in reversed(self.stores):
                store.shutdown()


def _factory(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    factory = StoreFactory(kind, request, tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(params=ALL_KINDS)
def any_store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores of every kind in turn, the memory store included."""
    yield from _factory(request.param, request, tmp_path)


@pytest.fixture(params=PERSISTENT_KINDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores of every persistent kind in turn."""
    yield from _factory(request.param, request, tmp_path)


@pytest.fixture
def jobstore(any_store_factory: StoreFactory) -> Any:
    """A started store of each kind, memory included, with alias ``default``."""
    return any_store_factory()


@pytest.fixture
def persistent_jobstore(store_factory: StoreFactory) -> Any:
    """A started store of each persistent kind, with alias ``default``."""
    return store_factory()


@pytest.fixture
def redis_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes Redis stores in one namespace."""
    yield from _factory("redis", request, tmp_path)


@pytest.fixture
def mongodb_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes MongoDB stores in one namespace."""
    yield from _factory("mongodb", request, tmp_path)


@pytest.fixture
def zookeeper_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes ZooKeeper stores in one namespace."""
    yield from _factory("zookeeper", request, tmp_path)


@pytest.fixture
def etcd_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes etcd stores in one namespace."""
    yield from _factory("etcd", request, tmp_path)
