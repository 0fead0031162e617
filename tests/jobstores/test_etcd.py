"""EtcdJobStore: options, the key layout of APScheduler 3 and paged reads."""

from __future__ import annotations

import pickle

import pytest

from .support import T0, make_job

pytest.importorskip("etcd3")

from apscheduler.jobstores import etcd as etcd_module  # noqa: E402
from apscheduler.jobstores.etcd import EtcdJobStore  # noqa: E402


def test_an_empty_path_is_refused():
    with pytest.raises(ValueError, match='The "path" parameter must not be empty'):
        EtcdJobStore(path="")


def test_the_module_offers_etcd3s_client_and_repr_shows_it():
    import etcd3

    store = EtcdJobStore()

    assert etcd_module.Etcd3Client is etcd3.Etcd3Client
    assert repr(store).startswith("<EtcdJobStore (client=<etcd3.client")
    store.shutdown()


@pytest.mark.external_service
def test_each_job_is_a_key_holding_its_run_time_and_state(etcd_factory):
    store = etcd_factory()
    job = make_job(store._scheduler, "a", T0)
    store.add_job(job)

    data, _ = store.client.get(f"{store.path}/a")

    assert pickle.loads(data) == {"next_run_time": T0.timestamp(), "job_state": job.__getstate__()}


@pytest.mark.external_service
def test_a_store_does_not_see_the_jobs_of_a_path_that_merely_starts_like_its_own(etcd_factory):
    store = etcd_factory()
    sibling = etcd_factory(path=f"{store.path}-sibling")
    sibling.add_job(make_job(sibling._scheduler, "theirs", T0))
    store.add_job(make_job(store._scheduler, "ours", T0))

    assert [job.id for job in store.get_all_jobs()] == ["ours"]
    store.remove_all_jobs()
    assert [job.id for job in sibling.get_all_jobs()] == ["theirs"]
    sibling.remove_all_jobs()


@pytest.mark.external_service
def test_many_jobs_are_read_in_pages(etcd_factory, monkeypatch):
    monkeypatch.setattr(etcd_module, "_PAGE_SIZE", 4)
    store = etcd_factory()
    for index in range(10):
        store.add_job(make_job(store._scheduler, f"job{index:02}", T0))

    assert [job.id for job in store.get_all_jobs()] == [f"job{index:02}" for index in range(10)]
