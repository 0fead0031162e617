"""
The job stores a command works on: from a URL (``--store``) or from a configuration file
(``--config``), opened through a :class:`~apscheduler.client.SchedulerClient`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from apscheduler.cli._output import CommandError, StoreError
from apscheduler.client import SchedulerClient

#: seconds a command keeps retrying a store that does not answer (a scheduler waits longer)
CLI_RETRY_TIMEOUT = 1.0
#: the path under which the ZooKeeper and etcd stores keep their jobs by default
DEFAULT_NODE_PATH = "/apscheduler"


def store_config_from_url(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """
    The configuration dict of the job store that ``url`` names; ``options`` are further
    constructor arguments (``tablename``, ``jobs_key``...).

    :raises StoreError: for a URL that names no store
    """
    scheme = urlsplit(url).scheme.lower()
    if not scheme:
        raise StoreError(f"not a store URL: {url!r} (expected e.g. sqlite:///jobs.sqlite)")
    if scheme in ("redis", "rediss"):
        config = _redis_config(url)
    elif scheme in ("mongodb", "mongodb+srv"):
        config = {"type": "mongodb", "host": url, "serverSelectionTimeoutMS": 3000}
    elif scheme == "zookeeper":
        config = _zookeeper_config(url)
    elif scheme == "etcd":
        config = _etcd_config(url)
    else:
        config = _sqlalchemy_config(url)
    config.setdefault("retry_timeout", CLI_RETRY_TIMEOUT)
    return {**config, **options}


def _redis_config(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    database = parts.path.strip("/") or "0"
    if not database.isdigit():
        raise StoreError(f"bad Redis URL {url!r}: the path must be a database number")
    config: dict[str, Any] = {
        "type": "redis",
        "host": parts.hostname or "localhost",
        "port": _port(parts.port, url, 6379),
        "db": int(database),
        "socket_connect_timeout": 3,
    }
    if parts.password is not None:
        config["password"] = unquote(parts.password)
    if parts.username:
        config["username"] = unquote(parts.username)
    if parts.scheme == "rediss":
        config["ssl"] = True
    return config


def _zookeeper_config(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if not parts.netloc:
        raise StoreError(f"bad ZooKeeper URL {url!r}: expected zookeeper://HOST:PORT/PATH")
    return {
        "type": "zookeeper",
        "hosts": parts.netloc,
        "path": parts.path.rstrip("/") or DEFAULT_NODE_PATH,
        "close_connection_on_exit": True,
        "timeout": 3,
    }


def _etcd_config(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise StoreError(f"bad etcd URL {url!r}: expected etcd://HOST:PORT/PATH")
    return {
        "type": "etcd",
        "host": parts.hostname,
        "port": _port(parts.port, url, 2379),
        "path": parts.path.rstrip("/") or DEFAULT_NODE_PATH,
        "timeout": 3,
    }


def _sqlalchemy_config(url: str) -> dict[str, Any]:
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
    except ImportError:
        raise StoreError(
            f"{url!r} needs SQLAlchemy: pip install apscheduler[sqlalchemy]"
        ) from None
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a store URL: {url!r}") from None
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        # a typo would otherwise create an empty database and show no jobs
        if not Path(database).is_file():
            raise StoreError(f"no SQLite database at {database!r}")
    return {"type": "sqlalchemy", "url": url}


def _port(port: int | None, url: str, default: int) -> int:
    """The URL's port (``urlsplit`` raises ValueError for a bad one only when asked)."""
    try:
        return port or default
    except ValueError:
        raise StoreError(f"bad port in {url!r}") from None


def parse_store_options(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` texts as constructor arguments; numbers become numbers."""
    from apscheduler.cli._values import parse_assignments

    return parse_assignments(pairs, what="store option")


def open_client(
    store_url: str | None, config_file: str | None, store_options: list[str]
) -> SchedulerClient:
    """
    A client of the stores named by ``--store`` or by ``--config`` (or ``$APSCHEDULER_STORE``).

    :raises StoreError: if neither names a store, or the store cannot be made
    """
    store_url = store_url or os.environ.get("APSCHEDULER_STORE")
    if config_file is not None:
        from apscheduler.cli._config import load_config

        scheduler_config = load_config(config_file).scheduler
        jobstores = dict(scheduler_config.get("jobstores") or {})
        timezone = scheduler_config.get("timezone", "UTC")
    elif store_url:
        options = parse_store_options(store_options)
        jobstores = {"default": store_config_from_url(store_url, options)}
        timezone = "UTC"
    else:
        raise CommandError("name the job store: --store URL or --config FILE")
    if not jobstores:
        raise CommandError(f"{config_file} names no job stores")
    try:
        return SchedulerClient(jobstores=jobstores, timezone=timezone)
    except (ImportError, LookupError, TypeError, ValueError) as exc:
        raise StoreError(f"cannot make the job store: {exc}") from None
