"""
The queries by which schedulers share out the jobs of one MongoDB collection.

A claimed job's document gets two more fields: ``lease_owner`` (the scheduler holding it) and
``lease_expires`` (seconds since the epoch by the server's clock, ``$$NOW``). A document without
them is free, so collections written by APScheduler 3 need no conversion. The queries here use
pipeline updates, ``$expr`` and ``$$NOW``, which need MongoDB 4.2 or later.

A write by a user (adding, changing or removing a job) ends any claim on the job, and a claimed
job is moved on only by a write that finds its lease still held by the claimer: so a change
made since the claim is never overwritten, and the claimer's start of the job is lost instead.
A run request (:mod:`~apscheduler.jobstores.mongodb.run_requests`) ends a claim in the same way,
and the start of a claimed job forgets the job's requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, NamedTuple

from bson.binary import Binary
from pymongo import ASCENDING, DeleteOne, UpdateOne
from pymongo.collection import Collection

from apscheduler.jobstores.mongodb.run_requests import REQUESTS, as_read

#: the server's clock, in seconds since the epoch
SERVER_NOW: dict[str, Any] = {"$divide": [{"$toLong": "$$NOW"}, 1000]}
#: documents nobody holds: never leased, given back, or with a lease that ran out
FREE: dict[str, Any] = {
    "$or": [{"lease_owner": None}, {"$expr": {"$lte": ["$lease_expires", SERVER_NOW]}}]
}
#: documents whose lease has not run out yet (the sparse index on the owner finds them)
LEASED: dict[str, Any] = {
    "lease_owner": {"$exists": True},
    "$expr": {"$gt": ["$lease_expires", SERVER_NOW]},
}
#: the update operator that ends a claim
UNLEASE: dict[str, Any] = {"$unset": {"lease_owner": "", "lease_expires": ""}}
#: the pipeline stage that ends a claim
UNLEASE_STAGE: dict[str, Any] = {"$unset": ["lease_owner", "lease_expires"]}
#: the update operator that ends a claim and forgets the run requests it handed over
UNLEASE_AND_FORGET: dict[str, Any] = {"$unset": {**UNLEASE["$unset"], REQUESTS: ""}}


def _free_at(caller_now: float) -> dict[str, Any]:
    """When a leased job may be taken: its lease's end, moved onto the caller's clock."""
    lease_end = {"$add": [caller_now, {"$subtract": ["$lease_expires", SERVER_NOW]}]}
    return {"$max": ["$next_run_time", lease_end]}


class Outlook(NamedTuple):
    """The free jobs first in line, and when the first job held by a scheduler is free."""

    #: free scheduled documents in run time order, with ``job_state`` (and ``requests``, if
    #: the job has some) only if due
    rows: list[dict[str, Any]]
    #: the earliest end of a lease on a scheduled job, by the caller's clock (``None``: none)
    held_until: float | None


class Move(NamedTuple):
    """How a start leaves one claimed job: stored with a new run time (or paused), or removed."""

    job_id: str
    #: the new run time (a UTC timestamp; ``None``: paused, or removed)
    run_time: float | None
    #: the pickled job to store (``None``: remove the job)
    data: Binary | None


class Fate(Enum):
    """What came of one :class:`Move`."""

    #: the job is stored as the move says
    MOVED = "moved"
    #: the claim was lost before the move (another owner, a user's change): nothing changed
    LOST = "lost"
    #: the move did not happen, and the job is still leased to the mover, who must release it
    HELD = "held"
    #: the move may or may not have happened (the write failed, or the job changed since)
    UNKNOWN = "unknown"


class MongoLeases:
    """
    The lease queries on one job collection: what a claim sees, the claim, moving jobs on.

    Each method is one or two round trips, and raises what the driver raises: the store
    retries them.
    """

    def __init__(self, collection: Collection[dict[str, Any]], lease_time: float) -> None:
        self.collection = collection
        self.lease_time = lease_time

    def create_indexes(self) -> None:
        self.collection.create_index("next_run_time", sparse=True)
        # few documents are leased at a time: a sparse index finds them without a scan
        self.collection.create_index("lease_owner", sparse=True)

    # --- claiming --------------------------------------------------------------------------

    def outlook(
        self, caller_now: float, left_out: Sequence[str], limit: int, due_by: float | None
    ) -> Outlook:
        """
        Read the first ``limit`` free scheduled jobs (but ``left_out``) and the first lease end.

        One round trip: the first lease end rides along on each row (a ``$lookup`` that does
        not depend on the row, which the server caches rather than runs for each); a second
        one only if no job is free.

        :param due_by: the pickled jobs and their run requests come along for the rows due by
            then (``None``: never)
        """
        held = self._held_pipeline(caller_now)
        wanted = {"next_run_time": {"$ne": None}, "_id": {"$nin": list(left_out)}, **FREE}
        with_state = False if due_by is None else {"$lte": ["$next_run_time", due_by]}
        pipeline: list[dict[str, Any]] = [
            {"$match": wanted},
            {"$sort": {"next_run_time": ASCENDING, "_id": ASCENDING}},
            {"$limit": limit},
            {
                "$project": {
                    "next_run_time": True,
                    "job_state": {"$cond": [with_state, "$job_state", "$$REMOVE"]},
                    REQUESTS: {"$cond": [with_state, f"${REQUESTS}", "$$REMOVE"]},
                }
            },
            {"$lookup": {"from": self.collection.name, "pipeline": held, "as": "held"}},
        ]
        rows = list(self.collection.aggregate(pipeline))
        summary = rows[0]["held"] if rows else list(self.collection.aggregate(held))
        return Outlook(rows, summary[0]["free_at"] if summary else None)

    @staticmethod
    def _held_pipeline(caller_now: float) -> list[dict[str, Any]]:
        return [
            {"$match": {**LEASED, "next_run_time": {"$ne": None}}},
            {"$group": {"_id": None, "free_at": {"$min": _free_at(caller_now)}}},
        ]

    def lease(
        self, owner: str, due_by: float, rows: Sequence[dict[str, Any]], caller_now: float
    ) -> tuple[set[str], list[float]]:
        """
        Lease to ``owner`` those of the jobs read as ``rows`` that are still free, due and as
        read (their run requests too: see :func:`~.run_requests.as_read`).

        One round trip; one more if another scheduler took some of them first (or a request
        came meanwhile: the job is free at once then, to be claimed again with it).

        :return: the ids leased, and when each of the others may be taken, by the caller's clock
        """
        lease = [
            {
                "$set": {
                    "lease_owner": {"$literal": owner},
                    "lease_expires": {"$add": [SERVER_NOW, self.lease_time]},
                }
            }
        ]
        job_ids = [row["_id"] for row in rows]
        due: dict[str, Any] = {"next_run_time": {"$lte": due_by}, **FREE}
        unchanged = as_read(rows)
        if "$or" in unchanged:
            due["$and"] = [unchanged]  # FREE has an $or of its own
        else:
            due.update(unchanged)
        if self.collection.update_many(due, lease).matched_count == len(job_ids):
            return set(job_ids), []

        leased_expr = {"$gt": ["$lease_expires", SERVER_NOW]}
        taken_at = {"$cond": [leased_expr, _free_at(caller_now), "$next_run_time"]}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"_id": {"$in": job_ids}}},
            {"$project": {"lease_owner": True, "free_at": taken_at}},
        ]
        won: set[str] = set()
        others: list[float] = []
        for document in self.collection.aggregate(pipeline):
            if document.get("lease_owner") == owner:
                won.add(document["_id"])
            elif document.get("free_at") is not None:
                others.append(document["free_at"])
        return won, others

    def release(self, owner: str, job_ids: list[str]) -> None:
        self.collection.update_many({"_id": {"$in": job_ids}, "lease_owner": owner}, UNLEASE)

    # --- moving claimed jobs on ------------------------------------------------------------

    def move_on(self, owner: str, moves: Sequence[Move]) -> list[Fate]:
        """
        Make every move whose job is still leased to ``owner``, giving the lease up and
        forgetting the job's run requests (the claim handed them all over, as a request that
        came since would have ended the lease).

        One round trip (two if some jobs are removed: updates and deletes are separate
        commands). A bulk write only counts the documents it matched, so when it matched fewer
        than all, one more round trip reads the jobs to tell which moves went through.
        """
        requests = [
            UpdateOne(
                {"_id": move.job_id, "lease_owner": owner},
                {
                    "$set": {"next_run_time": move.run_time, "job_state": move.data},
                    **UNLEASE_AND_FORGET,
                },
            )
            if move.data is not None
            else DeleteOne({"_id": move.job_id, "lease_owner": owner})
            for move in moves
        ]
        result = self.collection.bulk_write(requests, ordered=False)
        fates = [Fate.MOVED] * len(moves)
        for removals, matched in ((False, result.matched_count), (True, result.deleted_count)):
            positions = [i for i, move in enumerate(moves) if (move.data is None) is removals]
            if matched < len(positions):
                judged = self._judge(owner, [moves[i] for i in positions], matched)
                for position, fate in zip(positions, judged, strict=True):
                    fates[position] = fate
        return fates

    def recognise(self, owner: str, moves: Sequence[Move], fates: list[Fate]) -> list[Fate]:
        """
        Judge again, by the jobs as stored, the moves not known to be done.

        For a retry (a write whose reply was lost may have gone through) and after a failed
        write: a job stored as the move leaves it was moved by it.
        """
        if all(fate is Fate.MOVED for fate in fates):
            return fates
        pending = [move for move, fate in zip(moves, fates, strict=True) if fate is not Fate.MOVED]
        judged = iter(self._judge(owner, pending, None))
        return [fate if fate is Fate.MOVED else next(judged) for fate in fates]

    def _judge(self, owner: str, moves: Sequence[Move], matched: int | None) -> list[Fate]:
        """
        Tell from the stored jobs what came of moves of one kind (updates, or removals).

        A job still leased to ``owner`` did not move. Otherwise the stored job may show the
        move (the pickle as given, or no job for a removal), or not; that alone proves nothing,
        as a job that moved may have changed again since, and a job that another scheduler
        took over may have been moved by it to the very same state. So the stored jobs are
        trusted only if as many show the move as the write matched (``matched``; ``None``
        after a retry or a failed write, when nobody knows: then only a job that shows the move
        counts as moved, and one that does not is unknown).
        """
        ids = [move.job_id for move in moves]
        found = self.collection.find({"_id": {"$in": ids}}, ["lease_owner", "job_state"])
        stored = {document["_id"]: document for document in found}
        held = [stored.get(move.job_id, {}).get("lease_owner") == owner for move in moves]
        shown = [_shows(move, stored.get(move.job_id)) for move in moves]
        showing = sum(shows and not is_held for shows, is_held in zip(shown, held, strict=True))
        if matched == 0:
            # none of them moved, whatever the jobs show now
            return [Fate.HELD if is_held else Fate.LOST for is_held in held]

        trusted = matched is not None and showing == matched
        fates = []
        for shows, is_held in zip(shown, held, strict=True):
            if is_held:
                fates.append(Fate.HELD)
            elif matched is None:
                fates.append(Fate.MOVED if shows else Fate.UNKNOWN)
            elif trusted:
                fates.append(Fate.MOVED if shows else Fate.LOST)
            else:
                fates.append(Fate.UNKNOWN)
        return fates


def _shows(move: Move, document: dict[str, Any] | None) -> bool:
    """Tell whether a stored job (``None``: none) is as ``move`` leaves it."""
    if move.data is None:
        return document is None
    # as bytes: a Binary equals nothing but another Binary
    return (
        document is not None
        and "lease_owner" not in document
        and bytes(document["job_state"]) == bytes(move.data)
    )


__all__ = [
    "FREE",
    "LEASED",
    "SERVER_NOW",
    "UNLEASE",
    "UNLEASE_AND_FORGET",
    "UNLEASE_STAGE",
    "Fate",
    "MongoLeases",
    "Move",
    "Outlook",
]
