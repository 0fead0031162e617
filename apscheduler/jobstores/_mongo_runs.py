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
alarm, never a second run.)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from typing import Any

from bson.binary import Binary
from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection

from apscheduler.jobstores._mongo_shared import SERVER_NOW, UNLEASE, move_on
from apscheduler.jobstores._shared import SharedJobStore
from apscheduler.jobstores.base import AbandonedRun, RunStart, RunStartOutcome
from apscheduler.util import datetime_to_utc_timestamp

STARTED = RunStartOutcome.STARTED
MAX_INSTANCES = RunStartOutcome.MAX_INSTANCES
LOST = RunStartOutcome.LOST

#: added to the name of the job collection to name the collection of runs in progress
RUNS_SUFFIX = "_runs"
#: run records whose lease has run out
EXPIRED: dict[str, Any] = {"$expr": {"$lt": ["$expires", SERVER_NOW]}}


def _run_record(owner: str, start: RunStart, lease_time: float) -> UpdateOne:
    """
    The upsert that records the runs of ``start``, leased to ``owner`` by the server's clock.

    An upsert rather than an insert, because only an update can read ``$$NOW``; a second
    attempt after a lost reply writes the same record again.
    """
    run_times = [datetime_to_utc_timestamp(run_time) for run_time in start.run_times]
    record = {
        # literals: a job id may start with "$", which would read as a field path
        "job_id": {"$literal": start.job.id},
        "owner": {"$literal": owner},
        "run_times": {"$literal": run_times},
        "expires": {"$add": [SERVER_NOW, lease_time]},
    }
    return UpdateOne({"_id": start.run_id}, [{"$set": record}], upsert=True)


class MongoRunBook(SharedJobStore):
    """
    The part of the MongoDB job store that records runs in progress (see the module docs).

    The store sets the attributes declared here.
    """

    collection: Collection[dict[str, Any]]
    #: the collection of runs in progress
    runs_collection: Collection[dict[str, Any]]
    _claims: dict[tuple[str, str], bytes]
    #: runs this store recorded and then gave up on without knowing whether their job moved
    #: on: never renewed, so that they expire and :meth:`take_abandoned_runs` judges them
    _unrenewed_runs: set[str]

    def _set_up_run_book(self) -> None:
        for field in ("job_id", "owner", "expires"):
            self.runs_collection.create_index([(field, ASCENDING)])

    # --- starting runs ---------------------------------------------------------------------

    def start_claimed_runs(self, owner: str, starts: Sequence[RunStart]) -> list[RunStartOutcome]:
        # Round trips: one look at the runs in progress of the whole batch, one write of all
        # its run records, then one write per job (moving a job on must be checked job by job,
        # and a bulk write only counts its matches); a lost lease costs two more.
        starts = list(starts)
        if not starts:
            return []

        try:
            return self._start(owner, starts)
        finally:
            # whatever came of them, these claims are over
            for start in starts:
                self._claims.pop((owner, start.job.id), None)

    def _start(self, owner: str, starts: list[RunStart]) -> list[RunStartOutcome]:
        recorded, in_progress = self._run(lambda: self._survey(starts))
        outcomes: list[RunStartOutcome] = []
        to_record: list[RunStart] = []
        for start in starts:
            if start.run_id in recorded:
                # recorded by an earlier call with this run id: a retry after a lost reply
                outcomes.append(STARTED)
            elif in_progress[start.job.id] >= start.job.max_instances:
                outcomes.append(MAX_INSTANCES)
            else:
                in_progress[start.job.id] += 1
                to_record.append(start)
                outcomes.append(STARTED)

        if to_record:
            requests = [_run_record(owner, start, self.lease_time) for start in to_record]
            try:
                self._run(lambda: self.runs_collection.bulk_write(requests, ordered=False))
            except Exception:
                # no job has moved: whatever got recorded is dropped when it expires
                self._unrenewed_runs.update(start.run_id for start in to_record)
                raise

        self._move_jobs_on(owner, starts, outcomes, {start.run_id for start in to_record})
        return outcomes

    def _survey(self, starts: list[RunStart]) -> tuple[set[str], Counter[str]]:
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
        for record in self.runs_collection.aggregate(pipeline):
            if record["_id"] in wanted:
                recorded.add(record["_id"])
            if record["live"]:
                in_progress[record["job_id"]] += 1
        return recorded, in_progress

    def _move_jobs_on(
        self,
        owner: str,
        starts: list[RunStart],
        outcomes: list[RunStartOutcome],
        recorded_now: set[str],
    ) -> None:
        """Move each job on under its lease; turn the starts whose lease is lost into LOST."""
        moved: list[RunStart] = []
        failure: Exception | None = None
        for index, start in enumerate(starts):
            if outcomes[index] is STARTED and start.run_id not in recorded_now:
                continue  # recorded by an earlier attempt
            if failure is None:
                try:
                    if self._move_on(owner, start):
                        moved.append(start)
                        continue
                except Exception as exc:
                    failure = exc
                    if start.run_id in recorded_now:
                        # did it move? Its record expires unrenewed, then the job's state tells
                        self._unrenewed_runs.add(start.run_id)
            outcomes[index] = LOST

        for start in moved:
            self._forget(start.job.id)
        next_run_times = [start.next_run_time for start in moved if start.next_run_time]
        if next_run_times:
            # while claimed, the job counted at its lease expiry, which may come later
            self._wake_scheduler_for(min(next_run_times))

        lost = [start for start, outcome in zip(starts, outcomes, strict=True) if outcome is LOST]
        if lost:
            self._give_up(owner, lost, recorded_now)
        if failure is not None:
            self._logger.warning(
                "Job store %r could not record the start of jobs %s (%s: %s); they were not "
                "started",
                self._alias,
                [start.job.id for start in lost],
                type(failure).__name__,
                failure,
            )

    def _move_on(self, owner: str, start: RunStart) -> bool:
        """Store the job with its new run time and without lease, if the lease is still ours."""
        job = start.job
        ours: dict[str, Any] = {"_id": job.id, "lease_owner": owner}
        claimed_state = self._claims.get((owner, job.id))
        if claimed_state is not None:
            # a job changed by a user since the claim is theirs: the change must not be lost
            ours["job_state"] = claimed_state
        data = None
        if start.next_run_time is not None:
            job._modify(next_run_time=start.next_run_time)
            data = Binary(self._serialize(job))
        attempts = 0

        def write() -> bool:
            nonlocal attempts
            attempts += 1
            if data is None:
                done = self.collection.delete_one(ours).deleted_count
            else:
                run_time = datetime_to_utc_timestamp(start.next_run_time)
                assert run_time is not None  # data is set only with a next run time
                done = self.collection.update_one(ours, move_on(run_time, data)).matched_count
            return bool(done) or (attempts > 1 and self._applied_before(job.id, data))

        return self._run(write)

    def _applied_before(self, job_id: str, data: bytes | None) -> bool:
        """After a lost reply: tell whether the first attempt at moving the job on went through."""
        document = self.collection.find_one(job_id, ["job_state"])
        if data is None:
            return document is None
        # as bytes: a Binary equals nothing but another Binary
        return document is not None and bytes(document["job_state"]) == bytes(data)

    def _give_up(self, owner: str, lost: list[RunStart], recorded_now: set[str]) -> None:
        """Delete the records of lost starts; free the jobs still leased to ``owner``."""
        stale_records = [
            start.run_id
            for start in lost
            if start.run_id in recorded_now and start.run_id not in self._unrenewed_runs
        ]
        job_ids = [start.job.id for start in lost]
        try:
            if stale_records:
                self._run(
                    lambda: self.runs_collection.delete_many(
                        {"_id": {"$in": stale_records}, "owner": owner}
                    )
                )
            # a job changed by a user since the claim is still leased to us: free it, so that
            # it is offered again as it is now
            freed = self._run(
                lambda: self.collection.update_many(
                    {"_id": {"$in": job_ids}, "lease_owner": owner}, UNLEASE
                )
            )
        except Exception as exc:
            self._unrenewed_runs.update(stale_records)
            self._logger.warning("Could not give up the claims on %s: %s", job_ids, exc)
            return
        if freed.modified_count:
            self._wake_scheduler()

    # --- runs in progress ------------------------------------------------------------------

    def finish_runs(self, owner: str, run_ids: Sequence[str]) -> None:
        ids = list(run_ids)
        if ids:
            self._run(
                lambda: self.runs_collection.delete_many({"_id": {"$in": ids}, "owner": owner})
            )

    def renew_runs(self, owner: str) -> None:
        query: dict[str, Any] = {"owner": owner}
        given_up = list(self._unrenewed_runs)
        if given_up:
            query["_id"] = {"$nin": given_up}
        renewed = [{"$set": {"expires": {"$add": [SERVER_NOW, self.lease_time]}}}]
        self._run(lambda: self.runs_collection.update_many(query, renewed))

    def take_abandoned_runs(self) -> list[AbandonedRun]:
        if self._shut_down:
            return []

        expired = self._run(lambda: list(self.runs_collection.find(EXPIRED, ["_id"])))
        taken = []
        for candidate in expired:
            # each record goes to one caller: whoever deletes it; the expiry is checked again,
            # in case its scheduler renewed it meanwhile
            record = self._run(partial(self._take, candidate["_id"]))
            if record is not None:
                taken.append(record)
        if not taken:
            return []

        job_ids = list({record["job_id"] for record in taken})
        try:
            jobs = self._run(
                lambda: {
                    document["_id"]: document.get("next_run_time")
                    for document in self.collection.find(
                        {"_id": {"$in": job_ids}}, ["next_run_time"]
                    )
                }
            )
        except Exception as exc:
            # they are taken already: reporting them all beats losing them
            self._logger.warning("Could not check the jobs of abandoned runs: %s", exc)
            jobs = {}

        abandoned = [
            AbandonedRun(
                record["job_id"],
                [
                    datetime.fromtimestamp(run_time, timezone.utc)
                    for run_time in record["run_times"]
                ],
                record.get("owner", ""),
            )
            for record in taken
            if _started(record, jobs)
        ]
        abandoned.sort(key=lambda run: (run.run_times[:1], run.job_id))
        return abandoned

    def _take(self, run_id: str) -> dict[str, Any] | None:
        return self.runs_collection.find_one_and_delete({"_id": run_id, **EXPIRED})


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
