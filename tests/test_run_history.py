"""Run records, the memory history, the retention policy and the ``run_history`` option."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from unittest.mock import MagicMock

import pytest

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.runs import JobRun, MemoryRunHistory, RetentionPolicy
from apscheduler.schedulers._config import parse_run_history
from apscheduler.schedulers._run_history import history_of_store

UTC = timezone.utc
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(job_id, minute, state="succeeded", run_id=None):
    scheduled = NOON + timedelta(minutes=minute)
    finished = None if state == "running" else scheduled
    return JobRun(
        run_id or f"{job_id}-{minute}", job_id, "default", scheduled, state, finished_at=finished
    )


@pytest.fixture
def history():
    history = MemoryRunHistory()
    history.record_runs([run("a", m) for m in range(5)] + [run("b", m) for m in range(3)])
    return history


def test_a_record_of_the_same_run_id_replaces_the_earlier_one(history):
    history.record_runs([run("a", 4, state="failed")])

    assert [r.state for r in history.get_job_runs("a", limit=1)] == ["failed"]


def test_runs_come_newest_first_with_filters(history):
    assert [r.run_id for r in history.get_job_runs("a", limit=2)] == ["a-4", "a-3"]
    assert len(history.get_job_runs()) == 8
    assert history.get_job_runs("a", since=NOON + timedelta(minutes=3))[-1].run_id == "a-3"
    assert history.get_job_runs(states={"failed"}) == []


def test_pruning_keeps_the_newest_runs_per_job_and_every_running_one(history):
    history.record_runs([run("a", -10, state="running")])

    history.prune_runs(RetentionPolicy(max_runs=2, max_age=None), NOON)

    assert [r.run_id for r in history.get_job_runs("a")] == ["a-4", "a-3", "a--10"]
    assert [r.run_id for r in history.get_job_runs("b")] == ["b-2", "b-1"]


def test_pruning_drops_runs_that_ended_too_long_ago(history):
    history.prune_runs(
        RetentionPolicy(max_runs=100, max_age=timedelta(minutes=1)), NOON + timedelta(minutes=4)
    )

    assert [r.run_id for r in history.get_job_runs("a")] == ["a-4", "a-3"]


def test_the_memory_store_keeps_run_history():
    assert history_of_store(MemoryJobStore()) is not None


def test_a_mock_of_a_store_keeps_no_run_history():
    """APScheduler 3 test suites hand the scheduler mocks of stores: they take the 3.x path."""
    assert history_of_store(MagicMock(spec=MemoryJobStore)) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, RetentionPolicy()),
        (True, RetentionPolicy()),
        (False, RetentionPolicy(max_runs=0)),
        (0, RetentionPolicy(max_runs=0)),
        ("0", RetentionPolicy(max_runs=0)),
        ("off", RetentionPolicy(max_runs=0)),
        (20, RetentionPolicy(max_runs=20)),
        ("20", RetentionPolicy(max_runs=20)),
        ({"max_runs": "5", "max_age": "90"}, RetentionPolicy(5, timedelta(seconds=90))),
        ({"max_age": timedelta(days=1)}, RetentionPolicy(max_age=timedelta(days=1))),
        ({"max_age": None}, RetentionPolicy(max_age=None)),
    ],
    ids=[
        "none",
        "true",
        "false",
        "zero",
        "zero-text",
        "off",
        "count",
        "count-text",
        "dict-text",
        "timedelta",
        "no-age-limit",
    ],
)
def test_the_run_history_option_becomes_a_retention_policy(value, expected):
    assert parse_run_history(value) == expected


@pytest.mark.parametrize(
    "value, error, message",
    [
        (-1, ValueError, "max_runs must be 0 or more, got -1"),
        ({"max_age": 0}, ValueError, "max_age must be more than 0 seconds"),
        ({"keep": 3}, ValueError, "unknown key 'keep'"),
        (1.5, TypeError, "got float instead"),
    ],
    ids=["negative", "zero-age", "unknown-key", "float"],
)
def test_a_bad_run_history_option_is_refused(value, error, message):
    with pytest.raises(error, match=message):
        parse_run_history(value)
