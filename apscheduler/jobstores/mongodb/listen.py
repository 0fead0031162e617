"""
Hearing about other processes' changes to a MongoDB job collection, over a change stream.

A change stream needs a replica set (a one-node replica set will do). The stream leaves out the
lease updates, and carries only the new run time of the changed job, which is all a scheduler
needs to decide whether to wake up. A run request that makes a job due sooner moves that run
time too, so it wakes the others as any write does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from apscheduler.jobstores._listener import ChangeListener

# The changes that can bring a job forward: new jobs and new run times. Claims and releases
# only touch the lease fields, and are left out, as is everything but the run time.
_CHANGES: list[dict[str, Any]] = [
    {
        "$match": {
            "$or": [
                {"operationType": {"$in": ["insert", "replace"]}},
                {"updateDescription.updatedFields.next_run_time": {"$exists": True}},
            ]
        }
    },
    {
        "$project": {
            "operationType": 1,
            "fullDocument.next_run_time": 1,
            "updateDescription.updatedFields.next_run_time": 1,
        }
    },
]
# stands for the writer in change messages: a change stream does not say who wrote
_ANY_WRITER = "stream"


class _Stream:
    """A change stream that reopens itself when the collection is dropped (tests, wipes)."""

    def __init__(self, collection: Any, max_await_ms: int) -> None:
        self.collection = collection
        self.max_await_ms = max_await_ms
        self.stream = self.open()

    def open(self) -> Any:
        return self.collection.watch(_CHANGES, max_await_time_ms=self.max_await_ms)


def mongodb_listener(
    collection: Any,
    on_message: Callable[[str], None],
    on_reconnect: Callable[[], None],
    logger: logging.Logger,
) -> ChangeListener[_Stream]:
    """Return a (not yet started) listener on the change stream of ``collection``."""
    max_await_ms = int(ChangeListener.receive_timeout * 1000)
    return ChangeListener(
        f"APScheduler notifications ({collection.full_name})",
        lambda: _Stream(collection, max_await_ms),
        _receive,
        lambda holder: holder.stream.close(),
        on_message,
        on_reconnect,
        logger,
    )


def _receive(holder: _Stream, timeout: float) -> Iterator[str]:
    # waits up to the stream's max_await_time_ms; the driver resumes the stream by itself
    # after a network error, without losing changes
    change = holder.stream.try_next()
    if change is None:
        if not holder.stream.alive:
            # invalidated: the collection was dropped or renamed; watch it anew
            holder.stream.close()
            holder.stream = holder.open()
        return

    if change.get("operationType") == "update":
        run_time = change.get("updateDescription", {}).get("updatedFields", {})
    else:
        run_time = change.get("fullDocument") or {}
    value = run_time.get("next_run_time")
    yield f"{_ANY_WRITER} {'' if value is None else repr(float(value))}"


__all__ = ["mongodb_listener"]
