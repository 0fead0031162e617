"""advance(): scheduled time passes in an instant, and every run due on the way is made."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.testing import FakeClock, advance

UTC = timezone.utc
START = datetime(2026, 1, 1, tzinfo=UTC)


class Calls:
    """Notes the thread and the clock reading of each call of :func:`record_call`."""

    def __init__(self, clock=None):
        self.clock = clock
        self.threads = []
        self.times = []

    def note(self):
        self.threads.append(threading.current_thread())
        if self.clock is not None:
            self.times.append(self.clock.now(UTC))


# what record_call() notes into; a job in a persistent store is a pickled reference to it
_calls = Calls()


def record_call():
    _calls.note()


@pytest.fixture
def calls(scheduler_clock):
    global _calls
    _calls = Calls(scheduler_clock)
    return _calls


def fail():
    raise RuntimeError("the job failed")


def minutes_after_start(events):
    return [(event.scheduled_run_time - START) / timedelta(minutes=1) for event in events]


def test_makes_each_due_run_in_order_in_the_calling_thread(
    make_scheduler, scheduler_clock, flavour, store_kind, calls
):
    scheduler = make_scheduler(flavour, store_kind)
    scheduler.add_job(record_call, "interval", minutes=10, id="tick")

    events = advance(scheduler, timedelta(hours=1))

    assert [event.code for event in events] == [EVENT_JOB_EXECUTED] * 6
    assert minutes_after_start(events) == [10, 20, 30, 40, 50, 60]
    # each run started when the clock stood at its run time, in this thread
    assert calls.times == [event.scheduled_run_time for event in events]
    assert set(calls.threads) == {threading.current_thread()}
    assert scheduler_clock.now(UTC) == START + timedelta(hours=1)


def test_the_clock_ends_where_asked_between_runs(make_scheduler, scheduler_clock):
    scheduler = make_scheduler()
    scheduler.add_job(record_call, "interval", minutes=10)

    events = advance(scheduler, 25 * 60)

    assert minutes_after_start(events) == [10, 20]
    assert scheduler_clock.now(UTC) == START + timedelta(minutes=25)
    assert minutes_after_start(advance(scheduler, 5 * 60)) == [30]


def test_zero_makes_just_the_runs_due_now(make_scheduler, scheduler_clock):
    scheduler = make_scheduler()
    scheduler.add_job(record_call, "date", run_date=START, id="now")
    scheduler.add_job(record_call, "date", run_date=START + timedelta(seconds=1), id="later")

    events = advance(scheduler, 0)

    assert [event.job_id for event in events] == ["now"]
    assert scheduler_clock.now(UTC) == START


def test_many_runs_through_a_background_scheduler_are_all_made_here(
    make_scheduler, scheduler_clock, store_kind, calls
):
    # the scheduler's own thread and pool must take none of them
    scheduler = make_scheduler("background", store_kind)
    scheduler.add_job(record_call, "interval", seconds=1)

    events = advance(scheduler, timedelta(minutes=10))

    assert len(events) == 600
    assert calls.times == [START + timedelta(seconds=n) for n in range(1, 601)]
    assert set(calls.threads) == {threading.current_thread()}


def test_failures_are_returned_as_error_events(make_scheduler):
    scheduler = make_scheduler()
    scheduler.add_job(fail, "interval", minutes=1, id="broken")

    [event] = advance(scheduler, 60)

    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, RuntimeError)


def test_runs_are_recorded_in_the_run_history(make_scheduler, store_kind):
    scheduler = make_scheduler("background", store_kind)
    scheduler.add_job(record_call, "interval", minutes=1, id="tick")

    advance(scheduler, 180)

    runs = scheduler.get_job_runs("tick")
    assert [run.state for run in runs] == ["succeeded"] * 3
    assert sorted(run.scheduled_run_time for run in runs) == [
        START + timedelta(minutes=n) for n in (1, 2, 3)
    ]


def test_a_job_added_by_a_run_runs_within_the_same_advance(make_scheduler):
    scheduler = make_scheduler()

    def schedule_follow_up():
        scheduler.add_job(record_call, "interval", minutes=5, id="follow-up")

    scheduler.add_job(schedule_follow_up, "date", run_date=START + timedelta(minutes=1))

    events = advance(scheduler, timedelta(minutes=11))

    assert [event.job_id for event in events][1:] == ["follow-up", "follow-up"]
    assert minutes_after_start(events) == [1, 6, 11]


def test_late_runs_coalesce_as_configured(make_scheduler, scheduler_clock):
    # a test that moves the clock by itself leaves runs owed, as a scheduler that was busy
    scheduler = make_scheduler()
    scheduler.add_job(record_call, "interval", seconds=10, id="together", coalesce=True)
    scheduler.add_job(record_call, "interval", seconds=10, id="each", coalesce=False)
    scheduler_clock.advance(35)

    events = advance(scheduler, 0)

    runs = [(event.job_id, event.scheduled_run_time.second) for event in events]
    assert sorted(runs) == [("each", 10), ("each", 20), ("each", 30), ("together", 30)]


def test_runs_later_than_the_grace_time_are_reported_missed(make_scheduler, calls):
    scheduler = make_scheduler()
    scheduler.add_job(record_call, "interval", seconds=10, coalesce=False, misfire_grace_time=15)
    scheduler.pause()
    assert advance(scheduler, 30) == []

    scheduler.resume()
    events = advance(scheduler, 0)

    assert [(event.code, event.scheduled_run_time.second) for event in events] == [
        (EVENT_JOB_MISSED, 10),
        (EVENT_JOB_EXECUTED, 20),
        (EVENT_JOB_EXECUTED, 30),
    ]
    assert len(calls.threads) == 2


def test_a_slow_run_that_moves_the_clock_makes_the_next_run_late(make_scheduler, scheduler_clock):
    scheduler = make_scheduler()

    def slow():
        scheduler_clock.advance(25)

    scheduler.add_job(slow, "interval", seconds=10, coalesce=True, misfire_grace_time=None)

    events = advance(scheduler, 60)

    # 10 s ran until 35 s; the runs due at 20 and 30 s then coalesce into one, which ran until
    # 60 s; then the owed runs up to 60 s coalesce again, and that run ends the advance
    assert [event.scheduled_run_time.second for event in events] == [10, 30, 0]
    assert scheduler_clock.now(UTC) == START + timedelta(seconds=85)


def test_events_reach_the_listeners_as_usual(make_scheduler):
    scheduler = make_scheduler()
    seen = []
    scheduler.add_listener(lambda event: seen.append(event.code), EVENT_JOB_SUBMITTED)
    scheduler.add_job(record_call, "interval", minutes=1)

    advance(scheduler, 120)

    assert seen == [EVENT_JOB_SUBMITTED] * 2


def test_the_scheduler_runs_jobs_its_own_way_again_afterwards(make_scheduler, scheduler_clock):
    scheduler = make_scheduler("background")
    advance(scheduler, 60)
    ran = threading.Event()
    threads = []

    def job():
        threads.append(threading.current_thread())
        ran.set()

    scheduler.add_job(job, "date", run_date=scheduler_clock.now(UTC))

    assert ran.wait(5), "the background scheduler did not run the job"
    assert threads != [threading.current_thread()]


def test_needs_a_fake_clock():
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start()
    try:
        with pytest.raises(TypeError, match="FakeClock"):
            advance(scheduler, 1)
    finally:
        scheduler.shutdown()


def test_needs_a_started_scheduler():
    scheduler = BackgroundScheduler(timezone=UTC, clock=FakeClock(START))

    with pytest.raises(SchedulerNotRunningError):
        advance(scheduler, 1)


def test_does_not_go_backwards(make_scheduler, scheduler_clock):
    scheduler = make_scheduler()

    with pytest.raises(ValueError, match="forward"):
        advance(scheduler, -1)
    assert scheduler_clock.now(UTC) == START


def test_retries_of_a_failed_run_are_made_when_they_fall_due(make_scheduler):
    scheduler = make_scheduler()
    first_run = START + timedelta(minutes=1)
    scheduler.add_job(fail, "date", run_date=first_run, id="f", max_retries=2, retry_delay=30)

    events = advance(scheduler, timedelta(minutes=10))

    assert [event.code for event in events] == [EVENT_JOB_ERROR] * 3
    # the started times: the retries waited 30 s, then twice that
    assert [event.started_at - first_run for event in events] == [
        timedelta(0),
        timedelta(seconds=30),
        timedelta(seconds=90),
    ]
    assert [run.attempt for run in scheduler.get_job_runs("f")] == [3, 2, 1]
