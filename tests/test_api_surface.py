"""Every public module and name that APScheduler 3 code imports exists here too."""

from __future__ import annotations

import importlib
import inspect
import pickle
from importlib.metadata import entry_points

import pytest

import apscheduler
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import BaseJobStore
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import undefined

PUBLIC_NAMES = {
    "apscheduler.events": [
        "EVENT_SCHEDULER_STARTED",
        "EVENT_SCHEDULER_START",
        "EVENT_SCHEDULER_SHUTDOWN",
        "EVENT_SCHEDULER_PAUSED",
        "EVENT_SCHEDULER_RESUMED",
        "EVENT_EXECUTOR_ADDED",
        "EVENT_EXECUTOR_REMOVED",
        "EVENT_JOBSTORE_ADDED",
        "EVENT_JOBSTORE_REMOVED",
        "EVENT_ALL_JOBS_REMOVED",
        "EVENT_JOB_ADDED",
        "EVENT_JOB_REMOVED",
        "EVENT_JOB_MODIFIED",
        "EVENT_JOB_EXECUTED",
        "EVENT_JOB_ERROR",
        "EVENT_JOB_MISSED",
        "EVENT_JOB_SUBMITTED",
        "EVENT_JOB_MAX_INSTANCES",
        "EVENT_ALL",
        "SchedulerEvent",
        "JobEvent",
        "JobSubmissionEvent",
        "JobExecutionEvent",
    ],
    "apscheduler.job": ["Job"],
    "apscheduler.util": [
        "asint",
        "asbool",
        "astimezone",
        "asdate",
        "convert_to_datetime",
        "datetime_to_utc_timestamp",
        "utc_timestamp_to_datetime",
        "timedelta_seconds",
        "datetime_ceil",
        "datetime_utc_add",
        "datetime_repr",
        "timezone_repr",
        "get_callable_name",
        "obj_to_ref",
        "ref_to_obj",
        "maybe_ref",
        "check_callable_args",
        "iscoroutinefunction_partial",
        "normalize",
        "localize",
        "undefined",
        "UTC",
    ],
    "apscheduler.schedulers": ["SchedulerAlreadyRunningError", "SchedulerNotRunningError"],
    "apscheduler.schedulers.base": [
        "BaseScheduler",
        "STATE_STOPPED",
        "STATE_RUNNING",
        "STATE_PAUSED",
    ],
    "apscheduler.schedulers.blocking": ["BlockingScheduler"],
    "apscheduler.schedulers.background": ["BackgroundScheduler"],
    "apscheduler.executors.base": [
        "BaseExecutor",
        "MaxInstancesReachedError",
        "run_job",
        "run_coroutine_job",
    ],
    "apscheduler.executors.pool": [
        "BasePoolExecutor",
        "ThreadPoolExecutor",
        "ProcessPoolExecutor",
    ],
    "apscheduler.executors.debug": ["DebugExecutor"],
    "apscheduler.jobstores.base": [
        "BaseJobStore",
        "JobLookupError",
        "ConflictingIdError",
        "TransientJobError",
    ],
    "apscheduler.jobstores.memory": ["MemoryJobStore"],
    "apscheduler.triggers.base": ["BaseTrigger"],
    "apscheduler.triggers.date": ["DateTrigger"],
    "apscheduler.triggers.interval": ["IntervalTrigger"],
    "apscheduler.triggers.cron": ["CronTrigger"],
    "apscheduler.triggers.cron.fields": [
        "BaseField",
        "WeekField",
        "DayOfMonthField",
        "DayOfWeekField",
        "MonthField",
        "MIN_VALUES",
        "MAX_VALUES",
        "DEFAULT_VALUES",
    ],
    "apscheduler.triggers.cron.expressions": [
        "AllExpression",
        "RangeExpression",
        "MonthRangeExpression",
        "WeekdayRangeExpression",
        "WeekdayPositionExpression",
        "LastDayOfMonthExpression",
        "WEEKDAYS",
        "MONTHS",
    ],
    "apscheduler.triggers.combining": ["BaseCombiningTrigger", "AndTrigger", "OrTrigger"],
    "apscheduler.triggers.calendarinterval": ["CalendarIntervalTrigger"],
}


@pytest.mark.parametrize("module_name, names", list(PUBLIC_NAMES.items()), ids=list(PUBLIC_NAMES))
def test_module_exposes_its_public_names(module_name, names):
    module = importlib.import_module(module_name)

    missing = [name for name in names if not hasattr(module, name)]
    assert missing == []


def test_version_attributes_come_from_the_distribution_metadata():
    assert apscheduler.release.startswith("3.")
    assert apscheduler.version == ".".join(str(part) for part in apscheduler.version_info[:3])
    assert apscheduler.__version__ == apscheduler.version
    assert (3, 12) <= apscheduler.version_info[:2] < (4,)


def test_event_codes_are_the_3x_bit_flags():
    from apscheduler import events

    codes = [getattr(events, name) for name in PUBLIC_NAMES["apscheduler.events"][2:18]]
    assert events.EVENT_SCHEDULER_START == events.EVENT_SCHEDULER_STARTED == 1
    assert codes == [2**bit for bit in range(1, 17)]
    assert events.EVENT_ALL == 2**17 - 1


@pytest.mark.parametrize(
    "group, base_class, aliases",
    [
        (
            "apscheduler.triggers",
            BaseTrigger,
            ["date", "interval", "cron", "calendarinterval", "and", "or"],
        ),
        ("apscheduler.executors", BaseExecutor, ["debug", "threadpool", "processpool"]),
        ("apscheduler.jobstores", BaseJobStore, ["memory"]),
    ],
    ids=["triggers", "executors", "jobstores"],
)
def test_entry_point_aliases_load_the_right_kind_of_class(group, base_class, aliases):
    registered = {ep.name: ep for ep in entry_points(group=group)}

    for alias in aliases:
        plugin = registered[alias].load()
        assert inspect.isclass(plugin) and issubclass(plugin, base_class), alias


def test_undefined_is_a_falsy_singleton_that_survives_pickling():
    assert not undefined
    assert repr(undefined) == "<undefined>"
    assert pickle.loads(pickle.dumps(undefined)) is undefined
