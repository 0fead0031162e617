"""
Several scheduler processes on one MongoDB store, some killed with SIGKILL and started again.

The CI-sized run takes about 20 seconds; ``APSCHEDULER_CHAOS=full`` runs the full scenario
(100 jobs for 30 seconds, a kill every 5 s).
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.services import require_module

from .harness import ChaosConfig, StoreSpec, check_max_instances_across_processes, run_chaos

pytestmark = pytest.mark.external_service


@pytest.fixture
def mongodb_spec(mongodb_url):
    require_module("pymongo")
    spec = StoreSpec(
        "apscheduler.jobstores.mongodb:MongoDBJobStore",
        {
            "host": mongodb_url,
            "database": "apscheduler_chaos",
            "collection": f"jobs_{uuid4().hex[:12]}",
            "serverSelectionTimeoutMS": 5000,
        },
    )
    yield spec
    store = spec.make()
    store.collection.drop()
    store.runs_collection.drop()
    store.shutdown()


def test_each_fire_time_runs_once_while_processes_get_killed(mongodb_spec, tmp_path):
    report = run_chaos(mongodb_spec, ChaosConfig.from_environment(), tmp_path / "chaos")

    print(report.summary())
    report.assert_sound()


def test_a_process_whose_clock_runs_five_minutes_ahead_causes_no_duplicates(
    mongodb_spec, tmp_path
):
    """Leases end by the server's clock ($$NOW), so the fast process cannot cut them short."""
    config = ChaosConfig(
        processes=3, jobs=8, duration=8.0, kill_every=3.0,
        clock_offsets={2: 300.0}, start_delays={2: 5.0},
    )  # fmt: skip

    report = run_chaos(mongodb_spec, config, tmp_path / "chaos")

    print(report.summary())
    report.assert_no_crashes()
    report.assert_no_duplicates()
    report.assert_complete()


def test_max_instances_holds_across_processes(mongodb_spec, tmp_path):
    check_max_instances_across_processes(mongodb_spec, tmp_path / "chaos")
