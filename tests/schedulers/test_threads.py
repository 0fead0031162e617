"""The real loops: BlockingScheduler in the calling thread, BackgroundScheduler in its own."""

from __future__ import annotations

import threading

import pytest

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from tests.schedulers import targets

# Generous upper bounds: the events normally arrive within milliseconds.
TIMEOUT = 10


@pytest.fixture
def background():
    scheduler = BackgroundScheduler(timezone="UTC")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


def test_background_scheduler_runs_a_job_added_while_running(background):
    ran = threading.Event()
    background.start()

    background.add_job(ran.set)

    assert ran.wait(TIMEOUT)


def test_background_thread_is_named_and_daemonic_by_default(background):
    background.start()

    assert background._thread.name == "APScheduler"
    assert background._thread.daemon


def test_daemon_option_is_read_from_text_configuration():
    scheduler = BackgroundScheduler({"apscheduler.daemon": "false"}, timezone="UTC")
    scheduler.start()
    try:
        assert not scheduler._thread.daemon
    finally:
        scheduler.shutdown()


def test_shutdown_waits_for_the_thread(background):
    background.start()
    thread = background._thread

    background.shutdown()

    assert not thread.is_alive()
    assert not background.running


def test_the_thread_survives_a_failing_job_and_runs_the_next(background):
    outcomes = []
    done = threading.Event()

    def listener(event):
        outcomes.append(event.code)
        if len(outcomes) == 2:
            done.set()

    background.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    background.start()
    background.add_job(targets.fail)
    background.add_job(targets.record)

    assert done.wait(TIMEOUT)
    assert sorted(outcomes) == sorted([EVENT_JOB_ERROR, EVENT_JOB_EXECUTED])
    assert background._thread.is_alive()


def test_blocking_scheduler_returns_when_a_job_shuts_it_down():
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(lambda: scheduler.shutdown(wait=False))
    finished = threading.Event()

    def run():
        scheduler.start()
        finished.set()

    runner = threading.Thread(target=run, daemon=True)
    runner.start()

    assert finished.wait(TIMEOUT)
    assert not scheduler.running


def test_background_scheduler_can_be_shut_down_from_its_own_listener():
    scheduler = BackgroundScheduler(timezone="UTC")
    stopped = threading.Event()

    def stop_on_first_run(event):
        scheduler.shutdown(wait=False)
        stopped.set()

    scheduler.add_listener(stop_on_first_run, EVENT_JOB_EXECUTED)
    scheduler.add_job(targets.record)
    scheduler.start()

    assert stopped.wait(TIMEOUT)
