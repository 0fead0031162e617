"""
Throwaway database servers for the benchmarks: PostgreSQL and Redis on a free loopback port.

A server given in the environment (``POSTGRES_URL`` as a SQLAlchemy URL, ``REDIS_URL``) is used
as it is; otherwise one is started in a temporary folder as a child process and stopped (its
folder deleted) at the end. PostgreSQL refuses to run as root, so when this runs as root the
cluster belongs to the ``postgres`` user that the distribution's package creates. This module
needs only the standard library, so every benchmark script can use it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0


class ServerUnavailable(RuntimeError):
    """The server is neither given in the environment nor installed here."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ChildServer:
    """A server run as a child process in a folder of its own."""

    name = "server"
    #: how to ask the server to stop without waiting for its clients
    stop_signal = signal.SIGTERM
    url: str

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="apscheduler-bench-server-"))
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time setup before the server starts (a PostgreSQL cluster)."""

    def user(self) -> str | None:
        return None

    def _as_user(self) -> dict[str, Any]:
        """The options that make a child process run as :meth:`user`."""
        user = self.user()
        return {"user": user, "group": user, "extra_groups": []} if user else {}

    def start(self) -> None:
        self.prepare()
        command = self.command()
        # the server must not outlive a benchmark that dies without cleaning up
        if setpriv := shutil.which("setpriv"):
            command = [setpriv, "--pdeathsig", self.stop_signal.name[3:], "--", *command]
        with open(self.workdir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, **self._as_user(),
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not self.is_ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
                self.close()
                raise ServerUnavailable(f"{self.name} did not start:\n{log_text}")
            time.sleep(0.05)

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


class PostgresServer(_ChildServer):
    name = "PostgreSQL"
    # fast shutdown: SIGTERM would wait for every client to disconnect
    stop_signal = signal.SIGINT

    def __init__(self, bindir: str) -> None:
        super().__init__()
        self.bindir = Path(bindir)
        self.datadir = self.workdir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")

    def user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def prepare(self) -> None:
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres", "-A",
             "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"],
            cwd=self.workdir, check=True, capture_output=True, **self._as_user(),
        )  # fmt: skip

    def command(self) -> list[str]:
        # durability is off: the data is thrown away, and the figures are the schedulers'
        return [
            str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
            "-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        check = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(check, check=False).returncode == 0


class RedisServer(_ChildServer):
    name = "Redis"

    def __init__(self, executable: str) -> None:
        super().__init__()
        self.executable = executable
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.executable, "--bind", "127.0.0.1", "--port", str(self.port), "--daemonize",
            "no", "--dir", str(self.workdir), "--save", "", "--appendonly", "no",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def postgres_bindir() -> str | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None


def _start(kind: str) -> _ChildServer:
    if kind == "postgresql":
        bindir = postgres_bindir()
        if bindir is None:
            raise ServerUnavailable("PostgreSQL is not installed: set POSTGRES_URL")
        server: _ChildServer = PostgresServer(bindir)
    else:
        executable = shutil.which("redis-server")
        if executable is None:
            raise ServerUnavailable("redis-server is not installed: set REDIS_URL")
        server = RedisServer(executable)
    server.start()
    return server


ENVIRONMENT = {"postgresql": "POSTGRES_URL", "redis": "REDIS_URL"}


@contextlib.contextmanager
def servers(kinds: set[str]) -> Iterator[dict[str, str]]:
    """
    Yield ``{variable: url}`` for the wanted servers (``postgresql``, ``redis``).

    A server that is neither in the environment nor installed is left out of the mapping.
    """
    urls: dict[str, str] = {}
    started: list[_ChildServer] = []
    try:
        for kind in sorted(kinds):
            variable = ENVIRONMENT[kind]
            if os.environ.get(variable):
                urls[variable] = os.environ[variable]
                continue
            try:
                server = _start(kind)
            except ServerUnavailable:
                continue
            started.append(server)
            urls[variable] = server.url
        yield urls
    finally:
        for server in started:
            server.close()
