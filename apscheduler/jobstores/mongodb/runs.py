"""
The runs in progress of a shared :class:`~apscheduler.jobstores.mongodb.MongoDBJobStore`.

They live in a collection of their own, named after the job collection with ``_runs`` added,
one document per start: ``{_id: run id, job_id, owner, run_times, expires}``. ``expires`` is on
the server's clock (``$$NOW``), as the leases on jobs are, and the scheduler that started the
runs pushes it on every few seconds while they go on. Runs whose expiry has passed belong to a
scheduler that died (or lost the server for longer than a lease): they are handed, once, to
whoever asks, to be reported as missed.

A start touches two collections, and a standalone server has no transactions to make that one
step. So a start records its runs first, then moves the job on under its lease, and deletes the
record again if the lease turns out lost. A process killed between the two leaves a record of
runs that never started, whose job was never moved past their run times: the job itself still
offers those run times, to the scheduler that takes it over, so such a record is dropped when
it expires instead of being reported. (If that scheduler has already moved the job on by then,
the record cannot be told from one of runs that did start, and is reported missed: a false
alarm, never a second run.) A record whose start may or may not have moved its job (the write
failed) is left to expire in the same way.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection

from apscheduler.jobstores.mongodb.leases import SERVER_NOW
from apscheduler.jobstores.shared import AbandonedRun, RunStart
from apscheduler.util import datetime_to_utc_timestamp

#: added to the name of the job collection to name the collection of runs in progress
RUNS_SUFFIX = "_runs"
#: run records whose lease has run out
EXPIRED: dict[str, Any] = {"$expr": {"$lt": ["$expires", SERVER_NOW]}}


class MongoRuns:
    """
    The queries on one collection of runs in progress (see the module docs).

    Each method is one round trip (or a few that may all be run again), and raises what the
    driver raises: the store retries them. The store tells it which records it gave up on.
    """

    def __init__(self, collection: Collection[dict[str, Any]], lease_time: float) -> None:
        self.collection = collection
        self.lease_time = lease_time
        #: records of starts that were given up on without knowing whether their job moved on:
        #: never renewed, so that they expire and :meth:`abandoned` judges them
        self._given_up: set[str] = set()

    def create_indexes(self) -> None:
        for field in ("job_id", "owner", "expires"):
            self.collection.create_index([(field, ASCENDING)])

    def give_up(self, run_ids: Iterable[str]) -> None:
        """Stop renewing these records: they expire, and then the state of their job tells."""
        self._given_up.update(run_ids)

    # --- starting --------------------------------------------------------------------------

    def survey(self, starts: Sequence[RunStart]) -> tuple[set[str], Counter[str]]:
        """Find which starts are recorded already, and count the live runs of each job."""
        run_ids = [start.run_id for start in starts]
        job_ids = list({start.job.id for start in starts})
        pipeline: list[dict[str, Any]] = [
            {"$match": {"$or": [{"_id": {"$in": run_ids}}, {"job_id": {"$in": job_ids}}]}},
            {"$project": {"job_id": True, "live": {"$gte": ["$expires", SERVER_NOW]}}},
        ]
        wanted = set(run_ids)
        recorded: set[str] = set()
        in_progress: Counter[str] = Counter()
        for record in self.collection.aggregate(pipeline):
            if record["_id"] in wanted:
                recorded.add(record["_id"])
            if record["live"]:
                in_progress[record["job_id"]] += 1
        return recorded, in_progress

    def record(self, owner: str, starts: Sequence[RunStart]) -> None:
        """
        Record the runs of ``starts`` in progress, leased to ``owner`` by the server's clock.

        Upserts rather than inserts, because only an update can read ``$$NOW``; a second
        attempt after a lost reply writes the same records again.
        """
        requests = []
        for start in starts:
            run_times = [datetime_to_utc_timestamp(run_time) for run_time in start.run_times]
            record = {
                # literals: a job id may start with "$", which would read as a field path
                "job_id": {"$literal": start.job.id},
                "owner": {"$literal": owner},
                "run_times": {"$literal": run_times},
                "expires": {"$add": [SERVER_NOW, self.lease_time]},
            }
            requests.append(UpdateOne({"_id": start.run_id}, [{"$set": record}], upsert=True))
        self.collection.bulk_write(requests, ordered=False)

    def forget(self, owner: str, run_ids: Sequence[str]) -> None:
        """Delete the records ``run_ids`` of ``owner``: their runs ended, or never started."""
        self.collection.delete_many({"_id": {"$in": list(run_ids)}, "owner": owner})

    # --- while they run --------------------------------------------------------------------

    def renew(self, owner: str) -> set[str]:
        """Push on the expiry of the records of ``owner``; return those that are still there."""
        query: dict[str, Any] = {"owner": owner}
        given_up = set(self._given_up)
        if given_up:
            query["_id"] = {"$nin": list(given_up)}
        renewed = [{"$set": {"expires": {"$add": [SERVER_NOW, self.lease_time]}}}]
        self.collection.update_many(query, renewed)
        # after the renewal: a record taken as abandoned before it is gone by now
        present = {record["_id"] for record in self.collection.find({"owner": owner}, ["_id"])}
        # somebody takes a record given up on in the end: stop minding it then (only those
        # given up before this look, as a start may give up on a record at any moment)
        self._given_up -= given_up - present
        return present - self._given_up

    # --- after their scheduler died --------------------------------------------------------

    def expired_ids(self) -> list[str]:
        return [record["_id"] for record in self.collection.find(EXPIRED, ["_id"])]

    def take(self, run_id: str) -> dict[str, Any] | None:
        """
        Delete and return the record ``run_id`` if it has expired.

        Each record goes to one caller: whoever deletes it; the expiry is checked again, in
        case its scheduler renewed it meanwhile.
        """
        return self.collection.find_one_and_delete({"_id": run_id, **EXPIRED})


def abandoned(
    records: Sequence[dict[str, Any]], next_run_times: dict[str, float | None] | None
) -> list[AbandonedRun]:
    """
    The abandoned runs of taken ``records`` that did start, in run time order.

    :param next_run_times: the stored next run time of each of their jobs that still exists
        (``None``: unknown, so every record counts as started)
    """
    runs = [
        AbandonedRun(
            record["job_id"],
            [datetime.fromtimestamp(run_time, timezone.utc) for run_time in record["run_times"]],
            record.get("owner", ""),
        )
        for record in records
        if next_run_times is None or _started(record, next_run_times)
    ]
    runs.sort(key=lambda run: (run.run_times[:1], run.job_id))
    return runs


def _started(record: dict[str, Any], next_run_times: dict[str, float | None]) -> bool:
    """
    Tell whether an abandoned record stands for runs that started: whether their job was
    moved past them (or is gone, or paused since).

    A job still due at or before their last run time was never moved on: the process died
    between recording the runs and moving the job, and the job still offers them.
    """
    if record["job_id"] not in next_run_times:
        return True
    next_run_time = next_run_times[record["job_id"]]
    last_run_time = max(record["run_times"], default=-math.inf)
    return next_run_time is None or next_run_time > last_run_time


__all__ = ["EXPIRED", "RUNS_SUFFIX", "MongoRuns", "abandoned"]
