"""The contract every job store keeps, run against each kind of store on a real server."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError

from .support import T0, Counter, EveryTrigger, make_job, tick


def add_jobs(store, *specs):
    """Add jobs given as (id, next run time) pairs; return them in the order given."""
    jobs = [make_job(store._scheduler, job_id, run_time) for job_id, run_time in specs]
    for job in jobs:
        store.add_job(job)
    return jobs


def ids(jobs):
    return [job.id for job in jobs]


def test_added_job_is_found_by_id_with_all_its_settings(jobstore):
    job = make_job(
        jobstore._scheduler,
        "report",
        T0,
        args=(1, "two"),
        kwargs={"three": 3.0},
        name="nightly report",
        misfire_grace_time=30,
        coalesce=True,
        max_instances=4,
        trigger=EveryTrigger(90),
    )
    jobstore.add_job(job)

    found = jobstore.lookup_job("report")

    assert found == job
    assert found.func is tick
    assert found.func_ref == job.func_ref
    assert (found.args, found.kwargs) == ((1, "two"), {"three": 3.0})
    assert (found.name, found.misfire_grace_time, found.coalesce) == ("nightly report", 30, True)
    assert (found.max_instances, found.executor, found.next_run_time) == (4, "default", T0)
    assert str(found.trigger) == "every[90s]"


def test_loaded_job_belongs_to_the_scheduler_and_the_store_alias(persistent_jobstore):
    jobstore = persistent_jobstore
    add_jobs(jobstore, ("a", T0))

    job = jobstore.lookup_job("a")

    assert job._scheduler is jobstore._scheduler
    assert job._jobstore_alias == "default"
    assert not job.pending


def test_looking_up_an_unknown_id_gives_none(jobstore):
    assert jobstore.lookup_job("nope") is None


def test_adding_a_second_job_with_the_same_id_is_refused(jobstore):
    add_jobs(jobstore, ("a", T0))

    with pytest.raises(ConflictingIdError, match="a"):
        jobstore.add_job(make_job(jobstore._scheduler, "a", T0 + timedelta(hours=1)))

    assert jobstore.lookup_job("a").next_run_time == T0


def test_due_jobs_are_those_at_or_before_now_in_time_then_id_order(jobstore):
    add_jobs(
        jobstore,
        ("late", T0 + timedelta(seconds=1)),
        ("b", T0),
        ("a", T0),
        ("early", T0 - timedelta(minutes=5)),
        ("paused", None),
    )

    assert ids(jobstore.get_due_jobs(T0)) == ["early", "a", "b"]
    assert ids(jobstore.get_due_jobs(T0 - timedelta(hours=1))) == []


def test_due_jobs_compare_instants_not_wall_clock_readings(jobstore):
    """A job due at 13:00 in Berlin is due at 12:00 UTC: stores compare points in time."""
    berlin = ZoneInfo("Europe/Berlin")
    add_jobs(jobstore, ("berlin", T0.astimezone(berlin)))

    assert ids(jobstore.get_due_jobs(T0)) == ["berlin"]
    assert jobstore.get_due_jobs(T0 - timedelta(microseconds=1)) == []


def test_next_run_time_is_the_earliest_one_ignoring_paused_jobs(jobstore):
    add_jobs(jobstore, ("paused", None), ("later", T0 + timedelta(hours=2)), ("soon", T0))

    assert jobstore.get_next_run_time() == T0


def test_an_empty_store_has_no_next_run_time(jobstore):
    add_jobs(jobstore, ("paused", None))

    assert jobstore.get_next_run_time() is None


def test_all_jobs_come_in_time_then_id_order_with_paused_jobs_last(jobstore):
    add_jobs(
        jobstore,
        ("z-paused", None),
        ("c", T0 + timedelta(minutes=1)),
        ("b", T0),
        ("a-paused", None),
        ("a", T0),
    )

    assert ids(jobstore.get_all_jobs()) == ["a", "b", "c", "a-paused", "z-paused"]


def test_all_jobs_in_a_repeated_wall_clock_hour_come_in_instant_order(jobstore):
    """02:40 before the clocks go back comes before 02:10 after: by wall clock it would not."""
    berlin = ZoneInfo("Europe/Berlin")
    add_jobs(
        jobstore,
        ("a-after", datetime(2024, 10, 27, 2, 10, fold=1, tzinfo=berlin)),
        ("b-before", datetime(2024, 10, 27, 2, 40, fold=0, tzinfo=berlin)),
    )

    assert ids(jobstore.get_all_jobs()) == ["b-before", "a-after"]


def test_updated_job_moves_to_its_new_place_in_the_order(jobstore):
    first, second, third = add_jobs(
        jobstore, ("a", T0), ("b", T0 + timedelta(minutes=1)), ("c", T0 + timedelta(minutes=2))
    )

    first._modify(next_run_time=T0 + timedelta(minutes=2), args=(42,))
    jobstore.update_job(first)

    assert ids(jobstore.get_all_jobs()) == ["b", "a", "c"]
    assert jobstore.lookup_job("a").args == (42,)
    assert jobstore.get_next_run_time() == T0 + timedelta(minutes=1)


def test_pausing_and_resuming_a_job_through_updates(jobstore):
    (job,) = add_jobs(jobstore, ("a", T0))

    job._modify(next_run_time=None)
    jobstore.update_job(job)
    assert jobstore.get_due_jobs(T0) == []
    assert jobstore.get_next_run_time() is None

    job._modify(next_run_time=T0)
    jobstore.update_job(job)
    assert ids(jobstore.get_due_jobs(T0)) == ["a"]


def test_updating_an_unknown_job_raises_lookup_error(jobstore):
    with pytest.raises(JobLookupError, match="nope"):
        jobstore.update_job(make_job(jobstore._scheduler, "nope", T0))

    assert jobstore.get_all_jobs() == []


def test_removed_job_is_gone_and_the_others_stay(jobstore):
    add_jobs(jobstore, ("a", T0), ("b", T0))

    jobstore.remove_job("a")

    assert jobstore.lookup_job("a") is None
    assert ids(jobstore.get_all_jobs()) == ["b"]


def test_removing_an_unknown_job_raises_lookup_error(jobstore):
    with pytest.raises(JobLookupError, match="nope"):
        jobstore.remove_job("nope")


def test_remove_all_jobs_empties_the_store_and_it_works_after(jobstore):
    add_jobs(jobstore, ("a", T0), ("b", None))

    jobstore.remove_all_jobs()
    assert jobstore.get_all_jobs() == []
    assert jobstore.get_next_run_time() is None

    add_jobs(jobstore, ("c", T0))
    assert ids(jobstore.get_all_jobs()) == ["c"]


def test_a_healthy_store_reports_no_unloadable_jobs(jobstore):
    add_jobs(jobstore, ("a", T0))

    assert jobstore.get_all_jobs() != []
    assert jobstore.get_unloadable_jobs() == []


def test_a_bound_method_of_a_picklable_object_keeps_its_object(jobstore):
    counter = Counter(41)
    job = make_job(jobstore._scheduler, "count", T0, func=counter.run)
    jobstore.add_job(job)

    found = jobstore.lookup_job("count")
    found.func(*found.args)

    # persistent stores keep the object as the first argument, as APScheduler 3 did
    owner = found.args[0] if found.args else found.func.__self__
    assert owner.value == 42


def test_a_job_without_a_run_time_at_the_same_instant_keeps_microseconds(jobstore):
    run_time = T0 + timedelta(microseconds=123456)
    add_jobs(jobstore, ("precise", run_time))

    assert jobstore.lookup_job("precise").next_run_time == run_time
    assert jobstore.get_due_jobs(run_time)[0].next_run_time == run_time


def test_jobs_survive_in_a_new_store_on_the_same_storage(store_factory):
    first = store_factory()
    add_jobs(first, ("a", T0), ("b", None))
    first.shutdown()

    second = store_factory()

    assert ids(second.get_all_jobs()) == ["a", "b"]
    assert second.lookup_job("a")._jobstore_alias == "default"
