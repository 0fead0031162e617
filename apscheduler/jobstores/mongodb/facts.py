"""
The facts of a :class:`~apscheduler.jobstores.mongodb.MongoDBJobStore`'s history.

They live in a collection of their own, named after the job collection with ``_facts`` added,
one document per fact: ``{_id: fact id, kind, at, owner, jobstore, job_id, detail}``, every
field of :class:`~apscheduler.runs.SchedulerFact`, ``at`` as a UTC timestamp. An index on
``(at, _id)`` serves reading them newest first and pruning them, without a sort in memory.

Recording replaces whole documents by fact id, so writing a batch again is harmless. Pruning
deletes the facts older than the policy's ``max_age``, and every fact behind the newest
``max_facts`` (found with one indexed read), which decides as
:func:`~apscheduler.runs.policy_keeps_fact` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReplaceOne
from pymongo.collection import Collection

from apscheduler.runs import RetentionPolicy, SchedulerFact
from apscheduler.util import datetime_to_utc_timestamp

#: added to the name of the job collection to name the collection of facts
FACTS_SUFFIX = "_facts"
#: newest first, ties broken by the later fact id
NEWEST_FIRST = [("at", DESCENDING), ("_id", DESCENDING)]


def document_of(fact: SchedulerFact) -> dict[str, Any]:
    """A fact as the facts collection keeps it: its fact id is the document's ``_id``."""
    document = fact.to_fields()
    document["_id"] = document.pop("fact_id")
    return document


def fact_of(document: dict[str, Any]) -> SchedulerFact:
    """A document of the facts collection as the fact it records."""
    return SchedulerFact.from_fields({**document, "fact_id": document["_id"]})


class MongoFacts:
    """
    The queries on one facts collection (see the module docs).

    Each method is one round trip (or a few that may all be run again), and raises what the
    driver raises: the store retries them.
    """

    def __init__(self, collection: Collection[dict[str, Any]]) -> None:
        self.collection = collection

    def create_indexes(self) -> None:
        self.collection.create_index(NEWEST_FIRST)

    def record(self, facts: Sequence[SchedulerFact]) -> None:
        """Store ``facts``, replacing the documents of the same fact ids."""
        # one request per fact id, the last one given: the requests are not ordered
        latest = {fact.fact_id: fact for fact in facts}
        if not latest:
            return
        requests = [
            ReplaceOne({"_id": fact_id}, document_of(fact), upsert=True)
            for fact_id, fact in latest.items()
        ]
        self.collection.bulk_write(requests, ordered=False)

    def facts(self, until: datetime | None, limit: int) -> list[SchedulerFact]:
        """The facts that happened by ``until`` (all: ``None``), newest first."""
        if limit <= 0:
            return []  # a limit of 0 means no limit to the server
        query: dict[str, Any] = {}
        if until is not None:
            query["at"] = {"$lte": datetime_to_utc_timestamp(until)}
        cursor = self.collection.find(query, sort=NEWEST_FIRST, limit=limit)
        return [fact_of(document) for document in cursor]

    def prune(self, policy: RetentionPolicy, now: datetime) -> None:
        """Delete the facts that ``policy`` no longer keeps."""
        if policy.max_age is not None:
            cutoff = datetime_to_utc_timestamp(now - policy.max_age)
            self.collection.delete_many({"at": {"$lt": cutoff}})
        # the newest fact of those past the first max_facts: it and every older one go
        cursor = self.collection.find(
            {}, ["at"], sort=NEWEST_FIRST, skip=max(policy.max_facts, 0), limit=1
        )
        for first_dropped in cursor:
            at, fact_id = first_dropped["at"], first_dropped["_id"]
            self.collection.delete_many(
                {"$or": [{"at": {"$lt": at}}, {"at": at, "_id": {"$lte": fact_id}}]}
            )


__all__ = ["FACTS_SUFFIX", "MongoFacts", "document_of", "fact_of"]
