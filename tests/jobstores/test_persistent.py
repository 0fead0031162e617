"""What the persistent stores add to the contract: refusing unstorable jobs, keeping broken ones."""

from __future__ import annotations

import functools
import logging
import threading
from datetime import timedelta

import pytest

from apscheduler.events import EVENT_JOB_UNLOADABLE, JobUnloadableEvent
from apscheduler.job import Job
from apscheduler.jobstores.base import TransientJobError, UnloadableJob

from . import support
from .support import T0, make_job, tick

LOGGER = "apscheduler.jobstores.default"


def ids(jobs):
    return [job.id for job in jobs]


def unloadable_events(store):
    return [
        (event.code, event.job_id, event.jobstore)
        for event in store._scheduler.events
        if isinstance(event, JobUnloadableEvent)
    ]


def error_messages(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]


# --- jobs that cannot be stored are refused when added -------------------------------------


def make_nested_function():
    def nested():
        pass

    return nested


@pytest.mark.parametrize(
    "func",
    [lambda: None, make_nested_function(), functools.partial(tick, 1)],
    ids=["lambda", "nested-function", "partial"],
)
def test_a_callable_without_a_text_reference_is_refused_with_advice(persistent_jobstore, func):
    job = make_job(persistent_jobstore._scheduler, "anon", T0, func=func)

    with pytest.raises(TransientJobError, match=r"anon.*'module:function' text reference"):
        persistent_jobstore.add_job(job)

    assert persistent_jobstore.get_all_jobs() == []


def test_a_method_of_an_unpicklable_object_is_refused_as_transient(persistent_jobstore):
    job = make_job(persistent_jobstore._scheduler, "method", T0, func=support.Service().run)

    with pytest.raises(TransientJobError, match=r"method of a Service object.*module:function"):
        persistent_jobstore.add_job(job)

    assert persistent_jobstore.get_all_jobs() == []


def test_an_unpicklable_argument_is_refused_at_add_time(persistent_jobstore):
    job = make_job(persistent_jobstore._scheduler, "locked", T0, args=(threading.Lock(),))

    with pytest.raises(TypeError, match=r"Job \(locked\) cannot be added .* cannot be pickled"):
        persistent_jobstore.add_job(job)

    assert persistent_jobstore.get_all_jobs() == []


def test_an_update_with_an_unpicklable_argument_leaves_the_stored_job_as_it_was(
    persistent_jobstore,
):
    job = make_job(persistent_jobstore._scheduler, "a", T0, args=(1,))
    persistent_jobstore.add_job(job)

    job._modify(args=(threading.Lock(),))
    with pytest.raises(TypeError, match="cannot be pickled"):
        persistent_jobstore.update_job(job)

    assert persistent_jobstore.lookup_job("a").args == (1,)


# --- jobs that fail to load are kept, skipped and reported ---------------------------------


@pytest.fixture
def broken_store(store_factory, monkeypatch):
    """A store holding a due job whose function was deleted, and two healthy jobs."""
    store = store_factory(recheck_interval=60)
    scheduler = store._scheduler
    store.add_job(make_job(scheduler, "broken", T0 - timedelta(minutes=1), func=support.doomed))
    store.add_job(make_job(scheduler, "due", T0))
    store.add_job(make_job(scheduler, "later", T0 + timedelta(hours=1)))
    monkeypatch.delattr(support, "doomed")
    return store


def test_due_jobs_skip_a_broken_job_and_still_return_the_others(broken_store):
    assert ids(broken_store.get_due_jobs(T0)) == ["due"]
    assert ids(broken_store.get_all_jobs()) == ["due", "later"]


def test_a_broken_job_is_reported_with_its_id_store_and_reason(broken_store):
    broken_store.get_due_jobs(T0)

    (report,) = broken_store.get_unloadable_jobs()

    assert isinstance(report, UnloadableJob)
    assert (report.job_id, report.jobstore) == ("broken", "default")
    assert "LookupError" in report.reason and "support:doomed" in report.reason


def test_a_broken_job_is_logged_and_announced_once_however_many_passes_see_it(
    broken_store, caplog
):
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        broken_store.get_due_jobs(T0)
        broken_store.get_all_jobs()
        broken_store.lookup_job("broken")
        broken_store.get_due_jobs(T0 + timedelta(hours=1))

    (message,) = error_messages(caplog)
    assert "'broken'" in message and "support:doomed" in message and "remove_job()" in message
    assert unloadable_events(broken_store) == [(EVENT_JOB_UNLOADABLE, "broken", "default")]


def test_a_broken_job_stays_stored_untouched(broken_store, store_factory, monkeypatch):
    broken_store.get_due_jobs(T0)
    broken_store.get_all_jobs()
    monkeypatch.undo()

    job = store_factory(alias="other").lookup_job("broken")

    assert job.func is support.doomed
    assert job.next_run_time == T0 - timedelta(minutes=1)


def test_looking_up_a_broken_job_gives_none_and_reports_it(broken_store):
    assert broken_store.lookup_job("broken") is None
    assert [report.job_id for report in broken_store.get_unloadable_jobs()] == ["broken"]


def test_a_broken_job_can_be_removed_by_id(broken_store):
    broken_store.get_due_jobs(T0)

    broken_store.remove_job("broken")

    assert broken_store.get_unloadable_jobs() == []
    assert broken_store.lookup_job("broken") is None
    assert ids(broken_store.get_all_jobs()) == ["due", "later"]


def test_a_broken_job_replaced_by_a_good_version_is_no_longer_reported(broken_store):
    broken_store.get_due_jobs(T0)

    broken_store.update_job(make_job(broken_store._scheduler, "broken", T0))

    assert broken_store.get_unloadable_jobs() == []
    assert ids(broken_store.get_due_jobs(T0)) == ["broken", "due"]


def test_the_next_run_time_skips_an_overdue_broken_job_until_its_recheck(broken_store):
    """Else the scheduler would wake at once for the broken job, again and again."""
    broken_store.remove_job("due")
    assert broken_store.get_due_jobs(T0) == []

    assert broken_store.get_next_run_time() == T0 + timedelta(seconds=60)


def test_the_next_run_time_is_a_healthy_job_when_it_comes_before_the_recheck(
    store_factory, monkeypatch
):
    store = store_factory(recheck_interval=3600)
    store.add_job(make_job(store._scheduler, "broken", T0, func=support.doomed))
    store.add_job(make_job(store._scheduler, "soon", T0 + timedelta(minutes=5)))
    monkeypatch.delattr(support, "doomed")

    assert store.get_due_jobs(T0) == []
    assert store.get_next_run_time() == T0 + timedelta(minutes=5)


def test_a_broken_job_found_outside_a_due_pass_is_due_at_its_stored_time(broken_store):
    broken_store.get_all_jobs()

    assert broken_store.get_next_run_time() == T0 - timedelta(minutes=1)


def test_a_paused_broken_job_never_wakes_the_scheduler(store_factory, monkeypatch):
    store = store_factory()
    store.add_job(make_job(store._scheduler, "paused", None, func=support.doomed))
    monkeypatch.delattr(support, "doomed")

    assert store.get_all_jobs() == []
    assert store.get_next_run_time() is None


def test_a_fixed_job_loads_again_at_the_recheck_and_is_due(broken_store, monkeypatch, caplog):
    broken_store.get_due_jobs(T0)
    monkeypatch.undo()  # the code is fixed, e.g. by the next deploy

    with caplog.at_level(logging.INFO, logger=LOGGER):
        before_recheck = broken_store.get_due_jobs(T0 + timedelta(seconds=59))
        at_recheck = broken_store.get_due_jobs(T0 + timedelta(seconds=60))

    assert ids(before_recheck) == ["due"]
    assert ids(at_recheck) == ["broken", "due"]
    assert broken_store.get_unloadable_jobs() == []
    assert any("'broken'" in r.getMessage() and "loads again" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_a_missing_trigger_class_makes_a_job_unloadable(store_factory, monkeypatch):
    store = store_factory()
    trigger = support.DoomedTrigger()
    store.add_job(make_job(store._scheduler, "a", T0, trigger=trigger))
    monkeypatch.delattr(support, "DoomedTrigger")

    assert store.get_all_jobs() == []
    (report,) = store.get_unloadable_jobs()
    assert "DoomedTrigger" in report.reason


def test_an_argument_whose_class_is_gone_makes_a_job_unloadable(store_factory, monkeypatch):
    store = store_factory()
    store.add_job(make_job(store._scheduler, "a", T0, args=(support.Fragile(),)))
    monkeypatch.delattr(support, "Fragile")

    assert store.get_due_jobs(T0) == []
    (report,) = store.get_unloadable_jobs()
    assert "Fragile" in report.reason


def test_a_new_reason_for_the_same_job_is_logged_and_announced_again(
    store_factory, monkeypatch, caplog
):
    store = store_factory()
    store.add_job(
        make_job(store._scheduler, "a", T0, func=support.doomed, trigger=support.DoomedTrigger())
    )
    doomed_trigger = support.DoomedTrigger

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        monkeypatch.delattr(support, "DoomedTrigger")
        store.get_all_jobs()
        monkeypatch.setattr(support, "DoomedTrigger", doomed_trigger, raising=False)
        monkeypatch.delattr(support, "doomed")
        store.get_all_jobs()

    first, second = error_messages(caplog)
    assert "DoomedTrigger" in first and "doomed" in second
    assert len(unloadable_events(store)) == 2


def test_a_broken_job_deleted_elsewhere_is_no_longer_reported(broken_store, store_factory):
    broken_store.get_all_jobs()

    store_factory(alias="other").remove_job("broken")

    assert ids(broken_store.get_all_jobs()) == ["due", "later"]
    assert broken_store.get_unloadable_jobs() == []


def test_a_replaced_job_setstate_is_called_for_every_job_read(persistent_jobstore, monkeypatch):
    """Test suites replace Job.__setstate__ to watch the jobs a store reads: 3.x stores call it."""
    for job_id in ("a", "b"):
        persistent_jobstore.add_job(make_job(persistent_jobstore._scheduler, job_id))
    read = []
    plain_setstate = Job.__setstate__

    def watching(job, state):
        read.append(state["id"])
        plain_setstate(job, state)

    monkeypatch.setattr(Job, "__setstate__", watching)
    jobs = persistent_jobstore.get_all_jobs()

    assert sorted(read) == ["a", "b"]
    assert [(job.id, job._scheduler, job._jobstore_alias) for job in jobs] == [
        ("a", persistent_jobstore._scheduler, "default"),
        ("b", persistent_jobstore._scheduler, "default"),
    ]


# --- options shared by every persistent store ----------------------------------------------


@pytest.mark.parametrize(
    "option, value, error, message",
    [
        ("retry_timeout", -1, ValueError, "retry_timeout must be a positive number"),
        ("retry_timeout", "soon", ValueError, "retry_timeout must be a number"),
        ("retry_timeout", None, TypeError, "retry_timeout must be a number"),
        ("recheck_interval", 0, ValueError, "recheck_interval must be a positive number"),
    ],
    ids=["negative-timeout", "text-timeout", "no-timeout", "zero-recheck"],
)
def test_bad_retry_options_are_refused(store_factory, option, value, error, message):
    with pytest.raises(error, match=message):
        store_factory(start=False, **{option: value})


def test_retry_options_given_as_text_are_read_as_seconds(store_factory):
    store = store_factory(start=False, retry_timeout="2.5", recheck_interval="30")

    assert (store.retry_timeout, store.recheck_interval) == (2.5, 30.0)
