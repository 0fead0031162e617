"""Configuring a scheduler: ini-style flat keys, yaml-style nested dicts, plugins by alias."""

from __future__ import annotations

import logging
import pickle
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers import SchedulerAlreadyRunningError
from tests.schedulers.conftest import SteppedScheduler


def test_flat_prefixed_keys_become_nested_options():
    scheduler = SteppedScheduler(
        {
            "apscheduler.timezone": "Europe/Helsinki",
            "apscheduler.job_defaults.coalesce": "false",
            "apscheduler.job_defaults.max_instances": "3",
            "apscheduler.job_defaults.misfire_grace_time": "30",
            "apscheduler.executors.default.class": "apscheduler.executors.debug:DebugExecutor",
            "apscheduler.jobstores.other.type": "memory",
            "unrelated.key": "ignored",
        }
    )

    assert scheduler.timezone == ZoneInfo("Europe/Helsinki")
    assert scheduler._job_defaults == {
        "misfire_grace_time": 30,
        "coalesce": False,
        "max_instances": 3,
    }
    assert isinstance(scheduler._executors["default"], DebugExecutor)
    assert isinstance(scheduler._jobstores["other"], MemoryJobStore)


def test_nested_dicts_and_keyword_options_mean_the_same():
    """Keyword options win over the same keys in the global configuration."""
    scheduler = SteppedScheduler(
        {"apscheduler.timezone": "Europe/Helsinki", "apscheduler.jobstore_retry_interval": "5"},
        timezone="UTC",
        job_defaults={"coalesce": False},
        executors={"default": {"type": "threadpool", "max_workers": 3}},
    )

    assert scheduler.timezone is dt_timezone.utc
    assert scheduler.jobstore_retry_interval == 5.0
    assert scheduler._job_defaults["coalesce"] is False
    assert scheduler._job_defaults["misfire_grace_time"] == 1
    assert isinstance(scheduler._executors["default"], ThreadPoolExecutor)


def test_an_empty_prefix_keeps_every_key():
    scheduler = SteppedScheduler()
    scheduler.configure({"timezone": "UTC", "job_defaults.max_instances": 2}, prefix="")

    assert scheduler.timezone is dt_timezone.utc
    assert scheduler._job_defaults["max_instances"] == 2


def test_defaults_follow_apscheduler_3():
    scheduler = SteppedScheduler(timezone="UTC")

    assert scheduler._job_defaults == {
        "misfire_grace_time": 1,
        "coalesce": True,
        "max_instances": 1,
    }
    assert scheduler.jobstore_retry_interval == 10.0
    assert scheduler._logger.name == "apscheduler.scheduler"


def test_logger_can_be_given_by_name():
    scheduler = SteppedScheduler(timezone="UTC", logger="myapp.scheduling")

    assert scheduler._logger is logging.getLogger("myapp.scheduling")


def test_executor_entry_without_type_or_class_is_refused():
    with pytest.raises(ValueError, match='either "type" or "class" must be defined'):
        SteppedScheduler(timezone="UTC", executors={"default": {"max_workers": 2}})


def test_jobstore_entry_of_the_wrong_type_names_it():
    with pytest.raises(TypeError) as caught:
        SteppedScheduler(timezone="UTC", jobstores={"default": 5})

    assert str(caught.value) == (
        "Expected job store instance or dict for jobstores['default'], got int instead"
    )


def test_class_entry_of_the_wrong_kind_is_refused():
    """APScheduler 3's message for an object that is not an executor; the entry is in a note."""
    with pytest.raises(TypeError) as caught:
        SteppedScheduler(
            timezone="UTC",
            executors={"default": {"class": "apscheduler.jobstores.memory:MemoryJobStore"}},
        )

    assert (
        str(caught.value)
        == "Expected an executor instance or a string, got MemoryJobStore instead"
    )
    assert caught.value.__notes__ == [
        (
            "made by the class given for executors['default'] "
            "('apscheduler.jobstores.memory:MemoryJobStore'), which is not a subclass of "
            "BaseExecutor"
        )
    ]


def make_debug_executor(**options):
    return DebugExecutor(**options)


def test_class_entry_may_be_a_factory():
    """As in APScheduler 3, "class" may name any callable that returns an executor."""
    scheduler = SteppedScheduler(
        timezone="UTC",
        executors={
            "default": {"class": "tests.schedulers.test_configuration:make_debug_executor"}
        },
    )

    assert isinstance(scheduler._executors["default"], DebugExecutor)


def test_bad_boolean_in_job_defaults_names_the_value():
    with pytest.raises(ValueError, match="^Unable to interpret") as caught:
        SteppedScheduler(timezone="UTC", job_defaults={"coalesce": "maybe"})

    assert str(caught.value) == 'Unable to interpret value "maybe" as boolean'
    assert caught.value.__notes__ == ["in job_defaults['coalesce']: 'maybe'"]


def test_unknown_plugin_alias_names_it_and_lists_the_installed_ones():
    with pytest.raises(LookupError) as caught:
        SteppedScheduler(timezone="UTC", executors={"default": {"type": "nonexistent"}})

    assert str(caught.value) == 'No executor by the name "nonexistent" was found'
    [note] = caught.value.__notes__
    assert note.startswith("known executor aliases: ")
    assert "threadpool" in note and "debug" in note


def test_configure_is_refused_while_running(scheduler):
    scheduler.start()

    with pytest.raises(SchedulerAlreadyRunningError, match="Scheduler is already running"):
        scheduler.configure(timezone="UTC")


def test_schedulers_cannot_be_pickled(scheduler):
    with pytest.raises(TypeError, match="Schedulers cannot be serialized"):
        pickle.dumps(scheduler)


def test_invalid_timezone_name_is_reported():
    with pytest.raises(Exception, match="No/Where"):
        SteppedScheduler(timezone="No/Where")
