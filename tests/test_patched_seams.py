"""
The module-level names that test suites written for APScheduler 3 patch keep working.

One test (or a few) per name of the table "Module-level names that users' test suites patch":
each patches the name the way those suites do (``monkeypatch.setattr`` or
:func:`unittest.mock.patch`) and checks what a user would see change. Expected values were
checked against APScheduler 3.11.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone as dt_timezone
from unittest.mock import MagicMock, Mock, patch
from zoneinfo import ZoneInfo

import pytest

from apscheduler import util
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.base import run_job
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tests.conftest import FakeClock
from tests.schedulers.conftest import SteppedScheduler

UTC = dt_timezone.utc
FROZEN = datetime(2011, 4, 3, 16, 40, tzinfo=UTC)
WAIT_TIMEOUT = 10.0

# The names that 3.x test suites patch to freeze "now", module by module.
DATETIME_NAMES = (
    "apscheduler.schedulers.base.datetime",
    "apscheduler.executors.base.datetime",
    "apscheduler.triggers.date.datetime",
    "apscheduler.triggers.interval.datetime",
)


class FrozenDatetime(datetime):
    """The stand-in for :class:`datetime.datetime` that 3.x suites patch in: always FROZEN."""

    @classmethod
    def now(cls, tz=None):
        return FROZEN.astimezone(tz) if tz else FROZEN.replace(tzinfo=None)


@pytest.fixture
def make_scheduler():
    created = []

    def factory(**options):
        options.setdefault("executors", {"default": DebugExecutor()})
        scheduler = SteppedScheduler(**options)
        created.append(scheduler)
        return scheduler

    yield factory
    for scheduler in created:
        if scheduler.running:
            scheduler.shutdown()


@pytest.fixture
def frozen_datetime(monkeypatch):
    """All four ``datetime`` names patched to FrozenDatetime, as 3.x suites do."""
    for name in DATETIME_NAMES:
        monkeypatch.setattr(name, FrozenDatetime)


def executed(events):
    return [event for event in events if event.code == EVENT_JOB_EXECUTED]


def test_the_frozen_datetime_reproduction_gives_the_311_answer(frozen_datetime, make_scheduler):
    """Run date, the job that ran, and the wait: 3.11's answers with the four names patched."""
    assert DateTrigger(timezone="UTC").run_date == FROZEN

    scheduler = make_scheduler()
    scheduler.start()
    ran = []
    scheduler.add_job(ran.append, "date", run_date=FROZEN, args=["first"])
    scheduler.add_job(ran.append, "date", run_date=FROZEN + timedelta(seconds=5), args=["second"])

    assert scheduler._process_jobs() == 5.0
    assert ran == ["first"]


# --- apscheduler.schedulers.base.get_localzone ---------------------------------------------


def test_patched_get_localzone_is_the_default_zone_of_new_schedulers(monkeypatch):
    zone = ZoneInfo("Asia/Kathmandu")
    monkeypatch.setattr("apscheduler.schedulers.base.get_localzone", Mock(return_value=zone))

    assert BackgroundScheduler().timezone is zone
    # a configured zone still wins
    assert BackgroundScheduler(timezone="Europe/Berlin").timezone == ZoneInfo("Europe/Berlin")


def test_a_pytz_local_zone_is_kept_as_it_comes_but_a_configured_one_is_converted(monkeypatch):
    pytz = pytest.importorskip("pytz")
    local = pytz.timezone("America/New_York")
    monkeypatch.setattr("apscheduler.schedulers.base.get_localzone", Mock(return_value=local))

    assert BackgroundScheduler().timezone is local
    configured = BackgroundScheduler(timezone=pytz.timezone("Europe/Berlin")).timezone
    assert configured == ZoneInfo("Europe/Berlin")


def test_a_scheduler_in_a_pytz_zone_schedules_and_prints_its_jobs(monkeypatch, make_scheduler):
    """Triggers, next run times (given naive too) and print_jobs() work in a pytz zone."""
    pytz = pytest.importorskip("pytz")
    local = pytz.timezone("America/New_York")
    monkeypatch.setattr("apscheduler.schedulers.base.get_localzone", Mock(return_value=local))
    clock = FakeClock(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))
    scheduler = make_scheduler(clock=clock)
    scheduler.start()

    cron = scheduler.add_job(print, "cron", hour=3, id="cron")
    interval = scheduler.add_job(print, "interval", hours=1, id="interval")
    dated = scheduler.add_job(print, "date", run_date=datetime(2030, 1, 1, 9), id="dated")
    dated.modify(next_run_time=datetime(2031, 7, 1, 9))

    new_york = ZoneInfo("America/New_York")
    assert cron.trigger.timezone == new_york
    assert interval.trigger.timezone == new_york
    assert cron.next_run_time == datetime(2026, 1, 11, 3, 0, tzinfo=new_york)
    assert interval.next_run_time == datetime(2026, 1, 10, 8, 0, tzinfo=new_york)
    # a naive next run time is read in the scheduler's zone, with the summer offset
    assert scheduler.get_job("dated").next_run_time.utcoffset() == timedelta(hours=-4)
    assert scheduler.get_job("dated").next_run_time.hour == 9

    lines = []
    scheduler.print_jobs(out=Mock(write=lines.append))
    text = "".join(lines)
    assert "next run at: 2026-01-11 03:00:00 EST" in text
    assert "next run at: 2031-07-01 09:00:00 EDT" in text

    clock.advance(hours=1)
    assert scheduler._process_jobs() == 3600.0


# --- apscheduler.schedulers.base.datetime ----------------------------------------------------


def test_patched_scheduler_datetime_is_the_now_of_processing(monkeypatch, make_scheduler):
    """Only the scheduler's name is patched: which jobs are due and the wait follow it."""
    monkeypatch.setattr("apscheduler.schedulers.base.datetime", FrozenDatetime)
    scheduler = make_scheduler(timezone="UTC")
    scheduler.start()
    ran = []
    # no grace time: run_job compares with the real time, which this test leaves alone
    scheduler.add_job(ran.append, "date", run_date=FROZEN, args=[1], misfire_grace_time=None)
    scheduler.add_job(ran.append, "date", run_date=FROZEN + timedelta(minutes=1), args=[2])

    assert scheduler._process_jobs() == 60.0
    assert ran == [1]


def test_patched_scheduler_datetime_is_the_now_of_adding_a_job(monkeypatch, make_scheduler):
    monkeypatch.setattr("apscheduler.schedulers.base.datetime", FrozenDatetime)
    scheduler = make_scheduler(timezone="UTC")
    scheduler.start()

    job = scheduler.add_job(print, "cron", minute="*/15")

    assert job.next_run_time == datetime(2011, 4, 3, 16, 45, tzinfo=UTC)


def test_a_mock_in_place_of_the_scheduler_datetime_steps_time(make_scheduler):
    """``patch(...) as fake`` then setting ``fake.now.return_value`` before each pass."""
    scheduler = make_scheduler(timezone="UTC")
    ran = []
    with patch("apscheduler.schedulers.base.datetime") as fake_datetime:
        fake_datetime.now.return_value = FROZEN
        scheduler.start()
        scheduler.add_job(
            ran.append, "cron", second="*/10", args=["tick"], misfire_grace_time=None
        )
        assert scheduler._process_jobs() == 10.0

        fake_datetime.now.return_value = FROZEN + timedelta(seconds=10)
        assert scheduler._process_jobs() == 10.0

    # due at once (16:40:00 matches), then ten seconds later
    assert ran == ["tick", "tick"]


# --- apscheduler.schedulers.base.astimezone --------------------------------------------------


def test_patched_astimezone_converts_the_configured_zone(monkeypatch):
    tokyo = ZoneInfo("Asia/Tokyo")
    conversion = Mock(return_value=tokyo)
    monkeypatch.setattr("apscheduler.schedulers.base.astimezone", conversion)

    scheduler = BackgroundScheduler(timezone="Europe/Berlin")

    assert scheduler.timezone is tokyo
    conversion.assert_called_once_with("Europe/Berlin")


def test_patched_astimezone_is_asked_even_without_a_configured_zone(monkeypatch):
    """As in 3.11, a zone it returns for no zone at all is taken over the local zone."""
    monkeypatch.setattr("apscheduler.schedulers.base.astimezone", Mock(return_value=UTC))
    monkeypatch.setattr(
        "apscheduler.schedulers.base.get_localzone", Mock(return_value=ZoneInfo("Asia/Tokyo"))
    )

    assert BackgroundScheduler().timezone is UTC


# --- apscheduler.executors.base.datetime -----------------------------------------------------


def mock_job(func, misfire_grace_time=1):
    """A job as 3.x suites make one to call run_job() with."""
    return Mock(Job, id="j", func=func, args=(), kwargs={}, misfire_grace_time=misfire_grace_time)


def test_run_job_takes_a_mock_job_as_in_311():
    now = datetime.now(UTC)
    [event] = run_job(mock_job(lambda: 42), "default", [now], "apscheduler.executors.default")

    assert event.code == EVENT_JOB_EXECUTED
    assert event.retval == 42


def test_patched_executor_datetime_decides_what_is_missed(monkeypatch):
    monkeypatch.setattr("apscheduler.executors.base.datetime", FrozenDatetime)
    job = mock_job(lambda: "ran", misfire_grace_time=1)
    run_times = [FROZEN - timedelta(seconds=2), FROZEN - timedelta(milliseconds=500)]

    events = run_job(job, "default", run_times, "apscheduler.executors.default")

    assert [event.code for event in events] == [EVENT_JOB_MISSED, EVENT_JOB_EXECUTED]


def test_patched_executor_datetime_is_the_misfire_check_of_a_scheduler(
    monkeypatch, make_scheduler
):
    """A pass on a real scheduler: the run is judged by the patched time, not the real one."""
    monkeypatch.setattr("apscheduler.executors.base.datetime", FrozenDatetime)
    monkeypatch.setattr("apscheduler.schedulers.base.datetime", FrozenDatetime)
    scheduler = make_scheduler(timezone="UTC")
    events = []
    scheduler.add_listener(events.append)
    scheduler.start()
    scheduler.add_job(print, "date", run_date=FROZEN - timedelta(seconds=5), id="late")
    scheduler.add_job(print, "date", run_date=FROZEN, id="on_time", args=[""])

    scheduler._process_jobs()

    outcomes = {
        event.job_id: event.code
        for event in events
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_EXECUTED)
    }
    assert outcomes == {"late": EVENT_JOB_MISSED, "on_time": EVENT_JOB_EXECUTED}


def test_a_clock_option_wins_over_the_patched_names(frozen_datetime, make_scheduler):
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    scheduler = make_scheduler(timezone="UTC", clock=clock)
    scheduler.start()

    job = scheduler.add_job(print, "interval", seconds=30, args=[""])
    scheduler.add_job(print, "date", id="now", args=[""])

    assert job.trigger.start_date == datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    assert scheduler.get_job("now").next_run_time == clock.now(UTC)
    assert scheduler._process_jobs() == 30.0
    assert scheduler.get_job("now") is None


# --- apscheduler.triggers.interval.datetime, apscheduler.triggers.date.datetime -------------


def test_patched_interval_datetime_is_the_default_start_date(monkeypatch):
    monkeypatch.setattr("apscheduler.triggers.interval.datetime", FrozenDatetime)

    trigger = IntervalTrigger(minutes=5, timezone="UTC")

    assert trigger.start_date == FROZEN + timedelta(minutes=5)


def test_patched_date_datetime_is_the_default_run_date(monkeypatch):
    monkeypatch.setattr("apscheduler.triggers.date.datetime", FrozenDatetime)

    assert DateTrigger(timezone="Europe/Berlin").run_date == FROZEN


def test_triggers_the_scheduler_makes_take_the_patched_now(frozen_datetime, make_scheduler):
    scheduler = make_scheduler(timezone="UTC")
    scheduler.start()

    interval = scheduler.add_job(print, "interval", seconds=20)
    dated = scheduler.add_job(print, "date")

    assert interval.next_run_time == FROZEN + timedelta(seconds=20)
    assert dated.next_run_time == FROZEN


# --- get_localzone of the trigger modules and of apscheduler.util ---------------------------

TRIGGER_FACTORIES = {
    "apscheduler.triggers.cron": lambda: CronTrigger(hour=1),
    "apscheduler.triggers.interval": lambda: IntervalTrigger(hours=1),
    "apscheduler.triggers.date": lambda: DateTrigger(),
    "apscheduler.triggers.calendarinterval": lambda: CalendarIntervalTrigger(days=1),
}


def zone_of(trigger):
    return trigger.run_date.tzinfo if isinstance(trigger, DateTrigger) else trigger.timezone


@pytest.mark.parametrize("module", list(TRIGGER_FACTORIES))
def test_patched_get_localzone_of_a_trigger_module_pins_its_default_zone(monkeypatch, module):
    zone = ZoneInfo("Pacific/Chatham")
    monkeypatch.setattr(f"{module}.get_localzone", Mock(return_value=zone))

    assert zone_of(TRIGGER_FACTORIES[module]()) == zone
    others = [make() for name, make in TRIGGER_FACTORIES.items() if name != module]
    assert all(zone_of(trigger) != zone for trigger in others)


def test_a_pytz_local_zone_of_a_trigger_is_made_usable(monkeypatch):
    pytz = pytest.importorskip("pytz")
    monkeypatch.setattr(
        "apscheduler.triggers.cron.get_localzone", Mock(return_value=pytz.timezone("Asia/Tokyo"))
    )

    trigger = CronTrigger(hour=1)

    # FROZEN is 01:40 on 4 April in Tokyo
    assert trigger.timezone == ZoneInfo("Asia/Tokyo")
    assert trigger.get_next_fire_time(None, FROZEN) == datetime(
        2011, 4, 5, 1, 0, tzinfo=ZoneInfo("Asia/Tokyo")
    )


def test_patched_util_get_localzone_pins_every_default_zone(monkeypatch):
    zone = ZoneInfo("Pacific/Chatham")
    monkeypatch.setattr("apscheduler.util.get_localzone", Mock(return_value=zone))

    assert [zone_of(make()) for make in TRIGGER_FACTORIES.values()] == [zone] * 4
    assert BackgroundScheduler().timezone is zone


def test_the_local_zone_comes_from_tzlocal():
    tzlocal = pytest.importorskip("tzlocal")

    assert util.get_localzone() == tzlocal.get_localzone()
    assert BackgroundScheduler().timezone == tzlocal.get_localzone()


# --- apscheduler.executors.base.run_job, apscheduler.executors.pool.run_job -----------------


def dummy_run_job(job, jobstore_alias, run_times, logger_name):
    raise Exception("dummy")


def test_run_job_patched_in_both_modules_replaces_how_a_pool_runs_jobs(monkeypatch):
    """The 3.x suites' pattern: patch both names, submit to a thread pool, see the failure."""
    monkeypatch.setattr("apscheduler.executors.base.run_job", dummy_run_job)
    monkeypatch.setattr("apscheduler.executors.pool.run_job", dummy_run_job)
    scheduler = SteppedScheduler(timezone="UTC")
    executor = ThreadPoolExecutor(max_workers=1)
    executor.start(scheduler, "default")
    failed = threading.Event()
    errors = []

    def run_job_error(job_id, exc, traceback=None):
        errors.append((job_id, str(exc)))
        failed.set()

    monkeypatch.setattr(executor, "_run_job_error", run_job_error)
    job = Job(
        scheduler,
        id="abc",
        func=print,
        args=(),
        kwargs={},
        trigger=DateTrigger(FROZEN),
        executor="default",
        misfire_grace_time=None,
        coalesce=True,
        max_instances=1,
        next_run_time=FROZEN,
    )
    job._jobstore_alias = "default"
    try:
        executor.submit_job(job, [FROZEN])
        assert failed.wait(WAIT_TIMEOUT)
    finally:
        executor.shutdown()

    assert errors == [("abc", "dummy")]


def test_run_job_patched_in_the_pool_module_wraps_each_run(monkeypatch):
    seen = []

    def recording_run_job(job, jobstore_alias, run_times, logger_name):
        seen.append((job.id, list(run_times)))
        return run_job(job, jobstore_alias, run_times, logger_name)

    monkeypatch.setattr("apscheduler.executors.pool.run_job", recording_run_job)
    scheduler = BackgroundScheduler(timezone="UTC")
    done = threading.Event()
    events = []

    def listener(event):
        events.append(event)
        done.set()

    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    run_at = datetime.now(UTC)
    scheduler.add_job(lambda: "wrapped", "date", run_date=run_at, id="wrapped")
    scheduler.start()
    try:
        assert done.wait(WAIT_TIMEOUT)
    finally:
        scheduler.shutdown()

    assert seen == [("wrapped", [run_at])]
    assert [(event.code, event.retval) for event in events] == [(EVENT_JOB_EXECUTED, "wrapped")]


# --- apscheduler.job.Job._modify -------------------------------------------------------------


def test_patched_job_modify_observes_changes_made_through_the_scheduler(make_scheduler):
    clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    scheduler = make_scheduler(timezone="UTC", clock=clock)
    scheduler.start()
    scheduler.add_job(print, "interval", minutes=10, id="watched")
    changes = []
    original = Job._modify

    def observing_modify(self, **kwargs):
        changes.append(sorted(kwargs))
        return original(self, **kwargs)

    with patch.object(Job, "_modify", autospec=True, side_effect=observing_modify):
        scheduler.modify_job("watched", name="renamed")
        scheduler.reschedule_job("watched", trigger="interval", minutes=5)
        scheduler.pause_job("watched")
        scheduler.resume_job("watched")
        scheduler.get_job("watched").modify(max_instances=3)

    assert changes == [
        ["name"],
        ["next_run_time", "trigger"],
        ["next_run_time"],
        ["next_run_time"],
        ["max_instances"],
    ]
    job = scheduler.get_job("watched")
    assert (job.name, job.max_instances) == ("renamed", 3)
    assert job.next_run_time == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "module_name, factory_name, options",
    [
        ("apscheduler.jobstores.sqlalchemy", "create_engine", {"url": "sqlite://"}),
        ("apscheduler.jobstores.redis", "Redis", {}),
        ("apscheduler.jobstores.mongodb", "MongoClient", {"connect": False}),
        ("apscheduler.jobstores.zookeeper", "KazooClient", {}),
        ("apscheduler.jobstores.etcd", "Etcd3Client", {}),
    ],
)
def test_a_patched_driver_factory_makes_the_store_client(module_name, factory_name, options):
    """Suites patch the driver's client class in the store module to hand the store a fake."""
    import importlib

    module = importlib.import_module(module_name)
    store_class = next(
        value
        for name, value in vars(module).items()
        if name.endswith("JobStore") and value.__module__ == module_name
    )
    client = MagicMock(name="client")
    with patch(f"{module_name}.{factory_name}", return_value=client) as factory:
        store = store_class(**options)

    assert factory.called
    made = getattr(store, "engine", None) or getattr(store, "redis", None) or store.client
    assert made is client
