"""
The package installed the way APScheduler 3 users install it: ``pip install apscheduler
sqlalchemy redis``, no extras.

Every other test runs in the development environment, which holds every extra, so a store
that needs more than its driver passes there and breaks for users (tenacity, once: "No module
named 'tenacity'"). Here the wheel built from this tree goes into a fresh virtual environment
with only SQLAlchemy and redis beside it (pip resolves the base dependencies), and a program
written for 3.x runs there, outside the source tree, against a real SQLite file and the real
Redis server of the test session.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import uuid4

import pytest

from tests.services import require_module, unavailable

pytestmark = pytest.mark.external_service

REPO = Path(__file__).resolve().parent.parent
#: what the wheel is built from: the package and the files setup.cfg reads
BUILD_INPUTS = ("apscheduler", "setup.cfg", "setup.py", "pyproject.toml", "README.rst", "LICENSE")
APP = Path(__file__).with_name("user_install_app.py")
#: seconds a pip command may take (it may download from the package index)
PIP_TIMEOUT = 600
#: seconds the program may take (it waits at most 30 s for the scheduler itself)
APP_TIMEOUT = 120

#: modules that import with nothing but the base dependencies, SQLAlchemy and redis
IMPORTABLE = [
    "apscheduler",
    "apscheduler.events",
    "apscheduler.job",
    "apscheduler.util",
    "apscheduler.schedulers",
    "apscheduler.schedulers.base",
    "apscheduler.schedulers.blocking",
    "apscheduler.schedulers.background",
    "apscheduler.schedulers.asyncio",
    "apscheduler.executors.base",
    "apscheduler.executors.pool",
    "apscheduler.executors.debug",
    "apscheduler.executors.asyncio",
    "apscheduler.jobstores.base",
    "apscheduler.jobstores.memory",
    "apscheduler.jobstores.sqlalchemy",
    "apscheduler.jobstores.redis",
    "apscheduler.triggers.base",
    "apscheduler.triggers.date",
    "apscheduler.triggers.interval",
    "apscheduler.triggers.cron",
    "apscheduler.triggers.cron.fields",
    "apscheduler.triggers.cron.expressions",
    "apscheduler.triggers.combining",
    "apscheduler.triggers.calendarinterval",
]
#: the store modules whose driver is not installed, and APScheduler 3.11's ImportError text
NEEDS_DRIVER = {
    "apscheduler.jobstores.mongodb": "MongoDBJobStore requires PyMongo installed",
    "apscheduler.jobstores.zookeeper": "ZooKeeperJobStore requires Kazoo installed",
    "apscheduler.jobstores.etcd": "EtcdJobStore requires etcd3 be installed",
    "apscheduler.jobstores.rethinkdb": "RethinkDBJobStore requires rethinkdb installed",
}


def _environment() -> dict[str, str]:
    """The session's environment without what points Python at the development environment."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PYTHON") and name != "VIRTUAL_ENV"
    }


def _pip_version() -> tuple[int, ...]:
    return tuple(int(part) for part in version("pip").split(".")[:2])


def _run(command: list[str | Path], what: str, cwd: Path, timeout: float) -> str:
    """Run ``command`` and return its output; fail the test with all of it if it fails."""
    try:
        result = subprocess.run(
            command, cwd=cwd, env=_environment(), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} took more than {timeout} s:\n{exc.stdout}\n{exc.stderr}")

    if result.returncode:
        pytest.fail(
            f"{what} failed with exit code {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )

    return result.stdout


class UserEnvironment:
    """A virtual environment holding the installed wheel, and a folder outside the repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.workdir = root / "app"

    def app(self, *args: str) -> dict[str, Any]:
        """Run the 3.x program in ``workdir`` and return the JSON it printed."""
        # -I: no PYTHONPATH, no user site-packages and not the script's folder's parent either
        output = _run(
            [self.python, "-I", "user_install_app.py", *args], f"the program ({args[0]})",
            self.workdir, APP_TIMEOUT,
        )  # fmt: skip
        return json.loads(output)


@pytest.fixture(scope="session")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> UserEnvironment:
    """Build the wheel, and install it with SQLAlchemy and redis into a new environment."""
    if importlib.util.find_spec("setuptools") is None:
        unavailable("building the wheel needs setuptools in the environment")

    env = UserEnvironment(tmp_path_factory.mktemp("user-install"))
    # Build from a copy, so the build leaves nothing behind in the source tree.
    source = env.root / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, source / name)

    wheels = env.root / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", wheels, source],
        "building the wheel", env.root, PIP_TIMEOUT,
    )  # fmt: skip
    (wheel,) = wheels.glob("*.whl")

    # A pip that can install into another environment (22.3+) does, and the new environment
    # needs no pip of its own: ensurepip takes longer than everything else here.
    own_pip = _pip_version() >= (22, 3)
    venv.EnvBuilder(with_pip=not own_pip).create(env.venv)
    pip = (
        [sys.executable, "-m", "pip", "--python", env.python]
        if own_pip
        else [env.python, "-I", "-m", "pip"]
    )
    _run(
        [*pip, "install", "--quiet", "--disable-pip-version-check", wheel, "sqlalchemy",
         "redis"],
        "pip install APScheduler sqlalchemy redis", env.root, PIP_TIMEOUT,
    )  # fmt: skip

    env.workdir.mkdir()
    shutil.copy2(APP, env.workdir / APP.name)
    return env


@pytest.fixture(scope="session")
def imports(user_env: UserEnvironment) -> dict[str, Any]:
    return user_env.app("imports", *IMPORTABLE, *NEEDS_DRIVER)


def test_pip_brings_in_the_base_dependencies_and_nothing_from_the_source_tree(user_env, imports):
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    installed = imports["installed"]

    assert installed["APScheduler"] == config["metadata"]["version"]
    assert installed["tenacity"] is not None, "pip did not install tenacity"
    assert installed["tzlocal"] is not None, "pip did not install tzlocal"
    assert installed["SQLAlchemy"] is not None
    assert installed["redis"] is not None
    assert imports["importable_drivers"] == []
    # the program imported the installed package, not the one in the repository
    assert Path(imports["apscheduler_file"]).resolve().is_relative_to(user_env.venv.resolve())


@pytest.mark.parametrize("module", IMPORTABLE)
def test_module_imports_with_only_sqlalchemy_and_redis_installed(imports, module):
    assert imports["errors"][module] is None


@pytest.mark.parametrize("module, message", NEEDS_DRIVER.items(), ids=list(NEEDS_DRIVER))
def test_store_without_its_driver_raises_the_3x_import_error(imports, module, message):
    assert imports["errors"][module] == message


@pytest.fixture
def redis_options(redis_url: str) -> Iterator[dict[str, Any]]:
    """RedisJobStore options for the session's server, on keys of this test alone."""
    require_module("redis")
    import redis

    url = urlsplit(redis_url)
    prefix = f"apscheduler-user-install-{uuid4().hex[:12]}"
    options: dict[str, Any] = {
        "host": url.hostname,
        "port": url.port or 6379,
        "db": int(url.path.lstrip("/") or 0),
        "jobs_key": f"{prefix}.jobs",
        "run_times_key": f"{prefix}.run_times",
    }
    if url.username:
        options["username"] = unquote(url.username)
    if url.password:
        options["password"] = unquote(url.password)

    yield options

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_a_3x_program_runs_jobs_from_sqlite_and_redis_and_keeps_them(user_env, redis_options):
    sqlite_url = f"sqlite:///{user_env.root / 'jobs.sqlite'}"
    options = json.dumps(redis_options)

    first = user_env.app("run", sqlite_url, options)
    after_restart = user_env.app("check", sqlite_url, options)

    next_run = (datetime.fromisoformat(first["start"]) + timedelta(hours=1)).isoformat()
    expected = {
        store: [
            {
                "id": f"{store}-ping",
                "name": "ping",
                "args": [store],
                "trigger": "interval[1:00:00]",
                "next_run_time": next_run,
            }
        ]
        for store in ("sql", "redis")
    }
    assert first["ran"] == {"sql": True, "redis": True}
    assert first["executed"] == ["redis-ping", "sql-ping"]
    assert first["listed"] == expected
    assert after_restart["listed"] == expected
