"""
Run requests (``run_job_now``) kept in the job documents of a MongoDB job collection.

A job asked to run gets an array field ``requests`` of ``{run_id, requested_at}`` documents
(``requested_at`` a UTC timestamp, as ``next_run_time`` is), in the order they came, and its
``next_run_time`` field is brought forward to the oldest one. While requests are pending, that
field says when the job is due, which may be earlier than the run time in the pickled job (its
own schedule, which a request leaves alone). A job without requests has no such field, so the
documents of APScheduler 3 and of earlier releases need no conversion, and cost nothing more.

A request ends any claim on the job, as a user's write does, and the start of a claimed job
forgets its requests as it gives up the lease. A claim leases a job only while its due time and
its requests are as the claim read them, so a start never forgets a request its claim did not
hand over. The expressions here use ``$map`` rather than array field paths, which a few
servers of the MongoDB protocol do not follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from apscheduler.jobstores.shared import RunRequest
from apscheduler.util import datetime_to_utc_timestamp

#: the field of a job document that holds its pending run requests
REQUESTS = "requests"

#: the pending requests of a job document (an empty list if it has none)
_PENDING: dict[str, Any] = {"$ifNull": [f"${REQUESTS}", []]}


def _each_pending(field: str) -> dict[str, Any]:
    """The ``field`` of every pending request of a job document, in the order they came."""
    return {"$map": {"input": _PENDING, "in": f"$$this.{field}"}}


def request_pipeline(request: RunRequest) -> list[dict[str, Any]]:
    """
    The update that records ``request`` with a job, makes it due and ends any claim on it.

    Recording the same run id again changes nothing more, so a retry after a lost reply is
    harmless.
    """
    requested_at = datetime_to_utc_timestamp(request.requested_at)
    entry = {"run_id": request.run_id, "requested_at": requested_at, "attempt": request.attempt}
    known = {"$in": [{"$literal": request.run_id}, _each_pending("run_id")]}
    added = {"$concatArrays": [_PENDING, [{"$literal": entry}]]}
    return [
        {
            "$set": {
                REQUESTS: {"$cond": [known, f"${REQUESTS}", added]},
                # aggregation's $min passes over a null: a paused job becomes due too
                "next_run_time": {"$min": ["$next_run_time", {"$literal": requested_at}]},
            }
        },
        {"$unset": ["lease_owner", "lease_expires"]},
    ]


def due_time(run_time: float | None) -> dict[str, Any]:
    """
    The ``next_run_time`` field of a job rescheduled to ``run_time``: that, or its oldest
    pending request if earlier (``None``: paused, and nothing asked for).
    """
    return {"$min": [{"$literal": run_time}, {"$min": _each_pending("requested_at")}]}


def requests_of(document: Mapping[str, Any]) -> tuple[RunRequest, ...]:
    """The pending requests of a job document, oldest first (ties: by run id)."""
    pending = sorted(
        (entry["requested_at"], entry["run_id"], entry.get("attempt", 1))
        for entry in document.get(REQUESTS, ())
    )
    return tuple(
        RunRequest(run_id, datetime.fromtimestamp(requested_at, timezone.utc), attempt)
        for requested_at, run_id, attempt in pending
    )


def as_read(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """
    A filter of the job documents among ``rows`` that are still as read, requests included.

    Requests are only ever added, and all of them dropped by a start; a start moves the due
    time on (or a request brings it to a new moment). So a document with as many requests and
    the same due time has not changed in a way a claim must know of, and a document read
    without requests must still have none.
    """
    plain: list[str] = []
    conditions: list[dict[str, Any]] = []
    for row in rows:
        if REQUESTS in row:
            conditions.append(
                {
                    "_id": row["_id"],
                    "next_run_time": row["next_run_time"],
                    REQUESTS: {"$size": len(row[REQUESTS])},
                }
            )
        else:
            plain.append(row["_id"])
    if plain:
        conditions.append({"_id": {"$in": plain}, REQUESTS: {"$exists": False}})
    return conditions[0] if len(conditions) == 1 else {"$or": conditions}


__all__ = ["REQUESTS", "as_read", "due_time", "request_pipeline", "requests_of"]
