"""
Throwaway PostgreSQL and Redis servers for the benchmarks, unless the environment names some.

The servers are the test suite's (``tests/servers.py``, standard library only, so that a
script run in a peer's virtualenv can use them too), tuned for speed rather than durability:
the data is thrown away afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import (  # noqa: E402  (the repository root is on the path first)
    LocalServer,
    PostgresServer,
    RedisServer,
    ServerFailed,
    postgres_bindir,
)

#: the variable that names each kind of server, as the scenario scripts read it
ENVIRONMENT = {"postgresql": "POSTGRES_URL", "redis": "REDIS_URL"}

#: several scheduler processes with their pools and listeners share one PostgreSQL server
POSTGRES_CONNECTIONS = 200


class ServerUnavailable(RuntimeError):
    """The server is neither given in the environment nor installed here."""


def new_server(kind: str) -> LocalServer:
    """An unstarted server of ``kind`` (``postgresql`` or ``redis``), tuned for benchmarks."""
    if kind == "postgresql":
        bindir = postgres_bindir()
        if bindir is None:
            raise ServerUnavailable("PostgreSQL is not installed: set POSTGRES_URL")
        return PostgresServer(bindir, max_connections=POSTGRES_CONNECTIONS)

    executable = shutil.which("redis-server")
    if executable is None:
        raise ServerUnavailable("redis-server is not installed: set REDIS_URL")
    return RedisServer(executable, durable=False)


@contextlib.contextmanager
def server_url(kind: str) -> Iterator[str]:
    """The URL of ``kind``'s server from the environment, or of a throwaway one."""
    if url := os.environ.get(ENVIRONMENT[kind]):
        yield url
        return

    server = new_server(kind)
    server.start()
    try:
        yield server.url
    finally:
        server.close()


@contextlib.contextmanager
def servers(kinds: set[str]) -> Iterator[dict[str, str]]:
    """
    Yield ``{variable: url}`` for the wanted servers (``postgresql``, ``redis``).

    A server that is neither in the environment nor installed, or does not start, is left out
    of the mapping: the scenarios that need it are reported as not run.
    """
    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for kind in sorted(kinds):
            try:
                urls[ENVIRONMENT[kind]] = stack.enter_context(server_url(kind))
            except (ServerUnavailable, ServerFailed):
                continue
        yield urls
