"""
Leases and change streams for :class:`~apscheduler.jobstores.mongodb.MongoDBJobStore`.

A claimed job's document gets two more fields: ``lease_owner`` (the scheduler holding it) and
``lease_expires`` (seconds since the epoch by the server's clock, ``$$NOW``). A document without
them is free, so collections written by APScheduler 3 need no conversion. The queries here use
pipeline updates, ``$expr`` and ``$$NOW``, which need MongoDB 4.2 or later.

Other processes' changes arrive over a change stream (which needs a replica set; a one-node
replica set will do). The stream leaves out the lease updates, and carries only the new run
time of the changed job, which is all a scheduler needs to decide whether to wake up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from apscheduler.jobstores._shared import ChangeListener

#: the server's clock, in seconds since the epoch
SERVER_NOW: dict[str, Any] = {"$divide": [{"$toLong": "$$NOW"}, 1000]}
#: documents nobody holds: never leased, given back, or with a lease that ran out
FREE: dict[str, Any] = {
    "$or": [{"lease_owner": None}, {"$expr": {"$lte": ["$lease_expires", SERVER_NOW]}}]
}
#: documents whose lease has not run out yet
LEASED: dict[str, Any] = {
    "lease_owner": {"$ne": None},
    "$expr": {"$gt": ["$lease_expires", SERVER_NOW]},
}
#: an update that gives the lease up
UNLEASE: dict[str, Any] = {"$unset": {"lease_owner": "", "lease_expires": ""}}

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


def lease(owner: str, lease_time: float) -> list[dict[str, Any]]:
    """The pipeline update that leases a document to ``owner`` by the server's clock."""
    expires = {"$add": [SERVER_NOW, lease_time]}
    return [{"$set": {"lease_owner": owner, "lease_expires": expires}}]


def move_on(next_run_time: float, job_state: bytes) -> dict[str, Any]:
    """The update that records a claimed job's new run time and state and gives the lease up."""
    return {
        "$set": {"next_run_time": next_run_time, "job_state": job_state},
        "$unset": {"lease_owner": "", "lease_expires": ""},
    }


def earliest_lease_end(local_now: float, before: float | None) -> list[dict[str, Any]]:
    """
    The aggregation that finds when the first held job may be run, by the caller's clock.

    A held job is worth a look once its lease has run out (its expiry on the server's clock,
    moved onto the caller's clock) and it is due. Only jobs due before ``before`` (the first
    free job's run time) need a look; later ones cannot come first.
    """
    due: dict[str, Any] = {"$ne": None} if before is None else {"$lt": before}
    lease_end = {"$add": [local_now, {"$subtract": ["$lease_expires", SERVER_NOW]}]}
    free_at = {"$max": ["$next_run_time", lease_end]}
    return [
        {"$match": {"next_run_time": due, **LEASED}},
        {"$group": {"_id": None, "free_at": {"$min": free_at}}},
    ]


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
