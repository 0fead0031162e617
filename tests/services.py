"""
Real database servers for the tests, one per session, each on a free loopback port.

Every service follows the same rule: if its environment variable (``REDIS_URL``,
``POSTGRES_URL``, ``MYSQL_URL``, ``MONGODB_URL``, ``ZOOKEEPER_HOSTS``, ``ETCD_ENDPOINT``) is set, that server
is used and nothing is started. Otherwise a throwaway server runs as a child process in a
fresh temporary folder and is stopped and deleted when the session ends. A server that is not
installed skips its tests, except under ``CI=true``, where it fails them: a green CI run must
never hide a missing install step.

The ``*_server`` fixtures yield an object that can also be stopped and started again on the
same port and data folder, for tests of how stores ride out an outage.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest

from tests.servers import (
    EtcdServer,
    ExternalServer,
    LocalServer,
    MariaDBServer,
    PostgresServer,
    RedisServer,
    SecantusServer,
    ServerFailed,
    ZooKeeperServer,
    postgres_bindir,
)


def unavailable(reason: str) -> NoReturn:
    """Skip the test locally, but fail it in CI, where every service must be installed."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)

    pytest.skip(reason)


def require_module(name: str) -> None:
    """Skip (or, in CI, fail) the test when the client library ``name`` is not installed."""
    if importlib.util.find_spec(name) is None:
        unavailable(f"the Python package {name!r} is not installed")


def _serve(
    env_var: str, make_server: Callable[[], LocalServer]
) -> Iterator[LocalServer | ExternalServer]:
    if os.environ.get(env_var):
        yield ExternalServer(os.environ[env_var])
        return

    server = make_server()
    try:
        try:
            server.start()
        except ServerFailed as exc:
            pytest.fail(str(exc), pytrace=False)
        yield server
    finally:
        server.close()


def _make_redis() -> RedisServer:
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable("redis-server is not installed (Debian package redis-server)")

    return RedisServer(executable)


def _make_postgres() -> PostgresServer:
    bindir = postgres_bindir()
    if bindir is None:
        unavailable("PostgreSQL is not installed (Debian package postgresql)")

    return PostgresServer(bindir)


def _make_mariadb() -> MariaDBServer:
    # Debian puts the server in /usr/sbin, which is not on the PATH of users other than root.
    search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    mariadbd = shutil.which("mariadbd", path=search_path)
    install_db = shutil.which("mariadb-install-db", path=search_path)
    if mariadbd is None or install_db is None:
        unavailable("MariaDB is not installed (Debian package mariadb-server)")

    return MariaDBServer(mariadbd, install_db)


def _make_secantus() -> SecantusServer:
    if importlib.util.find_spec("secantus") is None:
        unavailable("SecantusDB is not installed (pip install SecantusDB==0.7.0b3)")

    return SecantusServer()


def _make_zookeeper() -> ZooKeeperServer:
    java = shutil.which("java")
    jar = "/usr/share/java/zookeeper.jar"
    if java is None or not os.path.exists(jar):
        unavailable("ZooKeeper is not installed (Debian package zookeeper)")

    # The Debian jar lists its dependencies in its manifest; the conf folder holds log4j setup.
    return ZooKeeperServer(java, f"/etc/zookeeper/conf:{jar}")


def _make_etcd() -> EtcdServer:
    executable = shutil.which("etcd")
    if executable is None:
        unavailable("etcd is not installed (Debian package etcd-server)")

    return EtcdServer(executable)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalServer | ExternalServer]:
    """A Redis server (``.url``) that keeps its data across ``.stop()`` and ``.start()``."""
    yield from _serve("REDIS_URL", _make_redis)


@pytest.fixture(scope="session")
def redis_url(redis_server: LocalServer | ExternalServer) -> str:
    """URL of a Redis server, such as ``redis://127.0.0.1:PORT/0``."""
    return redis_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalServer | ExternalServer]:
    """A PostgreSQL server (``.url`` for SQLAlchemy) that can be stopped and started again."""
    yield from _serve("POSTGRES_URL", _make_postgres)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: LocalServer | ExternalServer) -> str:
    """SQLAlchemy URL of a PostgreSQL database, using the psycopg 3 driver."""
    return postgres_server.url


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[LocalServer | ExternalServer]:
    """A MariaDB server (``.url`` for SQLAlchemy) that can be stopped and started again."""
    yield from _serve("MYSQL_URL", _make_mariadb)


@pytest.fixture(scope="session")
def mysql_url(mysql_server: LocalServer | ExternalServer) -> str:
    """SQLAlchemy URL of a MySQL-family database, such as ``mysql+pymysql://root@HOST:PORT/db``."""
    return mysql_server.url


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[LocalServer | ExternalServer]:
    """A server speaking the MongoDB wire protocol."""
    yield from _serve("MONGODB_URL", _make_secantus)


@pytest.fixture(scope="session")
def mongodb_url(mongodb_server: LocalServer | ExternalServer) -> str:
    """URL of a MongoDB server, such as ``mongodb://127.0.0.1:PORT/``."""
    return mongodb_server.url


@pytest.fixture(scope="session")
def zookeeper_server() -> Iterator[LocalServer | ExternalServer]:
    """A standalone ZooKeeper server."""
    yield from _serve("ZOOKEEPER_HOSTS", _make_zookeeper)


@pytest.fixture(scope="session")
def zookeeper_hosts(zookeeper_server: LocalServer | ExternalServer) -> str:
    """Connection string for kazoo, such as ``127.0.0.1:PORT``."""
    return zookeeper_server.url


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[LocalServer | ExternalServer]:
    """A single-member etcd cluster."""
    yield from _serve("ETCD_ENDPOINT", _make_etcd)


@pytest.fixture(scope="session")
def etcd_endpoint(etcd_server: LocalServer | ExternalServer) -> str:
    """``host:port`` of an etcd server's client API."""
    return etcd_server.url
