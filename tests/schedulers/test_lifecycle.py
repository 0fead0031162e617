"""Starting, pausing, resuming and shutting down a scheduler, and the events that tell about it."""

from __future__ import annotations

import sys
import types

import pytest

from apscheduler.events import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
)
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers import SchedulerAlreadyRunningError, SchedulerNotRunningError
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from tests.schedulers import targets


def codes(events):
    return [event.code for event in events]


def test_start_order_of_events_with_a_due_one_shot_job(scheduler, events):
    """Store added, pending job added, scheduler started; then the job runs and is removed."""
    scheduler.add_job(targets.record, id="once")

    scheduler.start()
    scheduler._process_jobs()

    assert codes(events) == [
        EVENT_JOBSTORE_ADDED,
        EVENT_JOB_ADDED,
        EVENT_SCHEDULER_STARTED,
        EVENT_JOB_EXECUTED,
        EVENT_JOB_REMOVED,
        EVENT_JOB_SUBMITTED,
    ]
    assert scheduler.get_jobs() == []


def test_default_executor_is_announced_when_created_at_start(fake_clock, events):
    from tests.schedulers.conftest import SteppedScheduler

    scheduler = SteppedScheduler(timezone="UTC", clock=fake_clock)
    scheduler.add_listener(events.append)
    scheduler.start()
    try:
        assert codes(events)[:3] == [
            EVENT_EXECUTOR_ADDED,
            EVENT_JOBSTORE_ADDED,
            EVENT_SCHEDULER_STARTED,
        ]
    finally:
        scheduler.shutdown()


def test_state_moves_through_running_paused_and_stopped(scheduler, events):
    assert scheduler.state == STATE_STOPPED and not scheduler.running

    scheduler.start(paused=True)
    assert scheduler.state == STATE_PAUSED and scheduler.running
    assert scheduler.wakeups == 0
    assert scheduler._process_jobs() is None

    scheduler.resume()
    assert scheduler.state == STATE_RUNNING
    assert scheduler.wakeups == 1

    scheduler.pause()
    scheduler.shutdown()
    assert scheduler.state == STATE_STOPPED
    assert codes(events)[-4:] == [
        EVENT_SCHEDULER_STARTED,
        EVENT_SCHEDULER_RESUMED,
        EVENT_SCHEDULER_PAUSED,
        EVENT_SCHEDULER_SHUTDOWN,
    ]


def test_starting_twice_is_refused(scheduler):
    scheduler.start()

    with pytest.raises(SchedulerAlreadyRunningError):
        scheduler.start()


@pytest.mark.parametrize("method", ["shutdown", "pause", "resume"])
def test_stopped_scheduler_refuses(scheduler, method):
    with pytest.raises(SchedulerNotRunningError, match="Scheduler is not running"):
        getattr(scheduler, method)()


def test_refuses_to_start_under_uwsgi_without_threads(scheduler, monkeypatch):
    fake_uwsgi = types.ModuleType("uwsgi")
    fake_uwsgi.has_threads = False  # stands in for uWSGI, which only exists inside its server
    monkeypatch.setitem(sys.modules, "uwsgi", fake_uwsgi)

    with pytest.raises(RuntimeError, match="--enable-threads"):
        scheduler.start()


def test_executors_and_stores_added_and_removed_at_run_time(scheduler, events):
    scheduler.start()
    extra_store = MemoryJobStore()
    scheduler.add_jobstore(extra_store, "extra")
    scheduler.add_executor(DebugExecutor(), "inline")

    with pytest.raises(ValueError, match='alias of "extra"'):
        scheduler.add_jobstore(MemoryJobStore(), "extra")
    with pytest.raises(ValueError, match='alias of "inline"'):
        scheduler.add_executor(DebugExecutor(), "inline")

    scheduler.remove_jobstore("extra")
    scheduler.remove_executor("inline")
    with pytest.raises(KeyError):
        scheduler.remove_jobstore("extra")
    with pytest.raises(KeyError):
        scheduler.remove_executor("inline")

    assert codes(events)[-4:] == [
        EVENT_JOBSTORE_ADDED,
        EVENT_EXECUTOR_ADDED,
        EVENT_JOBSTORE_REMOVED,
        EVENT_EXECUTOR_REMOVED,
    ]


def test_plugins_by_alias_with_options(scheduler):
    scheduler.add_executor("threadpool", "pool", max_workers=2)
    scheduler.add_jobstore("memory", "mem")

    assert type(scheduler._executors["pool"]).__name__ == "ThreadPoolExecutor"
    assert isinstance(scheduler._jobstores["mem"], MemoryJobStore)


def test_a_listener_that_raises_is_logged_and_others_still_hear(scheduler, caplog):
    heard = []

    def broken(event):
        raise ValueError("listener bug")

    scheduler.add_listener(broken)
    scheduler.add_listener(heard.append, EVENT_SCHEDULER_STARTED)
    scheduler.start()

    assert [event.code for event in heard] == [EVENT_SCHEDULER_STARTED]
    assert "Error notifying listener" in caplog.text


def test_listener_mask_and_removal(scheduler):
    heard = []
    scheduler.add_listener(heard.append, EVENT_ALL_JOBS_REMOVED)
    scheduler.remove_all_jobs()
    scheduler.remove_listener(heard.append)
    scheduler.remove_all_jobs()

    assert len(heard) == 1 and heard[0].alias is None


class KeepingStore(MemoryJobStore):
    """Keeps its jobs across shutdown, as a database would."""

    def shutdown(self):
        pass


def test_a_pass_after_shutdown_touches_nothing(make_scheduler, events):
    """A loop woken by shutdown() runs one more pass; it must not submit to stopped executors."""
    scheduler = make_scheduler(jobstores={"default": KeepingStore()})
    scheduler.add_job(targets.record, id="due")
    scheduler.start(paused=True)
    scheduler.shutdown()

    assert scheduler._process_jobs() is None
    assert EVENT_JOB_SUBMITTED not in codes(events)
