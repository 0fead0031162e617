"""The database servers that the store tests rely on start, answer and survive restarts."""

from __future__ import annotations

import pytest

from tests.services import require_module

pytestmark = pytest.mark.external_service


def test_redis_server_answers_ping(redis_url):
    require_module("redis")
    import redis

    with redis.Redis.from_url(redis_url) as client:
        assert client.ping() is True


def test_redis_keeps_its_data_across_a_restart(redis_server):
    require_module("redis")
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.set("test_services:restart", b"kept")
    redis_server.stop()
    with redis.Redis.from_url(redis_server.url, socket_timeout=1) as client:
        with pytest.raises(redis.ConnectionError):
            client.ping()

    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.getdel("test_services:restart") == b"kept"


def test_postgres_server_runs_queries(postgres_url):
    require_module("sqlalchemy")
    require_module("psycopg")
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1 + 1")).scalar() == 2
    finally:
        engine.dispose()


def test_postgres_keeps_its_data_across_a_restart(postgres_server):
    require_module("sqlalchemy")
    require_module("psycopg")
    from sqlalchemy import create_engine, exc, text

    engine = create_engine(postgres_server.url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE test_services_restart (value text)"))
            connection.execute(text("INSERT INTO test_services_restart VALUES ('kept')"))
        postgres_server.stop()
        with pytest.raises(exc.OperationalError):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        postgres_server.start()
        with engine.begin() as connection:
            value = connection.execute(text("SELECT value FROM test_services_restart")).scalar()
            connection.execute(text("DROP TABLE test_services_restart"))
    finally:
        engine.dispose()

    assert value == "kept"


def test_mysql_server_runs_queries_in_its_test_database(mysql_url):
    require_module("sqlalchemy")
    require_module("pymysql")
    from sqlalchemy import create_engine, text

    engine = create_engine(mysql_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1 + 1, DATABASE()")).one() == (
                2,
                "apscheduler_tests",
            )
    finally:
        engine.dispose()


def test_mysql_keeps_its_data_across_a_restart(mysql_server):
    require_module("sqlalchemy")
    require_module("pymysql")
    from sqlalchemy import create_engine, exc, text

    engine = create_engine(mysql_server.url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE test_services_restart (value text)"))
            connection.execute(text("INSERT INTO test_services_restart VALUES ('kept')"))
        mysql_server.stop()
        with pytest.raises(exc.OperationalError):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))

        mysql_server.start()
        with engine.begin() as connection:
            value = connection.execute(text("SELECT value FROM test_services_restart")).scalar()
            connection.execute(text("DROP TABLE test_services_restart"))
    finally:
        engine.dispose()

    assert value == "kept"


def test_mongodb_server_answers_ping(mongodb_url):
    require_module("pymongo")
    from pymongo import MongoClient

    with MongoClient(mongodb_url, serverSelectionTimeoutMS=10_000) as client:
        assert client.admin.command("ping")["ok"] == 1


def test_zookeeper_server_stores_a_node(zookeeper_hosts):
    require_module("kazoo")
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper_hosts)
    client.start(timeout=15)
    try:
        client.create("/test_services", b"value", makepath=True)
        assert client.get("/test_services")[0] == b"value"
        client.delete("/test_services")
    finally:
        client.stop()
        client.close()


def test_etcd_server_stores_a_key(etcd_endpoint):
    require_module("etcd3")
    import etcd3

    host, port = etcd_endpoint.rsplit(":", 1)
    client = etcd3.client(host=host, port=int(port))
    try:
        client.put("/test_services", "value")
        assert client.get("/test_services")[0] == b"value"
        client.delete("/test_services")
    finally:
        client.close()
