"""
APScheduler 3's plugin dicts on the scheduler class: alias -> class, alias -> entry point.

``_trigger_classes`` (and ``_executor_classes``, ``_jobstore_classes``) are consulted first and
cache the classes loaded from ``_trigger_plugins`` (and the other two); 3.x code aliases a class
without packaging by adding it there, and 3.x test suites assign their own ``_trigger_plugins``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from importlib.metadata import EntryPoint

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers._plugins import EntryPoints
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tests.schedulers import targets
from tests.schedulers.conftest import SteppedScheduler

UTC = dt_timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class EveryFiveSeconds(IntervalTrigger):
    def __init__(self, timezone=None):
        super().__init__(seconds=5, timezone=timezone)


class DummyTrigger(DateTrigger):
    """Remembers the arguments it was made with."""

    def __init__(self, timezone=None, **options):
        super().__init__(NOW, timezone=timezone)
        self.given_timezone = timezone
        self.options = options


class CountingEntryPoint:
    """What 3.x test suites put in ``_trigger_plugins``: anything with a ``load()`` method."""

    def __init__(self, target):
        self.target = target
        self.loads = 0

    def load(self):
        self.loads += 1
        return self.target


@pytest.fixture
def class_dicts(monkeypatch):
    """Fresh class-level alias -> class dicts, so that no test leaves aliases behind."""
    for kind in ("trigger", "executor", "jobstore"):
        monkeypatch.setattr(BaseScheduler, f"_{kind}_classes", {})


def test_a_class_added_to_trigger_classes_is_an_alias_for_add_job(scheduler, class_dicts):
    BaseScheduler._trigger_classes["every5"] = EveryFiveSeconds
    scheduler.start()

    job = scheduler.add_job(targets.record, "every5")

    assert type(job.trigger) is EveryFiveSeconds
    assert job.trigger.timezone == scheduler.timezone
    assert job.next_run_time == NOW + timedelta(seconds=5)


def test_trigger_classes_are_consulted_before_the_entry_points(scheduler, class_dicts):
    BaseScheduler._trigger_classes["cron"] = EveryFiveSeconds

    assert type(scheduler._create_trigger("cron", {})) is EveryFiveSeconds


def test_an_assigned_plugin_dict_is_used_and_each_plugin_loaded_once(scheduler):
    entry_point = CountingEntryPoint(DummyTrigger)
    scheduler._trigger_plugins = {"dummy": entry_point}
    scheduler._trigger_classes = {}

    first = scheduler._create_trigger("dummy", {"a": 1})
    second = scheduler._create_trigger("dummy", {"b": 2})

    assert type(first) is DummyTrigger and first.options == {"a": 1}
    assert first.given_timezone == scheduler.timezone
    assert second.options == {"b": 2}
    assert entry_point.loads == 1
    assert scheduler._trigger_classes == {"dummy": DummyTrigger}


def test_a_loaded_plugin_is_cached_in_the_class_level_dict(scheduler, class_dicts):
    """As in APScheduler 3, the cache is the class attribute unless the instance has its own."""
    scheduler._trigger_plugins = {"dummy": CountingEntryPoint(DummyTrigger)}

    scheduler._create_trigger("dummy", {})

    assert BaseScheduler._trigger_classes == {"dummy": DummyTrigger}


def test_a_real_entry_point_object_works_in_an_assigned_plugin_dict(scheduler):
    entry_point = EntryPoint(
        name="dummy",
        value="tests.schedulers.test_plugin_dicts:DummyTrigger",
        group="apscheduler.triggers",
    )
    scheduler._trigger_plugins = {"dummy": entry_point}
    scheduler._trigger_classes = {}

    assert type(scheduler._create_trigger("dummy", {})) is DummyTrigger


def test_no_trigger_means_the_date_trigger(scheduler):
    trigger = scheduler._create_trigger(None, {"run_date": NOW})

    assert type(trigger) is DateTrigger
    assert trigger.run_date == NOW


def test_unknown_trigger_alias_raises_3x_lookup_error(scheduler):
    scheduler._trigger_plugins = {"cron": CountingEntryPoint(CronTrigger)}
    scheduler._trigger_classes = {"every5": EveryFiveSeconds}

    with pytest.raises(LookupError, match="^No trigger by the name") as caught:
        scheduler._create_trigger("dummy", {})

    assert str(caught.value) == 'No trigger by the name "dummy" was found'
    assert caught.value.__notes__ == ["known trigger aliases: cron, every5"]


@pytest.mark.parametrize(
    "type_, wrong_class, base_name",
    [
        ("trigger", MemoryJobStore, "BaseTrigger"),
        ("executor", CronTrigger, "BaseExecutor"),
        ("jobstore", DebugExecutor, "BaseJobStore"),
    ],
)
def test_an_entry_point_of_the_wrong_kind_raises_3x_type_error(
    scheduler, type_, wrong_class, base_name
):
    setattr(scheduler, f"_{type_}_plugins", {"wrong": CountingEntryPoint(wrong_class)})
    setattr(scheduler, f"_{type_}_classes", {})

    with pytest.raises(TypeError, match="^The ") as caught:
        scheduler._create_plugin_instance(type_, "wrong", {})

    assert str(caught.value) == f"The {type_} entry point does not point to a {type_} class"
    [note] = caught.value.__notes__
    assert note.startswith(f"the {type_} alias 'wrong' (")
    assert note.endswith(f"loads {wrong_class!r}, which is not a subclass of {base_name}")
    # a class of the wrong kind is not cached: the next try reports it again
    assert getattr(scheduler, f"_{type_}_classes") == {}


@pytest.mark.parametrize("type_", ["trigger", "executor", "jobstore"])
def test_create_plugin_instance_names_the_kind_in_its_lookup_error(scheduler, type_):
    with pytest.raises(LookupError, match="^No ") as caught:
        scheduler._create_plugin_instance(type_, "nowhere", {})

    assert str(caught.value) == f'No {type_} by the name "nowhere" was found'


def test_create_plugin_instance_refuses_an_unknown_kind_with_a_key_error(scheduler):
    with pytest.raises(KeyError, match="thing"):
        scheduler._create_plugin_instance("thing", "nowhere", {})


def test_executor_and_job_store_aliases_go_through_the_class_dicts(scheduler, class_dicts):
    BaseScheduler._executor_classes["inline"] = DebugExecutor
    BaseScheduler._jobstore_classes["ram"] = MemoryJobStore

    scheduler.add_executor("inline", "fast")
    scheduler.add_jobstore("ram", "scratch")

    assert type(scheduler._executors["fast"]) is DebugExecutor
    assert type(scheduler._jobstores["scratch"]) is MemoryJobStore


def test_configuration_types_go_through_the_class_dicts(class_dicts):
    BaseScheduler._executor_classes["inline"] = DebugExecutor
    BaseScheduler._jobstore_classes["ram"] = MemoryJobStore

    scheduler = SteppedScheduler(
        timezone="UTC",
        executors={"default": {"type": "inline"}},
        jobstores={"default": {"type": "ram"}},
    )

    assert type(scheduler._executors["default"]) is DebugExecutor
    assert type(scheduler._jobstores["default"]) is MemoryJobStore


def test_the_default_plugin_dicts_map_aliases_to_installed_entry_points():
    plugins = BaseScheduler._trigger_plugins

    assert {"date", "interval", "cron", "calendarinterval", "and", "or"} <= set(plugins)
    assert "cron" in plugins and "fortnightly" not in plugins
    assert plugins["cron"].load() is CronTrigger
    assert dict(BaseScheduler._jobstore_plugins)["memory"].load() is MemoryJobStore
    assert "threadpool" in BaseScheduler._executor_plugins


def test_known_aliases_are_found_without_reading_the_entry_points_again(scheduler, monkeypatch):
    """add_job() by alias costs a dict lookup, not an entry point scan (it is benchmarked)."""
    scheduler.add_job(targets.record, "interval", seconds=1)

    def no_more_reads(*args, **kwargs):
        raise AssertionError("the entry points were read again")

    monkeypatch.setattr("importlib.metadata.entry_points", no_more_reads)
    job = scheduler.add_job(targets.record, "interval", seconds=1)

    assert type(job.trigger) is IntervalTrigger


class CountingReads(EntryPoints):
    reads = 0

    def _read(self):
        self.reads += 1
        return super()._read()


def test_entry_points_are_read_on_first_use_and_again_for_an_unknown_alias():
    """So that a plugin distribution installed while the program runs is found."""
    plugins = CountingReads("apscheduler.triggers")
    assert plugins.reads == 0

    assert "cron" in plugins and "date" in plugins
    assert plugins.reads == 1

    assert "fortnightly" not in plugins
    assert plugins.reads == 2
    with pytest.raises(KeyError):
        plugins["fortnightly"]
    assert plugins.reads == 3
