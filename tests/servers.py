"""
How to run, probe and stop each database server that ``tests/services.py`` provides.

Only the standard library is used here, so the benchmarks (``benchmarks/servers.py``) start
their throwaway servers with these classes too, in virtualenvs that have no pytest.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class ServerFailed(RuntimeError):
    """A server did not come up: its set-up failed, it exited, or it never took clients."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class LocalServer:
    """
    A server run as a child process of the test session, in a temporary folder of its own.

    Subclasses say how to run the server and how to tell that it accepts clients. The port and
    the folder stay the same across :meth:`stop` and :meth:`start`, so a restarted server
    finds its old data where the server supports that.
    """

    name = "server"
    stop_signal = signal.SIGTERM
    #: environment variables the server runs with, on top of the test session's
    environment: dict[str, str] = {}
    url: str

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="apscheduler-test-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._prepared = False

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Do one-time setup (such as creating a database cluster) before the first start."""

    def popen_user(self) -> dict[str, object]:
        return {}

    def start(self) -> None:
        """Start the server and wait until it accepts clients."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} is already running")

        if not self._prepared:
            self.prepare()
            self._prepared = True

        command = self.command()
        # If the test session dies without tearing down, the server must not outlive it.
        if setpriv := shutil.which("setpriv"):
            command = [setpriv, "--pdeathsig", self.stop_signal.name[3:], "--", *command]

        with open(self.workdir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, **self.environment},
                **self.popen_user(),
            )  # fmt: skip

        deadline = time.monotonic() + START_TIMEOUT
        while not self.is_ready():
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise ServerFailed(f"{self.name} exited with {code} on start:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerFailed(f"{self.name} not ready in {START_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (if it runs) and wait for it to exit; its data stays on disk."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return

        process.send_signal(self.stop_signal)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the server and delete its folder."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self) -> str:
        """Return the end of the server's output, for failure messages."""
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


class ExternalServer:
    """A server given through an environment variable: used as it is, never stopped."""

    def __init__(self, url: str) -> None:
        self.url = url

    def stop(self) -> None:
        import pytest  # only tests stop a server

        pytest.skip("the server comes from the environment, so it cannot be stopped")

    def start(self) -> None:
        import pytest

        pytest.skip("the server comes from the environment, so it cannot be started")


class RedisServer(LocalServer):
    """
    A Redis server.

    :param durable: keep an append-only file, synced at every write, so that the data
        survives :meth:`stop` and :meth:`start` as on a real restart (benchmarks turn it off)
    """

    name = "Redis"

    def __init__(self, executable: str, durable: bool = True) -> None:
        super().__init__()
        self.executable = executable
        self.durable = durable
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else [
            "--appendonly", "no"
        ]  # fmt: skip
        return [
            self.executable, "--bind", "127.0.0.1", "--port", str(self.port),
            "--daemonize", "no", "--dir", str(self.workdir), "--save", "", *persistence,
            "--logfile", "",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class PostgresServer(LocalServer):
    """
    A PostgreSQL server whose ``postgres`` user needs no password.

    :param bindir: the folder of ``initdb``, ``postgres`` and ``pg_isready``
    :param max_connections: the server's limit, if not its default (100)
    """

    name = "PostgreSQL"
    # Fast shutdown: SIGTERM would wait for every client (e.g. a pooled engine) to disconnect.
    stop_signal = signal.SIGINT

    def __init__(self, bindir: str, max_connections: int | None = None) -> None:
        super().__init__()
        self.bindir = Path(bindir)
        self.max_connections = max_connections
        self.datadir = self.workdir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # initdb and postgres refuse to run as root; Debian's package creates this user.
        if os.geteuid() == 0:
            self.user: str | None = "postgres"
            shutil.chown(self.workdir, "postgres", "postgres")
        else:
            self.user = None

    def prepare(self) -> None:
        with open(self.workdir / "initdb.log", "wb") as log:
            result = subprocess.run(
                [
                    str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                    "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
                    "--no-instructions",
                ],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, **self.popen_user(),
            )  # fmt: skip
        if result.returncode:
            raise ServerFailed(f"initdb failed:\n{(self.workdir / 'initdb.log').read_text()}")

    def command(self) -> list[str]:
        # Durability settings are off: the data is thrown away anyway, and this is much faster.
        return [
            str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
            "-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            *(["-c", f"max_connections={self.max_connections}"] if self.max_connections else []),
        ]  # fmt: skip

    def popen_user(self) -> dict[str, object]:
        return {"user": self.user, "group": self.user, "extra_groups": []} if self.user else {}

    def is_ready(self) -> bool:
        check = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(check, check=False).returncode == 0


class MariaDBServer(LocalServer):
    """A MariaDB server (the MySQL family) with a ``root`` user that needs no password."""

    name = "MariaDB"
    database = "apscheduler_tests"
    # Many servers keep their host's local time (time_zone=SYSTEM); one with summer time makes
    # any SQL that turns the server's local time into a timestamp show its error once a year.
    environment = {"TZ": "Europe/Berlin"}
    # Throwaway data: skip the doublewrite buffer and the flush at each commit, and keep the
    # redo log and buffer pool small, so that making the data folder takes about a second.
    # utf8mb4 is what Debian's packaged configuration sets, which --no-defaults leaves out.
    settings = (
        "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
        "--innodb-log-file-size=16M", "--innodb-buffer-pool-size=64M", "--skip-log-bin",
        "--skip-name-resolve", "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_general_ci",
    )  # fmt: skip

    def __init__(self, mariadbd: str, install_db: str) -> None:
        super().__init__()
        self.mariadbd = mariadbd
        self.install_db = install_db
        self.datadir = self.workdir / "data"
        self.url = f"mysql+pymysql://root@127.0.0.1:{self.port}/{self.database}"
        # mariadbd refuses to run as root unless told to in so many words
        self.user_option = ["--user=root"] if os.geteuid() == 0 else []
        # runs at every start, before the server takes clients: the tests' database
        (self.workdir / "init.sql").write_text(f"CREATE DATABASE IF NOT EXISTS {self.database};\n")

    def prepare(self) -> None:
        with open(self.workdir / "install-db.log", "wb") as log:
            result = subprocess.run(
                [
                    self.install_db, "--no-defaults", f"--datadir={self.datadir}",
                    "--auth-root-authentication-method=normal", "--skip-test-db",
                    *self.user_option, *self.settings,
                ],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if result.returncode:
            log_text = (self.workdir / "install-db.log").read_text(errors="replace")
            raise ServerFailed(f"mariadb-install-db failed:\n{log_text[-4000:]}")

    def command(self) -> list[str]:
        return [
            self.mariadbd, "--no-defaults", f"--datadir={self.datadir}",
            f"--socket={self.workdir / 'mysqld.sock'}", f"--pid-file={self.workdir / 'mysqld.pid'}",
            f"--tmpdir={self.workdir}", f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--init-file={self.workdir / 'init.sql'}", *self.user_option, *self.settings,
        ]  # fmt: skip

    def is_ready(self) -> bool:
        # A server that takes clients greets each new connection with a handshake packet of
        # protocol version 10, right after the 4-byte packet header; a refusal is an error
        # packet (0xff) instead.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(5)[4:5] == b"\x0a"
        except OSError:
            return False


class SecantusServer(LocalServer):
    """A MongoDB wire protocol server (SecantusDB), since no real mongod can be installed."""

    name = "MongoDB (SecantusDB)"
    # A clean shutdown takes two seconds; the data is thrown away, and WiredTiger's journal
    # recovers it anyway should a test start the server again.
    stop_signal = signal.SIGKILL

    def __init__(self) -> None:
        super().__init__()
        self.url = f"mongodb://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", str(self.workdir / "data"), "--cache-size", "128M",
            "--log-level", "WARNING",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        return _can_connect(self.port)


class ZooKeeperServer(LocalServer):
    name = "ZooKeeper"

    def __init__(self, java: str, classpath: str) -> None:
        super().__init__()
        self.java = java
        self.classpath = classpath
        self.url = f"127.0.0.1:{self.port}"
        # The admin web server would otherwise take port 8080.
        (self.workdir / "zoo.cfg").write_text(
            f"tickTime=2000\ndataDir={self.workdir / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok\n"
        )

    def command(self) -> list[str]:
        return [
            self.java, "-Xmx256m", "-cp", self.classpath, "-Dzookeeper.root.logger=WARN,CONSOLE",
            "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.workdir / "zoo.cfg"),
        ]  # fmt: skip

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"ruok")
                return sock.recv(4) == b"imok"
        except OSError:
            return False


class EtcdServer(LocalServer):
    name = "etcd"

    def __init__(self, executable: str) -> None:
        super().__init__()
        self.executable = executable
        self.peer_port = free_port()
        self.url = f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        client = f"http://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            self.executable, "--name", "test", "--data-dir", str(self.workdir / "data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"test={peer}", "--log-level", "warn",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                return b'"true"' in r.read()
        except OSError:
            return False


def postgres_bindir() -> str | None:
    """The folder of the installed PostgreSQL's programs: Debian keeps them off the PATH."""
    # one folder per major version there; elsewhere they are usually on the PATH
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if initdb := shutil.which("initdb"):
        bindirs.insert(0, os.path.dirname(initdb))
    return bindirs[-1] if bindirs else None
