"""
The module-level names of APScheduler 3.11 exist in the same modules here.

Programs import helpers from wherever 3.x had them (``from apscheduler.job import
obj_to_ref``), and test suites patch them there (``mock.patch("apscheduler.job.uuid4")``).

How ``NAMES_3X`` was made: for every module in the module map of the compatibility spec,
``sorted(vars(module))`` under APScheduler 3.11.3, without dunder and private names, and
without the standard library's plumbing that no program reaches for through an APScheduler
module: stdlib modules (``sys``, ``re``, ``pickle``, ``logging``...), ``abc``,
``collections.abc``, ``functools``, ``typing``, ``inspect``, ``calendar``, ``math``,
``contextlib``, ``itertools``, ``importlib`` and ``threading`` helpers, and the loop variables
of 3.x's Qt module (``pkgname``, ``version``, ``qtcore``). Kept are APScheduler's own names,
the ``datetime``/``zoneinfo``/``tzlocal`` names, the names imported from the third-party
libraries, and the standard names that test suites patch: ``uuid4``, ``random`` and
``TIMEOUT_MAX``. Names that 3.11 lacks and we have are not checked.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from tests.services import require_module

#: module -> the names it had in APScheduler 3.11 that programs reach for (see the docstring)
NAMES_3X: dict[str, list[str]] = {
    "apscheduler": "release version version_info".split(),
    "apscheduler.events": """
        EVENT_ALL EVENT_ALL_JOBS_REMOVED EVENT_EXECUTOR_ADDED EVENT_EXECUTOR_REMOVED
        EVENT_JOBSTORE_ADDED EVENT_JOBSTORE_REMOVED EVENT_JOB_ADDED EVENT_JOB_ERROR
        EVENT_JOB_EXECUTED EVENT_JOB_MAX_INSTANCES EVENT_JOB_MISSED EVENT_JOB_MODIFIED
        EVENT_JOB_REMOVED EVENT_JOB_SUBMITTED EVENT_SCHEDULER_PAUSED EVENT_SCHEDULER_RESUMED
        EVENT_SCHEDULER_SHUTDOWN EVENT_SCHEDULER_START EVENT_SCHEDULER_STARTED JobEvent
        JobExecutionEvent JobSubmissionEvent SchedulerEvent
    """.split(),
    "apscheduler.job": """
        BaseTrigger Job UTC check_callable_args convert_to_datetime datetime_repr get_callable_name
        obj_to_ref ref_to_obj timezone uuid4
    """.split(),
    "apscheduler.util": """
        UTC ZoneInfo asbool asdate asint astimezone check_callable_args convert_to_datetime date
        datetime datetime_ceil datetime_repr datetime_to_utc_timestamp datetime_utc_add
        get_callable_name iscoroutinefunction_partial localize maybe_ref normalize obj_to_ref
        ref_to_obj time timedelta timedelta_seconds timezone timezone_repr tzinfo undefined
        utc_timestamp_to_datetime
    """.split(),
    "apscheduler.schedulers": "SchedulerAlreadyRunningError SchedulerNotRunningError".split(),
    "apscheduler.schedulers.base": """
        BaseExecutor BaseJobStore BaseScheduler BaseTrigger ConflictingIdError EVENT_ALL
        EVENT_ALL_JOBS_REMOVED EVENT_EXECUTOR_ADDED EVENT_EXECUTOR_REMOVED EVENT_JOBSTORE_ADDED
        EVENT_JOBSTORE_REMOVED EVENT_JOB_ADDED EVENT_JOB_MAX_INSTANCES EVENT_JOB_MODIFIED
        EVENT_JOB_REMOVED EVENT_JOB_SUBMITTED EVENT_SCHEDULER_PAUSED EVENT_SCHEDULER_RESUMED
        EVENT_SCHEDULER_SHUTDOWN EVENT_SCHEDULER_STARTED Job JobEvent JobLookupError
        JobSubmissionEvent MaxInstancesReachedError MemoryJobStore STATE_PAUSED STATE_RUNNING
        STATE_STOPPED SchedulerAlreadyRunningError SchedulerEvent SchedulerNotRunningError
        TIMEOUT_MAX ThreadPoolExecutor asbool asint astimezone datetime get_localzone maybe_ref
        obj_to_ref ref_to_obj timedelta undefined
    """.split(),
    "apscheduler.schedulers.blocking": """
        BaseScheduler BlockingScheduler STATE_STOPPED TIMEOUT_MAX
    """.split(),
    "apscheduler.schedulers.background": """
        BackgroundScheduler BaseScheduler BlockingScheduler asbool
    """.split(),
    "apscheduler.schedulers.asyncio": """
        AsyncIOScheduler BaseScheduler SchedulerNotRunningError maybe_ref run_in_event_loop
    """.split(),
    "apscheduler.schedulers.gevent": """
        BaseScheduler BlockingScheduler Event GeventScheduler RLock
    """.split(),
    "apscheduler.schedulers.tornado": """
        BaseScheduler IOLoop SchedulerNotRunningError TornadoScheduler maybe_ref run_in_ioloop
        timedelta
    """.split(),
    "apscheduler.schedulers.twisted": """
        BaseScheduler SchedulerNotRunningError TwistedScheduler default_reactor maybe_ref
        run_in_reactor
    """.split(),
    "apscheduler.schedulers.qt": "BaseScheduler QTimer QtScheduler".split(),
    "apscheduler.executors.base": """
        BaseExecutor EVENT_JOB_ERROR EVENT_JOB_EXECUTED EVENT_JOB_MISSED JobExecutionEvent
        MaxInstancesReachedError datetime run_coroutine_job run_job timedelta timezone
    """.split(),
    "apscheduler.executors.pool": """
        BaseExecutor BasePoolExecutor ProcessPoolExecutor ThreadPoolExecutor run_job
    """.split(),
    "apscheduler.executors.debug": "BaseExecutor DebugExecutor run_job".split(),
    "apscheduler.executors.asyncio": """
        AsyncIOExecutor BaseExecutor iscoroutinefunction_partial run_coroutine_job run_job
    """.split(),
    "apscheduler.executors.gevent": "BaseExecutor GeventExecutor run_job".split(),
    "apscheduler.executors.tornado": """
        BaseExecutor TornadoExecutor convert_yielded iscoroutinefunction_partial run_coroutine_job
        run_job
    """.split(),
    "apscheduler.executors.twisted": "BaseExecutor TwistedExecutor run_job".split(),
    "apscheduler.jobstores.base": """
        BaseJobStore ConflictingIdError JobLookupError TransientJobError
    """.split(),
    "apscheduler.jobstores.memory": """
        BaseJobStore ConflictingIdError JobLookupError MemoryJobStore datetime_to_utc_timestamp
    """.split(),
    "apscheduler.jobstores.sqlalchemy": """
        BaseJobStore Column ConflictingIdError Float IntegrityError Job JobLookupError LargeBinary
        MetaData SQLAlchemyJobStore Table Unicode and_ create_engine datetime_to_utc_timestamp
        maybe_ref null select utc_timestamp_to_datetime
    """.split(),
    "apscheduler.jobstores.mongodb": """
        ASCENDING BaseJobStore Binary ConflictingIdError DuplicateKeyError Job JobLookupError
        MongoClient MongoDBJobStore datetime_to_utc_timestamp maybe_ref utc_timestamp_to_datetime
    """.split(),
    "apscheduler.jobstores.redis": """
        BaseJobStore ConflictingIdError Job JobLookupError Redis RedisJobStore datetime
        datetime_to_utc_timestamp timezone utc_timestamp_to_datetime
    """.split(),
    "apscheduler.jobstores.rethinkdb": """
        BaseJobStore ConflictingIdError Job JobLookupError RethinkDB RethinkDBJobStore
        datetime_to_utc_timestamp maybe_ref utc_timestamp_to_datetime
    """.split(),
    "apscheduler.jobstores.zookeeper": """
        BaseJobStore ConflictingIdError Job JobLookupError KazooClient NoNodeError NodeExistsError
        ZooKeeperJobStore datetime datetime_to_utc_timestamp maybe_ref timezone
        utc_timestamp_to_datetime
    """.split(),
    "apscheduler.jobstores.etcd": """
        BaseJobStore ConflictingIdError Etcd3Client EtcdJobStore Job JobLookupError datetime
        datetime_to_utc_timestamp maybe_ref timezone utc_timestamp_to_datetime
    """.split(),
    "apscheduler.triggers.base": "BaseTrigger random timedelta".split(),
    "apscheduler.triggers.date": """
        BaseTrigger DateTrigger astimezone convert_to_datetime datetime datetime_repr get_localzone
    """.split(),
    "apscheduler.triggers.interval": """
        BaseTrigger IntervalTrigger astimezone convert_to_datetime datetime datetime_repr
        get_localzone random timedelta
    """.split(),
    "apscheduler.triggers.cron": """
        BaseField BaseTrigger CronTrigger DEFAULT_VALUES DayOfMonthField DayOfWeekField MonthField
        UTC WeekField astimezone convert_to_datetime datetime datetime_ceil datetime_repr
        datetime_utc_add expressions fields get_localzone timedelta timezone
    """.split(),
    "apscheduler.triggers.cron.fields": """
        AllExpression BaseField DEFAULT_VALUES DayOfMonthField DayOfWeekField
        LastDayOfMonthExpression MAX_VALUES MIN_VALUES MonthField MonthRangeExpression
        RangeExpression WeekField WeekdayPositionExpression WeekdayRangeExpression
    """.split(),
    "apscheduler.triggers.cron.expressions": """
        AllExpression LastDayOfMonthExpression MONTHS MonthRangeExpression RangeExpression WEEKDAYS
        WeekdayPositionExpression WeekdayRangeExpression asint
    """.split(),
    "apscheduler.triggers.combining": """
        AndTrigger BaseCombiningTrigger BaseTrigger OrTrigger obj_to_ref ref_to_obj
    """.split(),
    "apscheduler.triggers.calendarinterval": """
        BaseTrigger CalendarIntervalTrigger asdate astimezone date datetime get_localzone time
        timedelta timezone_repr tzinfo
    """.split(),
}

#: the third-party library a module needs, to skip (or, in CI, fail) its test without it
NEEDS = {
    "apscheduler.schedulers.gevent": "gevent",
    "apscheduler.executors.gevent": "gevent",
    "apscheduler.schedulers.tornado": "tornado",
    "apscheduler.executors.tornado": "tornado",
    "apscheduler.schedulers.twisted": "twisted",
    "apscheduler.executors.twisted": "twisted",
    "apscheduler.schedulers.qt": "PySide6",
    "apscheduler.jobstores.sqlalchemy": "sqlalchemy",
    "apscheduler.jobstores.mongodb": "pymongo",
    "apscheduler.jobstores.redis": "redis",
    "apscheduler.jobstores.rethinkdb": "rethinkdb",
    "apscheduler.jobstores.zookeeper": "kazoo",
    "apscheduler.jobstores.etcd": "etcd3",
}


def _import(module_name: str):
    if module_name in NEEDS:
        require_module(NEEDS[module_name])

    return importlib.import_module(module_name)


@pytest.mark.parametrize("module_name", NAMES_3X)
def test_module_has_the_names_it_had_in_3x(module_name):
    module = _import(module_name)

    assert [name for name in NAMES_3X[module_name] if not hasattr(module, name)] == []


@pytest.mark.parametrize("module_name", NAMES_3X)
def test_apscheduler_names_are_the_objects_themselves(module_name):
    """A name imported from another APScheduler module is that module's object, not a copy."""
    module = _import(module_name)
    copies = []
    for name in NAMES_3X[module_name]:
        value = getattr(module, name)
        home = getattr(value, "__module__", None)
        if (
            (inspect.isclass(value) or inspect.isfunction(value))
            and home
            and home.startswith("apscheduler")
            and home != module_name
            and getattr(sys.modules[home], value.__name__, None) is not value
        ):
            copies.append(name)

    assert copies == []


def test_standard_and_third_party_names_are_the_real_ones():
    import random
    import threading

    import sqlalchemy

    import apscheduler.job
    import apscheduler.jobstores.sqlalchemy
    import apscheduler.schedulers.base
    import apscheduler.triggers.base
    import apscheduler.triggers.cron
    import apscheduler.triggers.interval

    assert apscheduler.job.uuid4 is uuid.uuid4
    assert apscheduler.job.timezone is timezone
    assert apscheduler.schedulers.base.timedelta is timedelta
    assert apscheduler.schedulers.base.TIMEOUT_MAX == threading.TIMEOUT_MAX
    assert apscheduler.triggers.base.random is random
    assert apscheduler.triggers.interval.random is random
    assert apscheduler.triggers.cron.timezone is timezone
    for name in ("Column", "Float", "LargeBinary", "Table", "Unicode", "and_", "null"):
        assert getattr(apscheduler.jobstores.sqlalchemy, name) is getattr(sqlalchemy, name)


def test_names_of_slow_modules_are_imported_on_first_use():
    """Importing a scheduler stays cheap: the default executor and store, random and the
    Twisted reactor are imported when a program first asks for them by their 3.x names."""
    code = """if True:
        import sys
        import apscheduler.schedulers.background, apscheduler.schedulers.twisted
        import apscheduler.triggers.interval
        slow = ["apscheduler.executors.pool", "apscheduler.jobstores.memory", "random",
                "twisted.internet.reactor"]
        print([name for name in slow if name in sys.modules])

        from apscheduler.schedulers.base import MemoryJobStore, ThreadPoolExecutor
        from apscheduler.executors.pool import ThreadPoolExecutor as pool_executor
        from apscheduler.jobstores.memory import MemoryJobStore as memory_store
        from apscheduler.triggers.base import random
        from apscheduler.schedulers.twisted import default_reactor
        import random as real_random, twisted.internet.reactor
        print(ThreadPoolExecutor is pool_executor, MemoryJobStore is memory_store,
              random is real_random, default_reactor is sys.modules["twisted.internet.reactor"])
    """
    require_module("twisted")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.splitlines() == ["[]", "True True True True"]


def test_patching_uuid4_in_the_job_module_sets_the_ids_of_new_jobs():
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    with mock.patch("apscheduler.job.uuid4", return_value=uuid.UUID(int=7)):
        patched = scheduler.add_job(print, "interval", seconds=5)
    unpatched = scheduler.add_job(print, "interval", seconds=5)

    assert patched.id == "00000000000000000000000000000007"
    assert unpatched.id != patched.id
    assert uuid.UUID(unpatched.id).version == 4


@pytest.mark.parametrize(
    "trigger",
    [
        pytest.param({"trigger": "interval", "seconds": 10}, id="interval"),
        pytest.param({"trigger": "cron", "second": "*/10"}, id="cron"),
    ],
)
@pytest.mark.parametrize(
    "target", ["apscheduler.triggers.base.random", "apscheduler.triggers.interval.random"]
)
def test_patching_random_uniform_through_a_trigger_module_pins_the_jitter(trigger, target):
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    start = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    options = dict(trigger)
    kind = options.pop("trigger")
    if kind == "interval":
        made = IntervalTrigger(**options, jitter=5, start_date=start, timezone="UTC")
    else:
        made = CronTrigger(**options, jitter=5, start_date=start, timezone="UTC")

    with mock.patch(f"{target}.uniform", return_value=2.5) as uniform:
        fire_time = made.get_next_fire_time(None, start)

    uniform.assert_called_once_with(0, 5)
    assert fire_time == start + timedelta(seconds=2.5)


def test_replacing_random_in_the_trigger_base_module_pins_the_jitter(monkeypatch):
    from apscheduler.triggers.cron import CronTrigger

    class LatestJitter:
        """Stands in for the random module: the jitter is always the largest possible."""

        @staticmethod
        def uniform(low: float, high: float) -> float:
            return high

    start = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    trigger = CronTrigger(second="*/10", jitter=3, start_date=start, timezone="UTC")
    monkeypatch.setattr("apscheduler.triggers.base.random", LatestJitter)

    assert trigger.get_next_fire_time(None, start) == start + timedelta(seconds=3)


def test_a_twisted_scheduler_without_a_reactor_takes_the_modules_default_reactor(monkeypatch):
    """Test suites patch ``default_reactor`` to keep schedulers off the global reactor."""
    require_module("twisted")
    from twisted.internet.task import Clock

    from apscheduler.schedulers.twisted import TwistedScheduler

    class ClockReactor(Clock):
        """A reactor whose time only moves when the test moves it; a call from another thread
        runs at once (this test has no other thread)."""

        def callFromThread(self, callback, *args, **kwargs):  # noqa: N802 (Twisted's name)
            callback(*args, **kwargs)

    reactor = ClockReactor()
    monkeypatch.setattr("apscheduler.schedulers.twisted.default_reactor", reactor)
    scheduler = TwistedScheduler(timezone="UTC")
    scheduler.add_job(print, "interval", hours=1)
    scheduler.start()
    try:
        # the scheduler set its wakeup, in an hour, on the patched reactor
        (wakeup,) = reactor.getDelayedCalls()
        assert 3590 < wakeup.getTime() <= 3600
    finally:
        scheduler.shutdown(wait=False)
