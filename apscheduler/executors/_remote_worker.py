"""
The worker side of the remote executors: run one message's job, each run time at most once.

A task queue may deliver a message twice: it redelivers one whose worker died before
acknowledging it, and anyone can publish a copy. Before a run starts, its idempotency key is
claimed in a :class:`RunClaims` store (the broker's Redis unless the worker names another); a
key already claimed means another delivery has it, and this one does not run it. A redelivery
(the engine says so) of a key claimed but never finished means the worker that claimed it died
mid-run: that run is reported lost, not run again.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from apscheduler.executors._remote_messages import (
    DUPLICATE,
    ERROR,
    EXECUTED,
    LOST,
    MISSED,
    TIMED_OUT,
    RunMessage,
    RunOutcome,
)
from apscheduler.util import ref_to_obj

UTC = timezone.utc
#: how long a finished run's key keeps refusing copies of its message (seconds)
DEFAULT_CLAIM_TTL = 7 * 24 * 3600

#: what :meth:`RunClaims.claim` answers when the key was free and is now the caller's
CLAIMED = "claimed"
#: ... when another delivery claimed the key and has not finished its run
RUNNING = "running"
#: ... when the run of the key is over
FINISHED = "finished"


class RunClaims(Protocol):
    """Where workers mark the runs they take, so that a run is taken once."""

    def claim(self, key: str, holder: str) -> str:
        """
        Take ``key`` for ``holder`` if nobody has it: :data:`CLAIMED`; else what it is now,
        :data:`RUNNING` (claimed, not finished) or :data:`FINISHED`.
        """
        ...

    def finish(self, key: str) -> None:
        """Mark the run of ``key`` finished (it keeps refusing copies for a while)."""
        ...


class RedisRunClaims:
    """
    :class:`RunClaims` in Redis: one string per run, ``SET NX`` to claim, expiring after
    ``ttl`` seconds.

    :param client: a ``redis.Redis`` client (the broker's, usually)
    :param prefix: the prefix of the keys
    :param ttl: seconds a key lives after its claim and after its finish
    """

    def __init__(
        self, client: Any, prefix: str = "apscheduler.run:", ttl: int = DEFAULT_CLAIM_TTL
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl = ttl

    def claim(self, key: str, holder: str) -> str:
        name = self.prefix + key
        if self.client.set(name, f"running {holder}", nx=True, ex=self.ttl):
            return CLAIMED
        value = self.client.get(name)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        return FINISHED if value == "finished" else RUNNING

    def finish(self, key: str) -> None:
        self.client.set(self.prefix + key, "finished", ex=self.ttl)


def claims_from(value: Any, ttl: int = DEFAULT_CLAIM_TTL) -> RunClaims:
    """
    The claims store a worker was given: a :class:`RunClaims`, a ``redis.Redis`` client, or a
    ``redis://`` URL.

    :raises TypeError: for anything else (the value is named)
    """
    if isinstance(value, str):
        import redis  # the remote executors' extras bring it

        return RedisRunClaims(redis.Redis.from_url(value), ttl=ttl)
    if hasattr(value, "claim") and hasattr(value, "finish"):
        return value  # type: ignore[no-any-return]
    if hasattr(value, "set") and hasattr(value, "get"):
        return RedisRunClaims(value, ttl=ttl)
    raise TypeError(
        f"claims must be a redis:// URL, a redis.Redis client or a RunClaims, not {value!r}"
    )


def worker_name() -> str:
    """``host:pid`` of this worker process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_message(
    message: RunMessage,
    claims: RunClaims,
    *,
    redelivered: bool = False,
    on_timeout: type[BaseException] | tuple[type[BaseException], ...] = (),
) -> list[RunOutcome]:
    """
    Run the job of ``message`` once for each of its run times not taken already; return what
    happened to each.

    The callable is imported by its text reference, as a job store loads a job. An exception
    the job raises is reported, never raised here: the task queue sees a task that ended.

    :param redelivered: the engine delivers this message again after its worker died
    :param on_timeout: the exceptions by which the engine stops a run at its time limit (such
        a run is reported timed out)
    """
    holder = worker_name()
    func: Callable[..., Any] | None = None
    outcomes: list[RunOutcome] = []
    for run_time_text, key in zip(message["run_times"], message["keys"], strict=True):
        run_time = datetime.fromisoformat(run_time_text)
        base = RunOutcome(run_time=run_time_text, key=key, worker=holder)
        state = claims.claim(key, holder)
        if state != CLAIMED:
            outcomes.append(_not_taken(base, state, redelivered))
            continue

        missed = _missed_reason(message, run_time)
        if missed is not None:
            claims.finish(key)
            outcomes.append({**base, "outcome": MISSED, "reason": missed})
            continue

        started_at = datetime.now(UTC)
        try:
            if func is None:
                func = ref_to_obj(message["func"])
            retval = _call(func, message["args"], message["kwargs"])
        except on_timeout:
            outcomes.append({**_failure(base, started_at), "outcome": TIMED_OUT})
        except Exception:
            outcomes.append(_failure(base, started_at))
        else:
            finished_at = datetime.now(UTC)
            outcomes.append(
                {
                    **base,
                    "outcome": EXECUTED,
                    "retval": _plain(retval),
                    "started_at": started_at.isoformat(),
                    "finished_at": finished_at.isoformat(),
                }
            )
        claims.finish(key)
    return outcomes


def _not_taken(base: RunOutcome, state: str, redelivered: bool) -> RunOutcome:
    if state == RUNNING and redelivered:
        reason = (
            "its worker stopped before finishing it (the task queue delivered the message "
            "again); not run twice"
        )
        return {**base, "outcome": LOST, "reason": reason}
    return {**base, "outcome": DUPLICATE, "reason": f"another delivery has it ({state})"}


def _missed_reason(message: RunMessage, run_time: datetime) -> str | None:
    """Why a run that waited too long in the queue is not made (``misfire_grace_time``)."""
    grace = message["misfire_grace_time"]
    if grace is None:
        return None
    lateness = datetime.now(UTC) - run_time
    if lateness <= timedelta(seconds=grace):
        return None
    return (
        f"started {lateness.total_seconds():.1f} s after its scheduled time, beyond "
        f"misfire_grace_time={grace:g}"
    )


def _call(func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(func):
        return asyncio.run(func(*args, **kwargs))
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _failure(base: RunOutcome, started_at: datetime) -> RunOutcome:
    """The outcome of the run whose exception is being handled."""
    exc = sys.exc_info()[1]
    assert exc is not None
    cls = type(exc)
    module = cls.__module__
    exc_args = [_plain(arg) for arg in exc.args]
    return {
        **base,
        "outcome": ERROR,
        "exc_type": cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}",
        "exc_args": exc_args,
        "exc_text": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
    }


def _plain(value: Any) -> Any:
    """``value`` if it is plain JSON, else its ``repr()`` (what travels back must be JSON)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


__all__ = [
    "CLAIMED",
    "DEFAULT_CLAIM_TTL",
    "FINISHED",
    "RUNNING",
    "RedisRunClaims",
    "RunClaims",
    "claims_from",
    "run_message",
    "worker_name",
]
