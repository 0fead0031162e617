"""
Records of the runs of jobs, and where they are kept.

Every run of a job for one scheduled time is one :class:`JobRun`: submitted, then running, then
ended one way or another (succeeded, failed, missed, skipped, lost, timed out). The scheduler
writes them to a :class:`RunHistory`: the job store's own where it keeps one (so that every
process sharing the store sees the runs of all of them), else one in the scheduler's memory.
:meth:`BaseScheduler.get_job_runs() <apscheduler.schedulers.base.BaseScheduler.get_job_runs>`
reads them.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import threading
from abc import ABCMeta, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

#: the run was submitted to its executor, and has not ended yet
RUNNING = "running"
#: the job function returned
SUCCEEDED = "succeeded"
#: the job function raised an exception
FAILED = "failed"
#: the run started too late (beyond ``misfire_grace_time``), so it was not run
MISSED = "missed"
#: the run was not made: ``max_instances`` runs were going on, or it was coalesced
SKIPPED = "skipped"
#: the process that ran it stopped, or lost its store, before its end was recorded
LOST = "lost"
#: the run went on for longer than its job's ``timeout`` and was stopped
TIMED_OUT = "timed_out"
#: the run was asked for (``run_job_now``) and no scheduler has taken it yet
PENDING = "pending"

#: every state a run can be in; all but :data:`RUNNING` and :data:`PENDING` are final
RUN_STATES = (RUNNING, SUCCEEDED, FAILED, MISSED, SKIPPED, LOST, TIMED_OUT, PENDING)
FINAL_STATES = frozenset(RUN_STATES) - {RUNNING, PENDING}
#: the fields of a :class:`JobRun` that hold times
TIME_FIELDS = ("scheduled_run_time", "submitted_at", "started_at", "finished_at")


class JobRun(NamedTuple):
    """
    One run of a job for one scheduled time. All times are timezone aware.

    A named tuple: every run of every job makes one or two, so they must be cheap to build.

    .. versionadded:: 3.12.0
    """

    #: names this run in the history (unique)
    run_id: str
    #: the job that ran
    job_id: str
    #: alias of the job store that holds the job
    jobstore: str | None
    #: when the job was meant to run, by its trigger
    scheduled_run_time: datetime
    #: one of :data:`RUN_STATES`
    state: str
    #: when the scheduler handed the run to the executor (``None``: it never did)
    submitted_at: datetime | None = None
    #: when the job function was called
    started_at: datetime | None = None
    #: when the run ended (for a final state)
    finished_at: datetime | None = None
    #: a short sentence that says why, for missed, skipped and lost runs
    reason: str | None = None
    #: the qualified name of the exception's class, for a failed run
    exception_type: str | None = None
    #: the exception's message, for a failed run
    exception: str | None = None
    #: the formatted traceback, for a failed run
    traceback: str | None = None
    #: the host name of the scheduler process that submitted the run
    host: str | None = None
    #: the process id of the scheduler process that submitted the run
    pid: int | None = None
    #: 1 for a run by the job's schedule (or asked for); 2 and more for its retries
    attempt: int = 1

    @property
    def finished(self) -> bool:
        """Whether the run has ended (its state is final)."""
        return self.state in FINAL_STATES

    def evolve(self, **changes: Any) -> JobRun:
        """Return a copy with ``changes`` applied (a run moves on by being recorded anew)."""
        return self._replace(**changes)

    def to_fields(self) -> dict[str, Any]:
        """
        The record as plain values, its times as UTC timestamps: what a store writes (a row,
        a document, JSON), and :meth:`from_fields` reads back.
        """
        fields = self._asdict()
        for name in TIME_FIELDS:
            fields[name] = datetime_to_utc_timestamp(fields[name])
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> JobRun:
        """The run that :meth:`to_fields` gave ``fields`` for (missing optional ones: ``None``)."""
        values: dict[str, Any] = {name: fields.get(name) for name in cls._fields}
        for name in TIME_FIELDS:
            values[name] = utc_timestamp_to_datetime(values[name])
        values["attempt"] = values["attempt"] or 1  # a record made before there were retries
        return cls(**values)


# --- facts: what happened besides runs, so that explain() can tell why a run was not made

#: a scheduler started (``detail``: ``"paused"`` if it started paused)
SCHEDULER_STARTED = "scheduler_started"
#: a scheduler paused its processing
SCHEDULER_PAUSED = "scheduler_paused"
#: a scheduler resumed its processing
SCHEDULER_RESUMED = "scheduler_resumed"
#: a scheduler shut down
SCHEDULER_STOPPED = "scheduler_stopped"
#: a scheduler could not reach a job store (``detail``: the error)
STORE_UNREACHABLE = "store_unreachable"
#: a scheduler reached a job store again after it had been unreachable
STORE_REACHABLE = "store_reachable"
#: a job was paused (``pause_job()``)
JOB_PAUSED = "job_paused"
#: a job was resumed (``resume_job()``)
JOB_RESUMED = "job_resumed"
#: a job could not be loaded from its store (``detail``: why)
JOB_UNLOADABLE = "job_unloadable"

#: every kind of :class:`SchedulerFact`
FACT_KINDS = (
    SCHEDULER_STARTED,
    SCHEDULER_PAUSED,
    SCHEDULER_RESUMED,
    SCHEDULER_STOPPED,
    STORE_UNREACHABLE,
    STORE_REACHABLE,
    JOB_PAUSED,
    JOB_RESUMED,
    JOB_UNLOADABLE,
)


class SchedulerFact(NamedTuple):
    """
    Something that happened to a scheduler, a store or a job, kept beside the run history.

    Runs tell what was done; facts tell why something was not: the scheduler was stopped or
    paused, the store was unreachable, the job was paused or could not be loaded. Each one is
    recorded once, by the scheduler it happened in, in every history that scheduler writes to.

    .. versionadded:: 3.12.0
    """

    #: names the fact (unique), so that writing it again is harmless
    fact_id: str
    #: one of :data:`FACT_KINDS`
    kind: str
    #: when it happened (timezone aware)
    at: datetime
    #: the scheduler instance it happened in (``host:pid:random``)
    owner: str
    #: the alias of the job store concerned, if any
    jobstore: str | None = None
    #: the job concerned, if any
    job_id: str | None = None
    #: more about it, in a few words
    detail: str | None = None

    def to_fields(self) -> dict[str, Any]:
        """The fact as plain values, its time as a UTC timestamp (what a store writes)."""
        fields = self._asdict()
        fields["at"] = datetime_to_utc_timestamp(self.at)
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> SchedulerFact:
        """The fact that :meth:`to_fields` gave ``fields`` for."""
        values: dict[str, Any] = {name: fields.get(name) for name in cls._fields}
        values["at"] = utc_timestamp_to_datetime(values["at"])
        return cls(**values)


@dataclass(frozen=True)
class RetentionPolicy:
    """
    How much run history is kept: the ``run_history`` scheduler option.

    .. versionadded:: 3.12.0
    """

    #: the most runs kept per job, newest first (``0``: no history at all)
    max_runs: int = 100
    #: runs that ended longer ago than this are dropped (``None``: kept whatever their age),
    #: and so are older facts
    max_age: timedelta | None = timedelta(days=30)
    #: the most facts kept (the newest)
    max_facts: int = 10_000

    @property
    def enabled(self) -> bool:
        return self.max_runs > 0


class RunHistoryReadOnlyError(Exception):
    """
    Raised by a :class:`RunHistory` that may not be written to at all (a read-only database
    connection, say): the scheduler then stops trying to write to it, instead of retrying.

    .. versionadded:: 3.12.0
    """


class RunHistory(metaclass=ABCMeta):
    """
    Where run records are kept.

    A job store that keeps run history implements this too (the scheduler checks
    ``isinstance(store, RunHistory)``); its records are then shared by every process that uses
    the store. Records are written in batches, off the jobs' threads; a run is recorded once
    when it is submitted (or skipped) and again when it ends, under the same ``run_id``.

    .. versionadded:: 3.12.0
    """

    @abstractmethod
    def record_runs(self, runs: Sequence[JobRun]) -> None:
        """
        Store ``runs``, replacing any record of the same ``run_id`` (an upsert).

        Retrying a call whose reply was lost must be harmless.
        """

    @abstractmethod
    def get_job_runs(
        self,
        job_id: str | None = None,
        *,
        states: Collection[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        """
        Return the recorded runs, newest scheduled run time first (ties: the later ``run_id``).

        :param job_id: only the runs of this job (all jobs if ``None``)
        :param states: only runs in one of these states
        :param since: only runs scheduled at or after this (aware) time
        :param limit: the most runs to return
        """

    @abstractmethod
    def prune_runs(self, policy: RetentionPolicy, now: datetime) -> None:
        """
        Drop the finished runs that ``policy`` no longer keeps (never a running or pending
        one), and the facts it no longer keeps (see :func:`policy_keeps_fact`).
        """

    @abstractmethod
    def record_facts(self, facts: Sequence[SchedulerFact]) -> None:
        """Store ``facts``, replacing any of the same ``fact_id`` (retrying is harmless)."""

    @abstractmethod
    def get_facts(
        self, *, until: datetime | None = None, limit: int = 1000
    ) -> list[SchedulerFact]:
        """
        Return the recorded facts, newest first (ties: the later ``fact_id``).

        :param until: only facts that happened at or before this (aware) time
        :param limit: the most facts to return
        """


class MemoryRunHistory(RunHistory):
    """
    Run history in this process's memory: the history of stores that keep none of their own.

    It lasts as long as the process, and each process sees only its own runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, JobRun] = {}
        self._facts: dict[str, SchedulerFact] = {}

    def record_runs(self, runs: Sequence[JobRun]) -> None:
        with self._lock:
            for run in runs:
                self._runs[run.run_id] = run

    def get_job_runs(
        self,
        job_id: str | None = None,
        *,
        states: Collection[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        with self._lock:
            runs = [
                run
                for run in self._runs.values()
                if (job_id is None or run.job_id == job_id)
                and (states is None or run.state in states)
                and (since is None or run.scheduled_run_time >= since)
            ]
        runs.sort(key=_scheduled_order, reverse=True)
        return runs[: max(limit, 0)]

    def prune_runs(self, policy: RetentionPolicy, now: datetime) -> None:
        with self._lock:
            by_job: dict[str, list[JobRun]] = {}
            for run in self._runs.values():
                by_job.setdefault(run.job_id, []).append(run)
            for runs in by_job.values():
                runs.sort(key=_scheduled_order, reverse=True)
                for index, run in enumerate(runs):
                    if run.finished and not policy_keeps(policy, run, index, now):
                        del self._runs[run.run_id]
            facts = sorted(self._facts.values(), key=_fact_order, reverse=True)
            for index, fact in enumerate(facts):
                if not policy_keeps_fact(policy, fact, index, now):
                    del self._facts[fact.fact_id]

    def record_facts(self, facts: Sequence[SchedulerFact]) -> None:
        with self._lock:
            for fact in facts:
                self._facts[fact.fact_id] = fact

    def get_facts(
        self, *, until: datetime | None = None, limit: int = 1000
    ) -> list[SchedulerFact]:
        with self._lock:
            facts = [fact for fact in self._facts.values() if until is None or fact.at <= until]
        facts.sort(key=_fact_order, reverse=True)
        return facts[: max(limit, 0)]


def policy_keeps(policy: RetentionPolicy, run: JobRun, position: int, now: datetime) -> bool:
    """
    Tell whether ``policy`` keeps ``run``, the ``position``-th newest run of its job.

    A store that prunes by a query keeps the same runs as this.
    """
    if position >= policy.max_runs:
        return False
    if policy.max_age is None or run.finished_at is None:
        return True
    return now - run.finished_at <= policy.max_age


def policy_keeps_fact(
    policy: RetentionPolicy, fact: SchedulerFact, position: int, now: datetime
) -> bool:
    """
    Tell whether ``policy`` keeps ``fact``, the ``position``-th newest fact of the history.

    Facts are kept as long as runs are (``max_age``), and at most ``max_facts`` of them.
    """
    if position >= policy.max_facts:
        return False
    return policy.max_age is None or now - fact.at <= policy.max_age


def _fact_order(fact: SchedulerFact) -> tuple[float, str]:
    return fact.at.timestamp(), fact.fact_id


def _scheduled_order(run: JobRun) -> tuple[float, str]:
    return run.scheduled_run_time.timestamp(), run.run_id


__all__ = [
    "FACT_KINDS",
    "FAILED",
    "FINAL_STATES",
    "JOB_PAUSED",
    "JOB_RESUMED",
    "JOB_UNLOADABLE",
    "LOST",
    "MISSED",
    "PENDING",
    "RUNNING",
    "RUN_STATES",
    "SCHEDULER_PAUSED",
    "SCHEDULER_RESUMED",
    "SCHEDULER_STARTED",
    "SCHEDULER_STOPPED",
    "SKIPPED",
    "STORE_REACHABLE",
    "STORE_UNREACHABLE",
    "SUCCEEDED",
    "TIME_FIELDS",
    "TIMED_OUT",
    "JobRun",
    "MemoryRunHistory",
    "RetentionPolicy",
    "RunHistory",
    "RunHistoryReadOnlyError",
    "SchedulerFact",
    "policy_keeps",
    "policy_keeps_fact",
]
