"""ZooKeeperJobStore: options and the node layout of APScheduler 3."""

from __future__ import annotations

import logging
import pickle
import socket
import time

import pytest

from .support import T0, make_job

pytest.importorskip("kazoo")

from apscheduler.jobstores.zookeeper import ZooKeeperJobStore  # noqa: E402


def test_an_empty_path_is_refused():
    with pytest.raises(ValueError, match='The "path" parameter must not be empty'):
        ZooKeeperJobStore(path="")


def test_the_module_offers_kazoos_client_and_repr_shows_it():
    from kazoo.client import KazooClient as Kazoo

    from apscheduler.jobstores.zookeeper import KazooClient

    store = ZooKeeperJobStore()

    assert KazooClient is Kazoo
    assert repr(store).startswith("<ZooKeeperJobStore (client=<kazoo.client.KazooClient")
    store.client.close()


@pytest.mark.external_service
def test_each_job_is_a_node_holding_its_run_time_and_state(zookeeper_factory):
    store = zookeeper_factory()
    job = make_job(store._scheduler, "a", T0)
    store.add_job(job)

    data, _ = store.client.get(f"{store.path}/a")

    assert pickle.loads(data) == {"next_run_time": T0.timestamp(), "job_state": job.__getstate__()}


@pytest.mark.external_service
@pytest.mark.parametrize("close", [False, True], ids=["kept-open", "closed"])
def test_the_client_is_closed_on_shutdown_only_when_asked(zookeeper_factory, close):
    store = zookeeper_factory(close_connection_on_exit=close)

    store.shutdown()

    assert store.client.connected is not close
    if not close:
        store.client.stop()
        store.client.close()


def test_a_store_started_while_the_server_is_unreachable_starts_and_says_so(caplog):
    from .support import RecordingScheduler

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ZooKeeperJobStore(
        hosts=f"127.0.0.1:{port}", retry_timeout=0.2, close_connection_on_exit=True
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="apscheduler.jobstores.default"):
        store.start(RecordingScheduler(), "default")

    assert time.monotonic() - started < 5
    assert "set it up on first use" in caplog.text
    store.client.close()
