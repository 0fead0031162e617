"""
What the metrics backends measure, told apart from how each one exports it.

A :class:`SchedulerWatch` listens to a scheduler's events and taps its run recorder, and tells
a :class:`MetricsSink` about each run that ended, each failed look at a job store and each run
taken over from a scheduler that stopped. A :class:`StateCache` computes the gauges (jobs by
state, runs in progress, unloadable jobs, stores reachable) when a backend collects them, at
most once every few seconds: each computation reads every job store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_TIMED_OUT,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from apscheduler.runs import FAILED, LOST, MISSED, RUNNING, SKIPPED, SUCCEEDED, TIMED_OUT
from apscheduler.schedulers import STATE_STOPPED

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

#: the events a watch listens to (the timed-out event is outside ``EVENT_ALL``)
WATCHED_EVENTS = (
    EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_MAX_INSTANCES
    | EVENT_JOB_TIMED_OUT
)
#: the outcome label of a run, by the code of the event that ends it
OUTCOMES = {
    EVENT_JOB_EXECUTED: SUCCEEDED,
    EVENT_JOB_ERROR: FAILED,
    EVENT_JOB_TIMED_OUT: TIMED_OUT,
    EVENT_JOB_MISSED: MISSED,
    EVENT_JOB_MAX_INSTANCES: SKIPPED,
}
#: every value of the ``outcome`` label
OUTCOME_VALUES = (SUCCEEDED, FAILED, TIMED_OUT, MISSED, SKIPPED, LOST)
#: the values of the ``state`` label of the jobs gauge
JOB_SCHEDULED = "scheduled"
JOB_PAUSED = "paused"
JOB_PENDING = "pending"
#: seconds a computed state is served again before it is computed anew
DEFAULT_CACHE_SECONDS = 5.0
#: the most runs in progress counted (one read of the run history)
RUNNING_RUNS_LIMIT = 10_000
#: the most lost runs remembered until their missed event comes
_LOST_MEMORY = 10_000

#: upper bounds of the run duration buckets, in seconds: from a blink to a nightly batch
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
#: upper bounds of the lateness buckets, in seconds: a healthy scheduler stays in the first few
LATENESS_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

logger = logging.getLogger("apscheduler.metrics")


@dataclass(frozen=True)
class RunEnded:
    """One run that came to an end (or was never made), as the metrics count it."""

    jobstore: str
    job_id: str
    outcome: str
    #: seconds from the scheduled time to the call of the job function (``None``: not called)
    lateness: float | None = None
    #: seconds the job function ran (``None``: not called, or the end is unknown)
    duration: float | None = None


class MetricsSink(Protocol):
    """What a backend does with what a :class:`SchedulerWatch` sees."""

    def run_ended(self, run: RunEnded) -> None: ...

    def store_error(self, jobstore: str, outage_began: bool) -> None: ...

    def runs_taken_over(self, jobstore: str, job_id: str, count: int) -> None: ...


@dataclass
class StoreHealth:
    """The job stores whose last look failed (shared by the watch and the state cache)."""

    unreachable: set[str] = field(default_factory=set)


def label(value: str | None) -> str:
    """A label value for an alias that may be missing (a pending job has no store yet)."""
    return value if value is not None else ""


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """The seconds from ``start`` to ``end`` (never negative), ``None`` if one is unknown."""
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def runs_of_event(event: SchedulerEvent, outcome: str) -> list[RunEnded]:
    """The runs an event reports: one for an execution event, each run time for a skip."""
    if isinstance(event, JobExecutionEvent):
        started_at = getattr(event, "started_at", None)
        finished_at = getattr(event, "finished_at", None)
        return [
            RunEnded(
                label(event.jobstore),
                event.job_id,
                outcome,
                lateness=seconds_between(event.scheduled_run_time, started_at),
                duration=seconds_between(started_at, finished_at),
            )
        ]
    if isinstance(event, JobSubmissionEvent):
        return [
            RunEnded(label(event.jobstore), event.job_id, outcome)
            for _ in event.scheduled_run_times
        ]
    return []


class _Tap:
    """
    Calls ``after`` with the arguments of each call of ``owner.name``, after the call itself.

    The wrapper is set on the instance; it becomes a plain pass-through once removed, in case
    something else wrapped the method on top of it meanwhile.
    """

    def __init__(self, owner: object, name: str, after: Callable[..., None]) -> None:
        self._owner = owner
        self._name = name
        self._after = after
        self._active = True
        self._had_own = name in vars(owner)
        self._original: Callable[..., Any] = getattr(owner, name)
        setattr(owner, name, self._call)

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        result = self._original(*args, **kwargs)
        if self._active:
            try:
                self._after(*args, **kwargs)
            except Exception:
                logger.exception("Error updating the scheduler metrics")
        return result

    def remove(self) -> None:
        self._active = False
        if vars(self._owner).get(self._name) == self._call:
            if self._had_own:
                setattr(self._owner, self._name, self._original)
            else:
                delattr(self._owner, self._name)


class SchedulerWatch:
    """
    Tells ``sink`` what happens to the runs and stores of ``scheduler``, until :meth:`detach`.

    Runs end through events (a listener, as any program could add). Failed store looks and
    runs taken over from a stopped scheduler have no event: they are seen by tapping the
    scheduler's run recorder, which is told of both.
    """

    def __init__(self, scheduler: BaseScheduler, sink: MetricsSink, health: StoreHealth) -> None:
        self._scheduler = scheduler
        self._sink = sink
        self._health = health
        self._lost: OrderedDict[tuple[str, str, float], None] = OrderedDict()
        self._lock = threading.Lock()
        recorder = scheduler._run_recorder
        self._taps = [
            _Tap(recorder, "store_unreachable", self._store_unreachable),
            _Tap(recorder, "store_reachable", self._store_reachable),
            _Tap(recorder, "lost", self._runs_lost),
        ]
        scheduler.add_listener(self._on_event, WATCHED_EVENTS)

    def detach(self) -> None:
        """Stop watching: the scheduler runs on as if it had never been watched."""
        self._scheduler.remove_listener(self._on_event)
        for tap in self._taps:
            tap.remove()
        self._taps.clear()

    def _on_event(self, event: SchedulerEvent) -> None:
        outcome = OUTCOMES.get(event.code)
        if outcome is None:
            return
        if outcome == MISSED and isinstance(event, JobExecutionEvent) and self._was_lost(event):
            outcome = LOST
        try:
            for run in runs_of_event(event, outcome):
                self._sink.run_ended(run)
        except Exception:
            logger.exception("Error updating the scheduler metrics")

    def _was_lost(self, event: JobExecutionEvent) -> bool:
        """Whether a missed event reports a run taken over (recorded as lost just before)."""
        key = (label(event.jobstore), event.job_id, event.scheduled_run_time.timestamp())
        with self._lock:
            if key in self._lost:
                del self._lost[key]
                return True
        return False

    def _store_unreachable(self, jobstore: str, error: BaseException) -> None:
        outage_began = jobstore not in self._health.unreachable
        self._health.unreachable.add(jobstore)
        self._sink.store_error(jobstore, outage_began)

    def _store_reachable(self, jobstore: str) -> None:
        # called on every processing pass: the empty set is the usual, cheap case
        if self._health.unreachable:
            self._health.unreachable.discard(jobstore)

    def _runs_lost(
        self, job_id: str, jobstore: str | None, run_times: Iterable[datetime], owner: str
    ) -> None:
        times = list(run_times)
        alias = label(jobstore)
        with self._lock:
            for run_time in times:
                self._lost[(alias, job_id, run_time.timestamp())] = None
            while len(self._lost) > _LOST_MEMORY:
                self._lost.popitem(last=False)
        self._sink.runs_taken_over(alias, job_id, len(times))


@dataclass(frozen=True)
class SchedulerState:
    """The gauges at one moment; a part that could not be read is ``None``."""

    #: (job store, job state) -> number of jobs
    jobs: dict[tuple[str, str], int] | None
    #: (job store, job id or ``""`` without per-job labels) -> runs in progress
    running: dict[tuple[str, str], int] | None
    #: job store -> jobs that could not be loaded
    unloadable: dict[str, int] | None
    #: job store -> whether its last look worked
    stores_up: dict[str, bool]


class StateCache:
    """
    Computes the :class:`SchedulerState` of a scheduler, again only after ``max_age`` seconds.

    Prometheus may scrape every few seconds, and several OpenTelemetry gauges are observed in
    one collection; each computation reads every job store and the run history.
    """

    def __init__(
        self,
        scheduler: BaseScheduler,
        health: StoreHealth,
        per_job_labels: bool,
        max_age: float = DEFAULT_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scheduler = scheduler
        self._health = health
        self._per_job_labels = per_job_labels
        self._max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._state: SchedulerState | None = None
        self._computed_at = 0.0

    def get(self) -> SchedulerState:
        """The state, computed now unless the last computation is recent enough."""
        with self._lock:
            now = self._monotonic()
            if self._state is None or now - self._computed_at >= self._max_age:
                self._state = self._compute()
                self._computed_at = now
            return self._state

    def _compute(self) -> SchedulerState:
        return SchedulerState(
            jobs=self._read("jobs by state", self._jobs_by_state),
            running=self._read("runs in progress", self._running_runs),
            unloadable=self._read("unloadable jobs", self._unloadable_jobs),
            stores_up={alias: alias not in self._health.unreachable for alias in self._aliases()},
        )

    def _aliases(self) -> list[str]:
        """The aliases of the scheduler's job stores, so that each has its series, zero or not."""
        return list(self._scheduler._jobstores)

    @staticmethod
    def _read(what: str, read: Callable[[], dict[Any, int]]) -> dict[Any, int] | None:
        # a store that is down must not break the scrape of every other metric
        try:
            return read()
        except Exception as exc:
            logger.warning("Could not read the %s for the scheduler metrics: %s", what, exc)
            return None

    def _jobs_by_state(self) -> dict[tuple[str, str], int]:
        counts = {
            (alias, state): 0 for alias in self._aliases() for state in (JOB_SCHEDULED, JOB_PAUSED)
        }
        for job in self._jobs():
            if job.pending:
                state = JOB_PENDING
            elif job.next_run_time is None:
                state = JOB_PAUSED
            else:
                state = JOB_SCHEDULED
            key = (label(job._jobstore_alias), state)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _jobs(self) -> list[Any]:
        """
        The scheduler's jobs; for one that is not running (a dashboard's, a client's), those
        of its stores, which it opens as a client does.
        """
        if self._scheduler.state != STATE_STOPPED:
            return self._scheduler.get_jobs()
        from apscheduler.client import SchedulerClient

        return SchedulerClient(scheduler=self._scheduler).get_jobs()

    def _running_runs(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        if not self._per_job_labels:
            counts.update(((alias, ""), 0) for alias in self._aliases())
        runs = self._scheduler.get_job_runs(state=RUNNING, limit=RUNNING_RUNS_LIMIT)
        for run in runs:
            key = (label(run.jobstore), run.job_id if self._per_job_labels else "")
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _unloadable_jobs(self) -> dict[str, int]:
        counts = dict.fromkeys(self._aliases(), 0)
        if self._scheduler.state == STATE_STOPPED:
            from apscheduler.client import SchedulerClient

            unloadable = SchedulerClient(scheduler=self._scheduler).get_unloadable_jobs()
        else:
            unloadable = self._scheduler.get_unloadable_jobs()
        for job in unloadable:
            alias = label(job.jobstore)
            counts[alias] = counts.get(alias, 0) + 1
        return counts
