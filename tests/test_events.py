"""Event codes and event objects, as listeners see them."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import reduce
from operator import or_

import pytest

from apscheduler import events
from apscheduler.events import (
    EVENT_ALL,
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_START,
    EVENT_SCHEDULER_STARTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)

CODES_IN_ORDER = [
    "EVENT_SCHEDULER_STARTED",
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
]
RUN_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "name, bit", [(name, bit) for bit, name in enumerate(CODES_IN_ORDER)], ids=CODES_IN_ORDER
)
def test_each_event_code_is_its_own_bit(name, bit):
    assert getattr(events, name) == 2**bit


def test_event_all_is_every_code_combined():
    assert EVENT_ALL == reduce(or_, (getattr(events, name) for name in CODES_IN_ORDER))
    assert EVENT_ALL == 2**17 - 1


def test_scheduler_start_is_an_alias_of_scheduler_started():
    assert EVENT_SCHEDULER_START == EVENT_SCHEDULER_STARTED


def test_codes_combine_into_a_listener_mask():
    mask = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR

    assert mask & EVENT_JOB_ERROR
    assert not mask & EVENT_JOB_SUBMITTED


def test_module_exports_the_codes_and_event_classes():
    assert set(events.__all__) == {
        *CODES_IN_ORDER,
        "EVENT_SCHEDULER_START",
        "EVENT_ALL",
        "EVENT_JOB_UNLOADABLE",
        "EVENT_JOB_TIMED_OUT",
        "SchedulerEvent",
        "JobEvent",
        "JobSubmissionEvent",
        "JobExecutionEvent",
        "JobUnloadableEvent",
    }


def test_unloadable_job_code_is_outside_event_all():
    """Listeners written for 3.x subscribe with EVENT_ALL and never meet a code they don't know."""
    assert events.EVENT_JOB_UNLOADABLE == 2**17
    assert not events.EVENT_JOB_UNLOADABLE & EVENT_ALL
    assert events.EVENT_JOB_TIMED_OUT == 2**18
    assert not events.EVENT_JOB_TIMED_OUT & EVENT_ALL


def test_unloadable_job_event_says_why():
    event = events.JobUnloadableEvent(
        events.EVENT_JOB_UNLOADABLE, "nightly", "default", "No module named 'gone'"
    )

    assert isinstance(event, JobEvent)
    assert (event.job_id, event.jobstore, event.reason) == (
        "nightly",
        "default",
        "No module named 'gone'",
    )


def test_scheduler_event_carries_code_and_alias():
    event = SchedulerEvent(EVENT_SCHEDULER_STARTED)
    store_event = SchedulerEvent(events.EVENT_JOBSTORE_ADDED, "archive")

    assert (event.code, event.alias) == (EVENT_SCHEDULER_STARTED, None)
    assert store_event.alias == "archive"


def test_job_event_carries_job_id_and_store():
    event = JobEvent(EVENT_JOB_ADDED, "nightly", "default")

    assert isinstance(event, SchedulerEvent)
    assert (event.code, event.job_id, event.jobstore, event.alias) == (
        EVENT_JOB_ADDED,
        "nightly",
        "default",
        None,
    )


def test_submission_event_carries_the_run_times():
    event = JobSubmissionEvent(EVENT_JOB_SUBMITTED, "nightly", "default", [RUN_TIME])

    assert isinstance(event, JobEvent)
    assert event.scheduled_run_times == [RUN_TIME]


def test_execution_event_carries_the_outcome():
    executed = JobExecutionEvent(EVENT_JOB_EXECUTED, "nightly", "default", RUN_TIME, retval=42)
    error = ValueError("boom")
    failed = JobExecutionEvent(
        EVENT_JOB_ERROR, "nightly", "default", RUN_TIME, exception=error, traceback="Traceback"
    )

    assert isinstance(executed, JobEvent)
    assert (executed.scheduled_run_time, executed.retval) == (RUN_TIME, 42)
    assert (executed.exception, executed.traceback) == (None, None)
    assert (failed.retval, failed.exception, failed.traceback) == (None, error, "Traceback")


@pytest.mark.parametrize(
    "event, expected",
    [
        (SchedulerEvent(EVENT_SCHEDULER_STARTED), "<SchedulerEvent (code=1)>"),
        (JobEvent(EVENT_JOB_ADDED, "a", "default"), "<JobEvent (code=512)>"),
        (
            JobSubmissionEvent(EVENT_JOB_SUBMITTED, "a", "default", []),
            "<JobSubmissionEvent (code=32768)>",
        ),
        (
            JobExecutionEvent(EVENT_JOB_EXECUTED, "a", "default", RUN_TIME),
            "<JobExecutionEvent (code=4096)>",
        ),
    ],
    ids=["scheduler", "job", "submission", "execution"],
)
def test_repr_names_the_class_and_code(event, expected):
    assert repr(event) == expected
