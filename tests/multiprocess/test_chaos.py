"""
Several scheduler processes on one store, some killed with SIGKILL and started again.

Each store's chaos run takes about 20 seconds with the CI-sized parameters;
``APSCHEDULER_CHAOS=full`` runs the full scenario (100 jobs for 30 seconds, a kill every 5 s).
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from tests.services import require_module

from .harness import ChaosConfig, StoreSpec, check_max_instances_across_processes, run_chaos

SQLALCHEMY_STORE = "apscheduler.jobstores.sqlalchemy:SQLAlchemyJobStore"


@pytest.fixture
def sqlite_spec(tmp_path):
    require_module("sqlalchemy")
    return StoreSpec(SQLALCHEMY_STORE, {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"})


@pytest.fixture
def postgresql_spec(postgres_url):
    require_module("psycopg")
    spec = StoreSpec(
        SQLALCHEMY_STORE, {"url": postgres_url, "tablename": f"chaos_{uuid4().hex[:12]}"}
    )
    yield spec
    store = spec.make()
    store.start(None, "cleanup")
    store.jobs_t.metadata.drop_all(store.engine)
    store.shutdown()


@pytest.fixture(
    params=[
        pytest.param("sqlite_spec", id="sqlite"),
        pytest.param("postgresql_spec", id="postgresql", marks=pytest.mark.external_service),
    ]
)
def store_spec(request):
    return request.getfixturevalue(request.param)


def test_each_fire_time_runs_once_while_processes_get_killed(store_spec, tmp_path):
    report = run_chaos(store_spec, ChaosConfig.from_environment(), tmp_path / "chaos")

    print(report.summary())
    report.assert_sound()


def test_a_process_whose_clock_runs_five_minutes_ahead_causes_no_duplicates(store_spec, tmp_path):
    """
    The fast process runs every job early and reports the runs it is too late for as missed;
    the others must neither run those again nor take its leases before they end. Kills still
    lose nothing unreported.
    """
    config = ChaosConfig(
        processes=3, jobs=8, duration=8.0, kill_every=3.0,
        clock_offsets={2: 300.0}, start_delays={2: 5.0},
    )  # fmt: skip

    report = run_chaos(store_spec, config, tmp_path / "chaos")

    print(report.summary())
    report.assert_no_crashes()
    report.assert_no_duplicates()
    report.assert_complete()


def test_the_runs_a_killed_process_had_claimed_run_elsewhere_once_its_lease_ends(
    store_spec, tmp_path
):
    """The first process dies holding the claims of the first fire time, before any run."""
    config = ChaosConfig(
        processes=2, jobs=10, duration=5.0, kill_every=0, die_on_claim=(0,),
        start_delays={1: 4.5},
    )  # fmt: skip

    report = run_chaos(store_spec, config, tmp_path / "chaos")

    print(report.summary())
    report.assert_sound()
    assert len(report.kills) == 1
    first_runs = [r for r in report.of_kind("run") if r.run_time == report.first_fire_time]
    assert len(first_runs) == config.jobs
    lags = [r.wall_time - r.run_time for r in first_runs]
    assert config.lease_time - 0.5 < min(lags), "taken over only once the lease had expired"
    assert max(lags) < config.lease_time + config.failover_margin


def test_max_instances_holds_across_processes(store_spec, tmp_path):
    check_max_instances_across_processes(store_spec, tmp_path / "chaos")
