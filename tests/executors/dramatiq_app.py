"""
The module the Dramatiq workers of the tests load (``dramatiq tests.executors.dramatiq_app``),
with the jobs they run.

The broker's Redis and namespace come from the environment. Its heartbeat timeout is short
and it looks for dead workers at every command, so that the messages of a killed worker are
delivered again within seconds rather than minutes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from apscheduler.executors.dramatiq import install

URL_VARIABLE = "APSCHEDULER_TEST_DRAMATIQ_URL"
NAMESPACE_VARIABLE = "APSCHEDULER_TEST_DRAMATIQ_NAMESPACE"
#: milliseconds without a heartbeat after which a worker counts as dead
HEARTBEAT_TIMEOUT = 3000
#: the queues the workers of the tests take messages from
QUEUES = ("default", "lost")


def make_broker(url: str, namespace: str) -> RedisBroker:
    """A Redis broker with the Results middleware, for the workers and the scheduler alike."""
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=url,
        namespace=namespace,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        maintenance_chance=MAINTENANCE_SCALE,
    )
    backend = RedisBackend(client=broker.client)
    broker.add_middleware(Results(backend=backend))  # type: ignore[no-untyped-call]
    return broker


broker = make_broker(
    os.environ.get(URL_VARIABLE, "redis://127.0.0.1:6379/0"),
    os.environ.get(NAMESPACE_VARIABLE, "dramatiq"),
)
dramatiq.set_broker(broker)
install(broker, queue_name=QUEUES)


class DramatiqAppError(Exception):
    """What a failing job raises (imported by the tests too, so it comes back as itself)."""


def add(a: int, b: int) -> int:
    return a + b


def fail(text: str) -> None:
    raise DramatiqAppError(text)


def count_run(redis_url: str, key: str) -> int:
    """Count the runs of this job in ``key``."""
    return int(redis.Redis.from_url(redis_url).incr(key))


def slow(redis_url: str, key: str, seconds: float) -> str:
    """Say in ``key`` that the run started, then take ``seconds``."""
    redis.Redis.from_url(redis_url).incr(key)
    time.sleep(seconds)
    return "done"


def stall(redis_url: str, key: str) -> None:
    """Count the run and leave the worker's pid in ``key``, then run until killed."""
    client = redis.Redis.from_url(redis_url)
    client.incr(key + ":runs")
    client.set(key, os.getpid())
    _spin(60)


def spin(seconds: float) -> str:
    """Run Python code for ``seconds``, where Dramatiq's time limit can interrupt it."""
    _spin(seconds)
    return "finished"


def _spin(seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
