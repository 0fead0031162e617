"""The thread pool executor starts its worker threads with the scheduler, not mid-burst."""

from __future__ import annotations

import threading

from apscheduler.executors.pool import ThreadPoolExecutor


def pool_threads(prefix: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def test_every_worker_thread_is_running_once_the_executor_starts(scheduler):
    executor = ThreadPoolExecutor(3, pool_kwargs={"thread_name_prefix": "warm-start"})
    assert pool_threads("warm-start") == []

    executor.start(scheduler, "default")
    try:
        assert len(pool_threads("warm-start")) == 3
    finally:
        executor.shutdown()

    assert pool_threads("warm-start") == []


def test_a_restarted_executor_starts_a_fresh_set_of_threads(scheduler):
    executor = ThreadPoolExecutor(2, pool_kwargs={"thread_name_prefix": "restarted"})
    executor.start(scheduler, "default")
    executor.shutdown()

    executor.start(scheduler, "default")
    try:
        assert len(pool_threads("restarted")) == 2
    finally:
        executor.shutdown()
