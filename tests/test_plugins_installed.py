"""Triggers, executors and job stores from another installed distribution work by alias."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import threading
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path

import pytest

from tests.services import unavailable

PLUGIN_DIST = Path(__file__).parent / "plugin_dist"
PLUGIN_NAME = "aps-thirdparty-plugin"


def _wanted_version() -> str:
    text = (PLUGIN_DIST / "pyproject.toml").read_text()
    return re.search(r'^version = "(.+)"$', text, re.MULTILINE).group(1)


@pytest.fixture(scope="session")
def thirdparty_plugin(tmp_path_factory: pytest.TempPathFactory) -> None:
    """
    Install the plugin distribution into the running environment, the way a user would.

    It stays installed afterwards, so later runs skip the install; its version is bumped
    whenever its code changes.
    """
    try:
        if version(PLUGIN_NAME) == _wanted_version():
            return
    except PackageNotFoundError:
        pass

    if importlib.util.find_spec("setuptools") is None:
        unavailable("building the plugin distribution needs setuptools in the environment")

    # Build from a copy, so the build leaves nothing behind in the source tree.
    source = tmp_path_factory.mktemp("plugin") / "plugin_dist"
    shutil.copytree(PLUGIN_DIST, source)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        pytest.fail(f"installing the plugin distribution failed:\n{result.stderr}")

    # The import system and importlib.metadata cache directory listings of site-packages.
    importlib.invalidate_caches()


@pytest.fixture
def scheduler(thirdparty_plugin):
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=True)


def dummy_job() -> None:
    pass


@pytest.mark.parametrize(
    "group, alias",
    [
        ("apscheduler.triggers", "every_other_second"),
        ("apscheduler.executors", "thirdparty_inline"),
        ("apscheduler.jobstores", "thirdparty_memory"),
    ],
    ids=["trigger", "executor", "jobstore"],
)
def test_installed_plugin_is_visible_in_entry_points(thirdparty_plugin, group, alias):
    assert alias in entry_points(group=group).names


def test_trigger_alias_from_another_distribution_builds_that_trigger(scheduler):
    from aps_thirdparty_plugin.triggers import EveryOtherSecondTrigger

    job = scheduler.add_job(dummy_job, "every_other_second")

    assert isinstance(job.trigger, EveryOtherSecondTrigger)
    assert str(job.trigger) == "every other second"


def test_trigger_alias_gets_the_scheduler_time_zone(scheduler):
    job = scheduler.add_job(dummy_job, "every_other_second")

    assert job.trigger.timezone == scheduler.timezone


def test_executor_alias_from_another_distribution_runs_jobs(scheduler):
    from aps_thirdparty_plugin.executors import InlineExecutor

    ran_in = []
    done = threading.Event()

    def record_thread() -> None:
        ran_in.append(threading.current_thread().name)
        done.set()

    scheduler.add_executor("thirdparty_inline", alias="inline")
    scheduler.start()
    scheduler.add_job(record_thread, executor="inline")

    assert done.wait(10), "the job never ran"
    assert isinstance(scheduler._executors["inline"], InlineExecutor)
    # The inline executor runs jobs in the scheduler's own thread.
    assert ran_in == ["APScheduler"]


def test_jobstore_alias_from_another_distribution_keeps_jobs(scheduler):
    from aps_thirdparty_plugin.jobstores import ThirdPartyMemoryJobStore

    scheduler.add_jobstore("thirdparty_memory", alias="thirdparty")
    scheduler.start(paused=True)
    job = scheduler.add_job(dummy_job, "interval", minutes=5, id="kept", jobstore="thirdparty")

    assert isinstance(scheduler._jobstores["thirdparty"], ThirdPartyMemoryJobStore)
    assert [j.id for j in scheduler.get_jobs(jobstore="thirdparty")] == [job.id]


def test_alias_registered_for_a_class_of_the_wrong_kind_raises_type_error(scheduler):
    """APScheduler 3's message; the alias and what it loads are in a note."""
    with pytest.raises(TypeError, match="^The trigger entry point") as caught:
        scheduler.add_job(dummy_job, "not_a_trigger")

    assert str(caught.value) == "The trigger entry point does not point to a trigger class"
    [note] = caught.value.__notes__
    assert note.startswith("the trigger alias 'not_a_trigger' (aps_thirdparty_plugin.")
    assert note.endswith("which is not a subclass of BaseTrigger")
