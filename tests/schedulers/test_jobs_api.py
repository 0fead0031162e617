"""Adding, changing, finding, listing, exporting and removing jobs through the scheduler."""

from __future__ import annotations

import io
import json
import threading
import warnings
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest

from apscheduler.events import EVENT_JOB_ADDED, EVENT_JOB_MODIFIED, EVENT_JOB_REMOVED
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from tests.schedulers import targets
from tests.schedulers.conftest import SteppedScheduler

UTC = dt_timezone.utc
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_job_added_before_start_is_pending_until_start(scheduler):
    job = scheduler.add_job(targets.record, "interval", minutes=5, id="five")

    assert job.pending
    assert scheduler.get_jobs() == [job]
    assert "pending" in str(job)

    scheduler.start()

    assert not job.pending
    assert job.next_run_time == NOW + timedelta(minutes=5)
    assert scheduler.get_job("five") is job


def test_options_left_undefined_take_the_job_defaults(make_scheduler):
    scheduler = make_scheduler(job_defaults={"misfire_grace_time": 30, "max_instances": 4})
    scheduler.start()

    job = scheduler.add_job(targets.record, "interval", hours=1, coalesce=False)

    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (30, False, 4)
    assert job.name == "record"
    assert job.executor == "default"


class _StopsTheSchedulerWhenAsked(IntervalTrigger):
    """A trigger whose first fire time is asked for while the scheduler is being shut down."""

    scheduler = None

    def get_next_fire_time(self, previous_fire_time, now):
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        return super().get_next_fire_time(previous_fire_time, now)


@pytest.mark.parametrize("job_defaults", [{}, {"misfire_grace_time": 30}])
def test_job_added_while_the_scheduler_stops_waits_for_the_next_start(
    make_scheduler, job_defaults
):
    # The job is made for a running scheduler, which stops before the job is stored: it is
    # kept pending with the options given, and takes the defaults when the scheduler starts.
    scheduler = make_scheduler(job_defaults={**job_defaults, "coalesce": False})
    scheduler.start()
    trigger = _StopsTheSchedulerWhenAsked(minutes=5, start_date=NOW)
    trigger.scheduler = scheduler

    job = scheduler.add_job(targets.record, trigger, id="late", max_instances=2)

    assert not scheduler.running
    assert job.pending
    assert scheduler.get_jobs() == [job]
    assert not hasattr(job, "next_run_time")
    assert not hasattr(job, "coalesce")

    trigger.scheduler = None
    scheduler.start(paused=True)

    stored = scheduler.get_job("late")
    assert stored is job and not job.pending
    assert (job.coalesce, job.max_instances) == (False, 2)
    assert job.misfire_grace_time == job_defaults.get("misfire_grace_time", 1)
    assert job.next_run_time == NOW


def test_trigger_alias_gets_the_scheduler_timezone(make_scheduler):
    scheduler = make_scheduler(timezone="Europe/Berlin")
    job = scheduler.add_job(targets.record, "cron", hour=3)

    assert str(job.trigger.timezone) == "Europe/Berlin"


def test_no_trigger_means_run_once_now(scheduler):
    scheduler.start()
    job = scheduler.add_job(targets.record)

    assert isinstance(job.trigger, DateTrigger)
    assert job.next_run_time == NOW


def test_trigger_of_the_wrong_type_is_refused(scheduler):
    with pytest.raises(TypeError, match="Expected a trigger instance or string, got int"):
        scheduler.add_job(targets.record, 5)


def test_unknown_trigger_alias_is_named(scheduler):
    with pytest.raises(LookupError, match='"fortnightly"'):
        scheduler.add_job(targets.record, "fortnightly")


def test_bad_job_option_names_the_value(scheduler):
    with pytest.raises(TypeError, match="^max_instances must be a positive integer") as caught:
        scheduler.add_job(targets.record, "interval", seconds=1, max_instances=0)

    assert str(caught.value) == "max_instances must be a positive integer"
    assert caught.value.__notes__ == ["got 0"]


def test_arguments_the_callable_cannot_take_are_refused_at_add_time(scheduler):
    with pytest.raises(ValueError, match="does not accept the following keyword arguments: x"):
        scheduler.add_job(targets.fail, kwargs={"x": 1})


def test_next_run_time_none_adds_the_job_paused(scheduler):
    scheduler.start()
    job = scheduler.add_job(targets.record, "interval", seconds=1, next_run_time=None)

    assert job.next_run_time is None
    assert "paused" in str(job)


def test_duplicate_id_is_refused_unless_replacing(scheduler, events):
    scheduler.start()
    scheduler.add_job(targets.record, "interval", seconds=10, id="dup")

    with pytest.raises(ConflictingIdError):
        scheduler.add_job(targets.record, "interval", seconds=10, id="dup")

    scheduler.add_job(targets.record, "interval", seconds=99, id="dup", replace_existing=True)
    assert scheduler.get_job("dup").trigger.interval == timedelta(seconds=99)


def test_scheduled_job_decorator_replaces_and_returns_the_function(scheduler):
    scheduler.start()

    @scheduler.scheduled_job("interval", seconds=5, id="decorated")
    def tick():
        pass

    scheduler.scheduled_job("interval", seconds=7, id="decorated")(tick)

    assert callable(tick)
    assert scheduler.get_job("decorated").trigger.interval == timedelta(seconds=7)


def test_modify_reschedule_pause_resume(scheduler, events, fake_clock):
    scheduler.start()
    job = scheduler.add_job(targets.record, "interval", minutes=1, id="j")

    job.modify(name="renamed", max_instances=2)
    assert scheduler.get_job("j").name == "renamed"

    job.reschedule("interval", hours=2)
    assert job.next_run_time == NOW + timedelta(hours=2)

    job.pause()
    assert scheduler.get_job("j").next_run_time is None

    fake_clock.advance(minutes=30)
    job.resume()
    assert scheduler.get_job("j").next_run_time == NOW + timedelta(hours=2)
    assert [e.code for e in events].count(EVENT_JOB_MODIFIED) == 4


def test_resume_removes_a_job_whose_trigger_is_finished(scheduler, fake_clock):
    scheduler.start()
    scheduler.add_job(
        targets.record, "interval", minutes=1, end_date=NOW + timedelta(minutes=2), id="d"
    )
    scheduler.pause_job("d")
    fake_clock.advance(minutes=5)

    assert scheduler.resume_job("d") is None
    assert scheduler.get_job("d") is None


def test_modify_of_an_unknown_job_raises_lookup_error(scheduler):
    scheduler.start()

    with pytest.raises(JobLookupError, match="No job by the id of nope was found"):
        scheduler.modify_job("nope", name="x")


def test_a_failed_modification_changes_nothing(scheduler):
    scheduler.start()
    job = scheduler.add_job(targets.record, "interval", minutes=1, id="j", name="before")

    with pytest.raises(TypeError):
        scheduler.modify_job("j", name="after", max_instances=-1)

    assert scheduler.get_job("j").name == "before"
    assert job.max_instances == 1


def test_remove_job_and_remove_all_jobs(scheduler, events):
    scheduler.add_job(targets.record, "interval", minutes=1, id="pending-one")
    scheduler.remove_job("pending-one")
    with pytest.raises(JobLookupError):
        scheduler.remove_job("pending-one")

    scheduler.start()
    scheduler.add_job(targets.record, "interval", minutes=1, id="a")
    scheduler.add_job(targets.record, "interval", minutes=1, id="b")
    scheduler.remove_job("a")
    scheduler.remove_all_jobs()

    assert scheduler.get_jobs() == []
    removed = [e for e in events if e.code == EVENT_JOB_REMOVED]
    assert [(e.job_id, e.jobstore) for e in removed] == [
        ("pending-one", "default"),
        ("a", "default"),
    ]


def test_get_jobs_pending_argument_is_deprecated(scheduler):
    with pytest.warns(DeprecationWarning, match="pending"):
        scheduler.get_jobs(pending=True)


def test_print_jobs_when_stopped_and_running(scheduler):
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    assert out.getvalue() == "Pending jobs:\n    No pending jobs\n"

    scheduler.add_job(targets.record, "interval", minutes=1, id="j", name="minutely")
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    assert out.getvalue() == (
        "Pending jobs:\n    minutely (trigger: interval[0:01:00], pending)\n"
    )

    scheduler.start()
    scheduler.add_jobstore("memory", "empty")
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    assert out.getvalue() == (
        "Jobstore default:\n"
        "    minutely (trigger: interval[0:01:00], next run at: 2026-03-01 12:01:00 UTC)\n"
        "Jobstore empty:\n"
        "    No scheduled jobs\n"
    )


def test_export_and_import_round_trip(scheduler, tmp_path):
    scheduler.start()
    scheduler.add_job(targets.record, "interval", minutes=1, id="i", args=[1, "two"])
    scheduler.add_job(targets.record, "cron", hour=3, id="c", kwargs={"k": None})
    path = tmp_path / "jobs.json"

    scheduler.export_jobs(str(path))
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert [job["id"] for job in document["jobs"]] == ["i", "c"]

    scheduler.remove_all_jobs()
    scheduler.import_jobs(str(path))

    imported = {job.id: job for job in scheduler.get_jobs()}
    assert imported["i"].args == [1, "two"], "the list in the file, as APScheduler 3.11 gives"
    assert isinstance(imported["i"].trigger, IntervalTrigger)
    assert imported["c"].next_run_time == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def test_export_before_start_is_refused(scheduler):
    with pytest.raises(RuntimeError, match="must have been started"):
        scheduler.export_jobs(io.StringIO())


def test_import_of_another_format_version_is_refused(scheduler):
    scheduler.start()

    with pytest.raises(ValueError, match="^unrecognized version: 2"):
        scheduler.import_jobs(io.StringIO('{"version": 2, "jobs": []}'))


def test_adding_a_job_later_than_the_planned_wakeup_does_not_wake_the_scheduler(scheduler):
    """Bulk-adding jobs to a running scheduler must not cost a processing pass per job."""
    scheduler.start()
    scheduler.add_job(targets.record, "interval", minutes=1, id="soon")
    scheduler._process_jobs()
    wakeups = scheduler.wakeups

    scheduler.add_job(targets.record, "interval", minutes=10, id="later")
    assert scheduler.wakeups == wakeups

    scheduler.add_job(targets.record, "interval", seconds=10, id="sooner")
    assert scheduler.wakeups == wakeups + 1


def test_job_added_event_names_its_store(scheduler, events):
    scheduler.start()
    scheduler.add_jobstore("memory", "other")
    scheduler.add_job(targets.record, "interval", minutes=1, jobstore="other")

    added = [e for e in events if e.code == EVENT_JOB_ADDED]
    assert added[-1].jobstore == "other"


def test_no_warnings_on_the_happy_path(scheduler):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.start()
        scheduler.add_job(targets.record, "interval", minutes=1)
        scheduler._process_jobs()


def test_impossible_date_text_names_the_argument(scheduler):
    with pytest.raises(ValueError, match=r"^month must be in 1\.\.12") as caught:
        scheduler.add_job(targets.record, "interval", hours=1, next_run_time="2026-13-01")

    assert str(caught.value) == "month must be in 1..12"
    assert caught.value.__notes__ == ["next_run_time: '2026-13-01'"]


def test_pending_jobs_read_and_replaced_as_in_3x(scheduler):
    """Programs written for 3.x read ``_pending_jobs`` as tuples, and replace it filtered."""
    keep = scheduler.add_job(targets.record, "interval", minutes=1, id="keep", jobstore="default")
    scheduler.add_job(targets.record, "interval", minutes=1, id="drop", replace_existing=True)

    assert scheduler._pending_jobs == [
        (keep, "default", False),
        (scheduler.get_job("drop"), "default", True),
    ]

    with scheduler._jobstores_lock:
        scheduler._pending_jobs = [entry for entry in scheduler._pending_jobs if entry[0] is keep]
    assert scheduler.get_jobs() == [keep]

    scheduler.start()
    assert scheduler._pending_jobs == []
    assert [job.id for job in scheduler._jobstores["default"].get_all_jobs()] == ["keep"]


def test_a_pending_job_is_found_by_id_whatever_store_is_named(scheduler):
    """As in 3.11: before start, the job store argument narrows removals and listings only."""
    job = scheduler.add_job(targets.record, "interval", minutes=1, id="j", jobstore="elsewhere")

    assert scheduler.get_job("j", "default") is job
    assert scheduler.get_jobs("default") == []
    with pytest.raises(JobLookupError):
        scheduler.remove_job("j", "default")


def test_a_pending_job_changed_before_start_is_stored_with_the_change(scheduler, events):
    job = scheduler.add_job(targets.record, "interval", minutes=1, id="j")
    scheduler.modify_job("j", name="renamed")
    scheduler.pause_job("j")

    modified = [e for e in events if e.code == EVENT_JOB_MODIFIED]
    assert [(e.job_id, e.jobstore) for e in modified] == [("j", None), ("j", None)]

    scheduler.start()
    assert scheduler.get_job("j") is job
    assert (job.name, job.next_run_time, job.pending) == ("renamed", None, False)


def test_replace_existing_decides_at_start_between_pending_jobs_of_one_id(make_scheduler):
    replacing = make_scheduler()
    replacing.add_job(targets.record, "interval", minutes=1, id="j", name="first")
    replacing.add_job(
        targets.record, "interval", minutes=1, id="j", name="second", replace_existing=True
    )
    replacing.start()
    assert [job.name for job in replacing.get_jobs()] == ["second"]

    conflicting = make_scheduler()
    first = conflicting.add_job(targets.record, "interval", minutes=1, id="j", name="first")
    second = conflicting.add_job(targets.record, "interval", minutes=1, id="j", name="second")
    with pytest.raises(ConflictingIdError):
        conflicting.start()

    assert not conflicting.running
    assert conflicting.get_jobs() == [first, second], "as in 3.x, every job is still pending"


def test_import_into_an_unknown_store_raises_the_3x_key_error(scheduler):
    with pytest.raises(KeyError) as caught:
        scheduler.import_jobs(io.StringIO('{"version": 1, "jobs": []}'), "nowhere")

    assert caught.value.args == ("nowhere",)


def test_listeners_never_run_under_the_store_lock(scheduler, events):
    """A listener that waits for another thread using the scheduler must not deadlock."""
    lock_was_free = []

    def take_the_lock_elsewhere():
        acquired = scheduler._jobstores_lock.acquire(timeout=2)
        lock_was_free.append(acquired)
        if acquired:
            scheduler._jobstores_lock.release()

    def listener(event):
        other = threading.Thread(target=take_the_lock_elsewhere)
        other.start()
        other.join()

    scheduler.add_listener(listener)
    scheduler.add_job(targets.record, "interval", minutes=1, id="pending")
    scheduler.start()
    scheduler.add_job(targets.record, "interval", minutes=1, id="j")
    scheduler.modify_job("j", name="renamed")
    scheduler.resume_job("j")
    scheduler.remove_job("j")
    scheduler.remove_all_jobs()

    codes = [e.code for e in events]
    assert codes.count(EVENT_JOB_ADDED) == 2 and codes.count(EVENT_JOB_MODIFIED) == 2
    assert lock_was_free and all(lock_was_free)


class InterceptingScheduler(SteppedScheduler):
    """An integration's subclass that overrides the private methods APScheduler 3 calls."""

    def __init__(self, **options):
        self.stored = []
        self.looked_up = []
        self.removed = []
        super().__init__(**options)

    def _real_add_job(self, job, jobstore_alias, replace_existing):
        self.stored.append(job.id)
        super()._real_add_job(job, jobstore_alias, replace_existing)

    def _lookup_job(self, job_id, jobstore_alias):
        self.looked_up.append(job_id)
        return super()._lookup_job(job_id, jobstore_alias)

    def remove_job(self, job_id, jobstore=None):
        self.removed.append((job_id, jobstore))
        super().remove_job(job_id, jobstore)


def test_a_subclass_overriding_real_add_job_sees_pending_and_new_jobs(fake_clock):
    scheduler = InterceptingScheduler(timezone=UTC, clock=fake_clock)
    scheduler.add_job(targets.record, "interval", hours=1, id="pending")
    assert scheduler.stored == []

    scheduler.start()
    scheduler.add_job(targets.record, "interval", hours=1, id="added")

    assert scheduler.stored == ["pending", "added"]
    scheduler.shutdown()


def test_a_subclass_overriding_lookup_job_sees_every_lookup(fake_clock):
    scheduler = InterceptingScheduler(timezone=UTC, clock=fake_clock)
    scheduler.start()
    scheduler.add_job(targets.record, "interval", hours=1, id="job")

    scheduler.get_job("job")
    scheduler.modify_job("job", name="renamed")
    scheduler.pause_job("job")
    scheduler.resume_job("job")

    # resume_job() looks the job up, then changes it through modify_job(), as in 3.x
    assert scheduler.looked_up == ["job"] * 5
    scheduler.shutdown()


def test_a_subclass_overriding_remove_job_sees_the_removal_of_a_finished_job(fake_clock):
    scheduler = InterceptingScheduler(timezone=UTC, clock=fake_clock)
    scheduler.start()
    scheduler.add_job(targets.record, "date", run_date=fake_clock.now(UTC), id="once")

    scheduler._process_jobs()

    # its only run was submitted: the scheduler removes it through remove_job(), as in 3.x
    assert scheduler.removed == [("once", "default")]
    assert scheduler.get_job("once") is None
    scheduler.shutdown()
