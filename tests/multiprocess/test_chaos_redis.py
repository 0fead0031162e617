"""
Several scheduler processes on one Redis store, some killed with SIGKILL and started again.

The CI-sized run takes about 20 seconds; ``APSCHEDULER_CHAOS=full`` runs the full scenario
(100 jobs for 30 seconds, a kill every 5 s).
"""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import uuid4

import pytest

from tests.services import require_module

from .harness import ChaosConfig, StoreSpec, run_chaos

pytestmark = pytest.mark.external_service


@pytest.fixture
def redis_spec(redis_url):
    require_module("redis")
    url = urlsplit(redis_url)
    prefix = f"chaos_{uuid4().hex[:12]}"
    spec = StoreSpec(
        "apscheduler.jobstores.redis:RedisJobStore",
        {
            "host": url.hostname,
            "port": url.port,
            "db": int(url.path.strip("/") or 0),
            "jobs_key": f"{prefix}.jobs",
            "run_times_key": f"{prefix}.run_times",
        },
    )
    yield spec
    store = spec.make()
    store.remove_all_jobs()
    store.shutdown()


def started_by_killed_workers(report):
    """
    The fire times the report cannot account for whose start the store nevertheless recorded,
    for a worker killed before it wrote its own record of the start.

    The store records a start at the server; the reply may still be on its way when SIGKILL
    comes. A fire time the store still offered would have been run or reported missed by the
    next claimer before the job's next fire time, so when that next fire time is accounted for,
    the store had moved past this one: its run started, in a process that died.
    """
    accounted = {
        (record.job_id, record.run_time)
        for record in report.records
        if record.kind in ("run", "missed", "skipped", "start")
    }
    interval = report.config.interval
    return [
        (job_id, run_time)
        for job_id, run_time in report.unaccounted()
        if (job_id, run_time + interval) in accounted
        and any(abs(when - run_time) <= report.config.lease_time + 1 for when, _ in report.kills)
    ]


def assert_sound(report):
    """:meth:`ChaosReport.assert_sound`, knowing of starts recorded just before a SIGKILL."""
    report.assert_no_crashes()
    report.assert_no_duplicates()
    assert report.expected(), "the run was too short to check anything"
    lost = sorted(set(report.unaccounted()) - set(started_by_killed_workers(report)))
    assert not lost, f"{len(lost)} fire times lost, e.g. {lost[:5]}; {report.summary()}"
    report.assert_failover_within_lease()


def test_each_fire_time_runs_once_while_processes_get_killed(redis_spec, tmp_path):
    report = run_chaos(redis_spec, ChaosConfig.from_environment(), tmp_path / "chaos")

    print(report.summary())
    assert_sound(report)


def test_a_process_whose_clock_runs_five_minutes_ahead_causes_no_duplicates(redis_spec, tmp_path):
    """Leases end by the Redis server's clock, so the fast process cannot cut them short."""
    config = ChaosConfig(
        processes=3, jobs=8, duration=8.0, kill_every=3.0,
        clock_offsets={2: 300.0}, start_delays={2: 5.0},
    )  # fmt: skip

    report = run_chaos(redis_spec, config, tmp_path / "chaos")

    print(report.summary())
    # duplicates are what a skewed clock must never cause; runs the fast process recorded as
    # started just before a kill may be lost unreported (a known gap, see the docs)
    report.assert_no_crashes()
    report.assert_no_duplicates()
