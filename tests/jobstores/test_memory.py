"""The memory job store: ordering, lookups and errors, on live job objects."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.base import BaseTrigger

START = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class _StandInScheduler:
    """Stand-in for a real scheduler: jobs only read its time zone."""

    timezone = timezone.utc


class _StandInTrigger(BaseTrigger):
    """Stand-in for a real trigger; the store never asks it anything."""

    def get_next_fire_time(self, previous_fire_time, now):
        return None


_SCHEDULER = _StandInScheduler()
_TRIGGER = _StandInTrigger()


def noop() -> None:
    pass


def make_job(job_id: str, next_run_time: datetime | None, func=noop) -> Job:
    return Job(
        _SCHEDULER,
        id=job_id,
        func=func,
        args=(),
        kwargs={},
        trigger=_TRIGGER,
        executor="default",
        next_run_time=next_run_time,
    )


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


def test_store_keeps_the_very_job_object(store):
    """Nothing is pickled, so jobs without a text reference are fine here."""
    job = make_job("lambda", at(1), func=lambda: None)

    store.add_job(job)

    assert store.lookup_job("lambda") is job
    assert store.get_all_jobs()[0] is job


def test_lookup_of_an_unknown_id_gives_none(store):
    assert store.lookup_job("nope") is None


def test_adding_a_taken_id_raises_conflicting_id_error(store):
    store.add_job(make_job("report", at(1)))

    with pytest.raises(ConflictingIdError, match=r"Job identifier \(report\) conflicts"):
        store.add_job(make_job("report", at(2)))

    assert store.lookup_job("report").next_run_time == at(1)


def test_due_jobs_are_those_at_or_before_now_oldest_first(store):
    for job_id, minutes in [("late", 10), ("now", 5), ("past", 1), ("earlier", 0)]:
        store.add_job(make_job(job_id, at(minutes)))
    store.add_job(make_job("paused", None))

    assert ids(store.get_due_jobs(at(5))) == ["earlier", "past", "now"]
    assert store.get_due_jobs(at(-1)) == []


def test_jobs_due_at_the_same_time_come_in_id_order(store):
    for job_id in ["c", "a", "d", "b"]:
        store.add_job(make_job(job_id, at(1)))

    assert ids(store.get_due_jobs(at(1))) == ["a", "b", "c", "d"]
    assert ids(store.get_all_jobs()) == ["a", "b", "c", "d"]


def test_run_times_in_different_zones_are_ordered_by_instant(store):
    helsinki = ZoneInfo("Europe/Helsinki")
    # 13:30 in Helsinki (UTC+2 in March) is 11:30 UTC, before 12:00 UTC
    store.add_job(make_job("utc-noon", at(0)))
    store.add_job(make_job("helsinki", datetime(2026, 3, 1, 13, 30, tzinfo=helsinki)))

    assert ids(store.get_due_jobs(at(0))) == ["helsinki", "utc-noon"]
    assert store.get_next_run_time() == datetime(2026, 3, 1, 13, 30, tzinfo=helsinki)


def test_repeated_wall_clock_hour_is_ordered_by_instant(store):
    """02:30 happens twice when Berlin leaves summer time; the first one must come first."""
    berlin = ZoneInfo("Europe/Berlin")
    second_pass = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=berlin)
    first_pass = datetime(2024, 10, 27, 2, 30, fold=0, tzinfo=berlin)
    store.add_job(make_job("a-second-pass", second_pass))
    store.add_job(make_job("b-first-pass", first_pass))

    assert ids(store.get_due_jobs(second_pass)) == ["b-first-pass", "a-second-pass"]
    assert ids(store.get_due_jobs(first_pass)) == ["b-first-pass"]


def test_fetching_due_jobs_leaves_them_in_the_store(store):
    store.add_job(make_job("job", at(0)))

    assert ids(store.get_due_jobs(at(1))) == ["job"]
    assert ids(store.get_due_jobs(at(1))) == ["job"]
    assert store.get_next_run_time() == at(0)


def test_next_run_time_is_the_earliest_of_the_scheduled_jobs(store):
    assert store.get_next_run_time() is None

    store.add_job(make_job("paused", None))
    assert store.get_next_run_time() is None

    store.add_job(make_job("later", at(3)))
    store.add_job(make_job("sooner", at(2)))
    assert store.get_next_run_time() == at(2)

    store.remove_job("sooner")
    assert store.get_next_run_time() == at(3)


def test_all_jobs_are_listed_by_run_time_with_paused_ones_last_by_id(store):
    store.add_job(make_job("paused-b", None))
    store.add_job(make_job("second", at(2)))
    store.add_job(make_job("paused-a", None))
    store.add_job(make_job("first", at(1)))

    assert ids(store.get_all_jobs()) == ["first", "second", "paused-a", "paused-b"]


def test_updating_the_run_time_of_a_live_job_reorders_it(store):
    first, second = make_job("first", at(1)), make_job("second", at(2))
    store.add_job(first)
    store.add_job(second)

    first._modify(next_run_time=at(3))
    store.update_job(first)

    assert ids(store.get_all_jobs()) == ["second", "first"]
    assert ids(store.get_due_jobs(at(2))) == ["second"]
    assert store.get_next_run_time() == at(2)



def test_a_job_moved_later_is_not_due_at_its_old_time_behind_an_earlier_job(store):
    store.add_job(make_job("early", at(1)))
    moved = make_job("moved", at(2))
    store.add_job(moved)

    moved._modify(next_run_time=at(10))
    store.update_job(moved)

    # the entry for 2 is superseded, and not at the top of the heap, where it would be dropped
    assert ids(store.get_due_jobs(at(3))) == ["early"]


def test_a_removed_job_is_not_due_behind_an_earlier_job(store):
    store.add_job(make_job("early", at(1)))
    store.add_job(make_job("removed", at(2)))

    store.remove_job("removed")

    assert ids(store.get_due_jobs(at(3))) == ["early"]


def test_a_paused_job_is_not_due_behind_an_earlier_job(store):
    store.add_job(make_job("early", at(1)))
    paused = make_job("paused", at(2))
    store.add_job(paused)

    paused._modify(next_run_time=None)
    store.update_job(paused)

    assert ids(store.get_due_jobs(at(3))) == ["early"]

def test_updated_jobs_sharing_a_run_time_stay_in_id_order(store):
    for job_id in ["a", "b", "c"]:
        store.add_job(make_job(job_id, at(1)))

    for job_id in ["c", "a"]:
        job = store.lookup_job(job_id)
        job._modify(next_run_time=at(2))
        store.update_job(job)
    job = store.lookup_job("b")
    job._modify(next_run_time=at(2))
    store.update_job(job)

    assert ids(store.get_due_jobs(at(2))) == ["a", "b", "c"]


def test_update_with_an_unchanged_run_time_changes_nothing_visible(store):
    job = make_job("job", at(1))
    store.add_job(job)

    job._modify(name="renamed")
    store.update_job(job)

    assert store.get_due_jobs(at(1)) == [job]
    assert store.lookup_job("job").name == "renamed"


def test_pausing_and_resuming_through_update(store):
    job = make_job("job", at(1))
    store.add_job(job)

    job._modify(next_run_time=None)
    store.update_job(job)
    assert store.get_due_jobs(at(5)) == []
    assert store.get_next_run_time() is None
    assert store.get_all_jobs() == [job]

    job._modify(next_run_time=at(4))
    store.update_job(job)
    assert store.get_due_jobs(at(5)) == [job]


def test_update_with_a_new_object_replaces_the_stored_one(store):
    store.add_job(make_job("job", at(1)))
    replacement = make_job("job", at(1))

    store.update_job(replacement)

    assert store.lookup_job("job") is replacement
    assert store.get_due_jobs(at(1))[0] is replacement
    assert store.get_all_jobs()[0] is replacement


def test_moving_a_job_away_and_back_lists_it_once(store):
    job = make_job("job", at(1))
    store.add_job(job)

    for minutes in (5, 1, 5, 1):
        job._modify(next_run_time=at(minutes))
        store.update_job(job)

    assert store.get_due_jobs(at(10)) == [job]


def test_updating_an_unknown_job_raises_job_lookup_error(store):
    with pytest.raises(JobLookupError, match="No job by the id of ghost was found"):
        store.update_job(make_job("ghost", at(1)))


def test_removed_job_is_gone_everywhere(store):
    store.add_job(make_job("keep", at(2)))
    store.add_job(make_job("drop", at(1)))

    store.remove_job("drop")

    assert store.lookup_job("drop") is None
    assert ids(store.get_due_jobs(at(5))) == ["keep"]
    assert ids(store.get_all_jobs()) == ["keep"]


def test_removing_an_unknown_job_raises_job_lookup_error(store):
    with pytest.raises(JobLookupError, match="ghost"):
        store.remove_job("ghost")


def test_a_removed_id_can_be_added_again_with_the_same_run_time(store):
    store.add_job(make_job("job", at(1)))
    store.remove_job("job")
    again = make_job("job", at(1))

    store.add_job(again)

    assert store.get_due_jobs(at(1)) == [again]
    assert store.get_due_jobs(at(1))[0] is again


def test_remove_all_jobs_empties_the_store(store):
    store.add_job(make_job("scheduled", at(1)))
    store.add_job(make_job("paused", None))

    store.remove_all_jobs()

    assert store.get_all_jobs() == []
    assert store.get_next_run_time() is None
    store.add_job(make_job("scheduled", at(1)))


def test_shutdown_empties_the_store(store):
    store.add_job(make_job("job", at(1)))

    store.shutdown()

    assert store.get_all_jobs() == []
    assert store.lookup_job("job") is None


def test_repr_names_the_class(store):
    assert repr(store) == "<MemoryJobStore>"


def test_constant_churn_does_not_grow_the_store(store):
    """Superseded entries are cleaned up, so a store of 100 jobs stays the size of 100 jobs."""
    jobs = [make_job(f"job{number:03}", at(number)) for number in range(100)]
    for job in jobs:
        store.add_job(job)

    for round_number in range(1, 50):
        for job in reversed(jobs):
            job._modify(next_run_time=job.next_run_time + timedelta(days=round_number))
            store.update_job(job)

    assert len(store._heap) <= 2 * len(jobs) + 64
    assert ids(store.get_all_jobs()) == [job.id for job in jobs]


# (operation, job id, minutes from START or None for paused)
_operations = st.lists(
    st.tuples(
        st.sampled_from(["add", "update", "replace", "remove", "due"]),
        st.sampled_from([f"job{number:02}" for number in range(20)]),
        st.one_of(st.none(), st.integers(0, 10)),
    ),
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(_operations)
def test_store_agrees_with_a_plain_sorted_model(operations):
    """Whatever the sequence of calls, the store answers like a dict sorted on demand."""
    store = MemoryJobStore()
    model: dict[str, Job] = {}

    def by_time(job: Job) -> tuple:
        return (job.next_run_time is None, job.next_run_time or START, job.id)

    for operation, job_id, minutes in operations:
        run_time = None if minutes is None else at(minutes)
        if operation == "add":
            if job_id in model:
                with pytest.raises(ConflictingIdError):
                    store.add_job(make_job(job_id, run_time))
            else:
                model[job_id] = make_job(job_id, run_time)
                store.add_job(model[job_id])
        elif operation in ("update", "replace"):
            if job_id not in model:
                with pytest.raises(JobLookupError):
                    store.update_job(make_job(job_id, run_time))
                continue
            if operation == "replace":
                model[job_id] = make_job(job_id, run_time)
            else:
                model[job_id]._modify(next_run_time=run_time)
            store.update_job(model[job_id])
        elif operation == "remove":
            if job_id in model:
                del model[job_id]
                store.remove_job(job_id)
            else:
                with pytest.raises(JobLookupError):
                    store.remove_job(job_id)
        else:
            now = at(minutes if minutes is not None else 3)
            expected_due = [
                job
                for job in sorted(model.values(), key=by_time)
                if job.next_run_time is not None and job.next_run_time <= now
            ]
            assert [(job.id, id(job)) for job in store.get_due_jobs(now)] == [
                (job.id, id(job)) for job in expected_due
            ]

        expected = sorted(model.values(), key=by_time)
        assert [id(job) for job in store.get_all_jobs()] == [id(job) for job in expected]
        scheduled = [job.next_run_time for job in expected if job.next_run_time is not None]
        assert store.get_next_run_time() == (scheduled[0] if scheduled else None)
        for job_id_in_model, job in model.items():
            assert store.lookup_job(job_id_in_model) is job
