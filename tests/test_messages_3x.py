"""
The error messages that 3.x test suites compare with ``==``: APScheduler 3.11's sentences.

Each message must be 3.11's text exactly; what this library adds (the value given, the field,
the aliases there are) is in an exception note, where it cannot break such a comparison. One
test per row of the table of messages users depend on.
"""

from __future__ import annotations

import pytest

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers._plugins import EntryPoints
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import convert_to_datetime
from tests.schedulers import targets
from tests.schedulers.conftest import SteppedScheduler


@pytest.fixture
def scheduler():
    return SteppedScheduler(timezone="UTC", executors={"default": DebugExecutor()})


def raised(exception_type, action, *args, **kwargs):
    """The exception ``action(*args, **kwargs)`` raises."""
    with pytest.raises(exception_type) as caught:
        action(*args, **kwargs)

    return caught.value


@pytest.mark.parametrize(
    "changes, message, note",
    [
        ({"id": 3}, "id must be a nonempty string", "got 3"),
        ({"func": 1}, "func must be a callable or a textual reference to one", "got 1"),
        ({"args": 1}, "args must be a non-string iterable", "got 1"),
        ({"kwargs": 1}, "kwargs must be a dict-like object", "got 1"),
        ({"name": ""}, "name must be a nonempty string", "got ''"),
        (
            {"misfire_grace_time": 0},
            "misfire_grace_time must be either None or a positive integer",
            "got 0",
        ),
        ({"max_instances": "foo"}, "max_instances must be a positive integer", "got 'foo'"),
        ({"executor": 1}, "executor must be a string", "got 1"),
    ],
    ids=[
        "id",
        "func",
        "args",
        "kwargs",
        "name",
        "misfire_grace_time",
        "max_instances",
        "executor",
    ],
)
def test_invalid_job_option(scheduler, changes, message, note):
    job = scheduler.add_job(targets.record, "interval", minutes=1, id="j")

    exc = raised(TypeError, job._modify, **changes)

    assert str(exc) == message
    assert exc.__notes__ == [note]


def test_invalid_date_string():
    exc = raised(ValueError, convert_to_datetime, "19700-12-1", None, "run_date")

    assert str(exc) == "Invalid date string"
    assert exc.__notes__ == ["run_date: '19700-12-1'"]


@pytest.mark.parametrize(
    "section, message",
    [
        (
            "executors",
            "Expected executor instance or dict for executors['default'], got int instead",
        ),
        (
            "jobstores",
            "Expected job store instance or dict for jobstores['default'], got int instead",
        ),
    ],
)
def test_configuration_entry_of_the_wrong_type(scheduler, section, message):
    exc = raised(TypeError, scheduler._configure, {section: {"default": 6}})

    assert str(exc) == message


def test_cron_step_longer_than_the_field():
    exc = raised(ValueError, CronTrigger, day="*/31")

    assert str(exc) == (
        "Error validating expression '*/31': the step value (31) is higher than the total range "
        "of the expression (30)"
    )
    assert exc.__notes__ == ["in the cron field 'day'"]


def test_calendar_interval_ending_before_it_starts():
    exc = raised(
        ValueError,
        CalendarIntervalTrigger,
        days=1,
        start_date="2026-05-02",
        end_date="2026-05-01",
        timezone="UTC",
    )

    assert str(exc) == "end_date cannot be earlier than start_date"
    assert exc.__notes__ == ["start_date is 2026-05-02, end_date 2026-05-01"]


def test_unknown_trigger_alias(scheduler):
    exc = raised(LookupError, scheduler.add_job, targets.record, "dummy")

    assert str(exc) == 'No trigger by the name "dummy" was found'
    installed = sorted(EntryPoints("apscheduler.triggers"))
    assert exc.__notes__ == [f"known trigger aliases: {', '.join(installed)}"]
    assert {"cron", "date", "interval"} <= set(installed)


class NotATriggerEntryPoint:
    value = "apscheduler.jobstores.memory:MemoryJobStore"

    def load(self):
        from apscheduler.jobstores.memory import MemoryJobStore

        return MemoryJobStore


def test_trigger_alias_of_something_else(scheduler):
    scheduler._trigger_plugins = {"dummy": NotATriggerEntryPoint()}
    scheduler._trigger_classes = {}

    exc = raised(TypeError, scheduler.add_job, targets.record, "dummy")

    assert str(exc) == "The trigger entry point does not point to a trigger class"
    assert exc.__notes__ == [
        (
            "the trigger alias 'dummy' (apscheduler.jobstores.memory:MemoryJobStore) loads "
            "<class 'apscheduler.jobstores.memory.MemoryJobStore'>, which is not a subclass of "
            "BaseTrigger"
        )
    ]


@pytest.mark.parametrize(
    "document, message, note",
    [
        ('{"version": 2, "jobs": []}', "unrecognized version: 2", "version 1"),
        ('{"jobs": []}', "unrecognized version: None", "version 1"),
        ("[]", "", "got list"),
    ],
    ids=["newer version", "no version", "not an object"],
)
def test_import_of_a_file_that_is_no_export(scheduler, tmp_path, document, message, note):
    path = tmp_path / "jobs.json"
    path.write_text(document)
    scheduler.start(paused=True)

    error = raised(ValueError, scheduler.import_jobs, str(path))

    assert str(error) == message
    assert any(note in text for text in error.__notes__)
