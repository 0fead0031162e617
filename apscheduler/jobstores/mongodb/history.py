"""
The history of runs of a :class:`~apscheduler.jobstores.mongodb.MongoDBJobStore`.

It lives in a collection of its own, named after the job collection with ``_history`` added,
one document per run: ``{_id: run id, job_id, jobstore, scheduled_run_time, state, …}``, every
field of :class:`~apscheduler.runs.JobRun`, its times as UTC timestamps like the jobs'
``next_run_time``. Removing jobs leaves it alone: it tells what ran, also of jobs now gone.

Recording replaces whole documents by run id, so a batch written again after a lost reply
leaves the same documents. Pruning reads each job's runs in order (their ids, states and end
times only) and deletes by id what the retention policy no longer keeps, which decides exactly
as :func:`~apscheduler.runs.policy_keeps` does: a run still running, or asked for and not made
yet (pending), is never dropped. The facts kept beside the runs have a collection of their own
(:mod:`~apscheduler.jobstores.mongodb.facts`).
"""

from __future__ import annotations

from collections.abc import Collection as Collection_, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReplaceOne
from pymongo.collection import Collection

from apscheduler.runs import FINAL_STATES, JobRun, RetentionPolicy
from apscheduler.util import datetime_to_utc_timestamp

#: added to the name of the job collection to name the collection of run history
HISTORY_SUFFIX = "_history"
#: newest scheduled run time first, ties broken by the later run id
NEWEST_FIRST = [("scheduled_run_time", DESCENDING), ("_id", DESCENDING)]
#: run ids deleted per request when pruning
DELETE_CHUNK = 500


def document_of(run: JobRun) -> dict[str, Any]:
    """A run as the history collection keeps it: its run id is the document's ``_id``."""
    document = run.to_fields()
    document["_id"] = document.pop("run_id")
    return document


def run_of(document: dict[str, Any]) -> JobRun:
    """A document of the history collection as the run it records."""
    return JobRun.from_fields({**document, "run_id": document["_id"]})


class MongoHistory:
    """
    The queries on one history collection (see the module docs).

    Each method is one round trip (or a few that may all be run again), and raises what the
    driver raises: the store retries them.
    """

    def __init__(self, collection: Collection[dict[str, Any]]) -> None:
        self.collection = collection

    def create_indexes(self) -> None:
        # serves a job's newest runs, and pruning's walk through each job's runs
        self.collection.create_index([("job_id", 1), ("scheduled_run_time", 1), ("_id", 1)])

    def record(self, runs: Sequence[JobRun]) -> None:
        """Store ``runs``, replacing the documents of the same run ids."""
        # one request per run id, the last record given: the requests are not ordered
        latest = {run.run_id: run for run in runs}
        if not latest:
            return
        requests = [
            ReplaceOne({"_id": run_id}, document_of(run), upsert=True)
            for run_id, run in latest.items()
        ]
        self.collection.bulk_write(requests, ordered=False)

    def runs(
        self,
        job_id: str | None,
        states: Collection_[str] | None,
        since: datetime | None,
        limit: int,
    ) -> list[JobRun]:
        """The runs asked for, newest scheduled run time first (ties: the later run id)."""
        if limit <= 0 or (states is not None and not states):
            return []  # a limit of 0 means no limit to the server
        query: dict[str, Any] = {}
        if job_id is not None:
            query["job_id"] = job_id
        if states is not None:
            query["state"] = {"$in": list(states)}
        if since is not None:
            query["scheduled_run_time"] = {"$gte": datetime_to_utc_timestamp(since)}
        cursor = self.collection.find(query, sort=NEWEST_FIRST, limit=limit)
        return [run_of(document) for document in cursor]

    def prune(self, policy: RetentionPolicy, now: datetime) -> None:
        """Delete the finished runs that ``policy`` no longer keeps."""
        cutoff = None
        if policy.max_age is not None:
            cutoff = datetime_to_utc_timestamp(now - policy.max_age)
        # each job's runs newest first; the order of the jobs does not matter
        order = [("job_id", DESCENDING), *NEWEST_FIRST]
        fields = {"job_id": True, "state": True, "finished_at": True}
        doomed: list[str] = []
        job_id, position = None, 0
        for document in self.collection.find({}, fields, sort=order):
            if document["job_id"] != job_id:
                job_id, position = document["job_id"], 0
            finished_at = document.get("finished_at")
            too_old = cutoff is not None and finished_at is not None and finished_at < cutoff
            finished = document["state"] in FINAL_STATES
            if finished and (position >= policy.max_runs or too_old):
                doomed.append(document["_id"])
            position += 1
        for start in range(0, len(doomed), DELETE_CHUNK):
            chunk = doomed[start : start + DELETE_CHUNK]
            self.collection.delete_many({"_id": {"$in": chunk}})


__all__ = ["HISTORY_SUFFIX", "MongoHistory", "document_of", "run_of"]
