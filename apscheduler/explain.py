"""
Why a job did or did not run: :meth:`BaseScheduler.explain()
<apscheduler.schedulers.base.BaseScheduler.explain>` and what it answers with.

An explanation is built from recorded facts only: the job as its store holds it, the runs in the
run history (:mod:`apscheduler.runs`), and the facts kept beside them (schedulers started,
paused and stopped; stores unreachable; jobs paused or unloadable). Where nothing recorded
says why, it says so rather than guessing.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.runs import (
    FAILED,
    JOB_PAUSED,
    JOB_RESUMED,
    JOB_UNLOADABLE,
    LOST,
    MISSED,
    PENDING,
    RUNNING,
    SCHEDULER_PAUSED,
    SCHEDULER_RESUMED,
    SCHEDULER_STARTED,
    SCHEDULER_STOPPED,
    SKIPPED,
    STORE_REACHABLE,
    STORE_UNREACHABLE,
    SUCCEEDED,
    TIMED_OUT,
    JobRun,
    SchedulerFact,
)

#: the job has a next run time
SCHEDULED = "scheduled"
#: the job has no next run time (``pause_job()``)
PAUSED = "paused"
#: the job is stored but cannot be loaded (see ``get_unloadable_jobs()``)
UNLOADABLE = "unloadable"
#: the job was added to a scheduler that has not started yet
WAITING = "waiting"

#: verdicts of :class:`MomentExplanation`
NO_FIRE_TIME = "no_fire_time"
NOT_YET = "not_yet"
RAN = "ran"
NOT_RUN = "not_run"
JOB_WAS_PAUSED = "job_paused"
JOB_WAS_UNLOADABLE = "job_unloadable"
STORE_WAS_UNREACHABLE = "store_unreachable"
SCHEDULER_WAS_PAUSED = "scheduler_paused"
NO_SCHEDULER_RUNNING = "no_scheduler_running"
UNKNOWN = "unknown"

_LIFECYCLE = {SCHEDULER_STARTED, SCHEDULER_PAUSED, SCHEDULER_RESUMED, SCHEDULER_STOPPED}
_RAN_STATES = {SUCCEEDED, FAILED, RUNNING, TIMED_OUT}
#: how close a recorded run must be to the moment asked about to count as its run
_SAME_MOMENT = timedelta(seconds=1)


@dataclass(frozen=True)
class MomentExplanation:
    """
    Why a job did or did not run at one moment (``explain(..., at=)``).

    .. versionadded:: 3.12.0
    """

    #: the moment asked about
    at: datetime
    #: one word for the answer: ``ran``, ``not_run`` (a run is recorded as missed, skipped or
    #: lost), ``no_fire_time``, ``not_yet``, ``job_paused``, ``job_unloadable``,
    #: ``store_unreachable``, ``scheduler_paused``, ``no_scheduler_running`` or ``unknown``
    verdict: str
    #: the answer as a sentence
    summary: str
    #: the fire time of the job's trigger at that moment, if it had one
    fire_time: datetime | None = None
    #: the runs recorded for that fire time
    runs: tuple[JobRun, ...] = ()
    #: the recorded facts the answer rests on
    facts: tuple[SchedulerFact, ...] = ()

    def __str__(self) -> str:
        return f"At {_when(self.at)}: {self.summary}"


@dataclass(frozen=True)
class Explanation:
    """
    What :meth:`~apscheduler.schedulers.base.BaseScheduler.explain` tells about a job.

    ``str()`` gives the whole of it as a few readable lines.

    .. versionadded:: 3.12.0
    """

    job_id: str
    #: the alias of the job's store
    jobstore: str | None
    #: ``scheduled``, ``paused``, ``unloadable`` or ``waiting`` (the scheduler has not started)
    state: str
    #: why the job cannot be loaded, for an unloadable one
    state_reason: str | None = None
    #: the job's name, if it could be loaded
    name: str | None = None
    #: the trigger in words
    trigger: str | None = None
    #: the next fire times (for a paused job: those it would have if resumed now)
    next_run_times: tuple[datetime, ...] = ()
    #: the job's latest runs, newest first
    last_runs: tuple[JobRun, ...] = ()
    #: the answer about the moment asked about (``at=``)
    moment: MomentExplanation | None = None
    #: anything else worth knowing, one sentence each
    notes: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        title = f'Job "{self.name}" (id {self.job_id})' if self.name else f"Job {self.job_id}"
        lines = [f"{title} in job store {self.jobstore!r}: {self.state}"]
        if self.state_reason:
            lines[0] += f" ({self.state_reason})"
        if self.trigger:
            lines.append(f"  runs {self.trigger}")
        if self.next_run_times:
            label = "would next run at" if self.state == PAUSED else "next runs"
            lines.append(f"  {label}: " + ", ".join(map(_when, self.next_run_times)))
        if self.last_runs:
            lines.append("  last runs:")
            lines.extend(f"    {describe_run(run)}" for run in self.last_runs)
        lines.extend(f"  {note}" for note in self.notes)
        if self.moment is not None:
            lines.append(f"  {self.moment}")
        return "\n".join(lines)


def describe_run(run: JobRun) -> str:
    """One line for a run: when, its outcome, where and how late it started."""
    return f"{_when(run.scheduled_run_time)}: {describe_outcome(run)}"


def describe_outcome(run: JobRun) -> str:
    """What became of a run, where and how late it started (:func:`describe_run` without when)."""
    text = run.state
    if run.state in _RAN_STATES and run.started_at is not None:
        lateness = run.started_at.timestamp() - run.scheduled_run_time.timestamp()
        text += f", started {lateness:.3f} s after its scheduled time"
    if run.host is not None:
        text += f", on {run.host}:{run.pid}"
    if run.state == FAILED and run.exception_type:
        text += f" ({run.exception_type}: {run.exception})"
    if run.reason:
        text += f" ({run.reason})"
    return text


def explain_moment(
    at: datetime,
    now: datetime,
    fire_time: datetime | None,
    next_fire_time: datetime | None,
    runs: Sequence[JobRun],
    facts: Sequence[SchedulerFact],
    job_id: str,
    jobstore: str | None,
) -> MomentExplanation:
    """
    Tell why the job did or did not run at ``at``, from what is recorded.

    :param fire_time: the fire time of the job's trigger at ``at`` (``None``: none, or the
        trigger is unknown because the job cannot be loaded)
    :param next_fire_time: the trigger's first fire time after ``at``, if known
    :param runs: the job's recorded runs around ``at``
    :param facts: the facts recorded up to a little after ``at``, newest first
    """
    moment = fire_time or at
    matching = tuple(run for run in runs if _same_moment(run.scheduled_run_time, moment))
    if matching:
        return _from_runs(at, fire_time, matching)

    if fire_time is None and next_fire_time is not None:
        return MomentExplanation(
            at,
            NO_FIRE_TIME,
            f"its trigger has no fire time then; the next one after it is {_when(next_fire_time)}",
        )

    if moment.timestamp() > now.timestamp():
        return MomentExplanation(at, NOT_YET, "that time has not come yet", fire_time)

    before = [fact for fact in facts if fact.at.timestamp() <= moment.timestamp()]
    for check in (_job_paused, _job_unloadable, _store_unreachable, _schedulers):
        found = check(at, fire_time, before, facts, job_id, jobstore)
        if found is not None:
            return found

    return MomentExplanation(
        at,
        UNKNOWN,
        "a scheduler was running, but no run of the job was recorded for that time "
        "(the job may have been added after it, or its record pruned)",
        fire_time,
    )


def _from_runs(
    at: datetime, fire_time: datetime | None, runs: tuple[JobRun, ...]
) -> MomentExplanation:
    made = [run for run in runs if run.state in _RAN_STATES]
    if made:
        run = made[0]
        summary = f"it ran: {describe_outcome(run)}"
        return MomentExplanation(at, RAN, summary, fire_time, runs)

    run = runs[0]
    words = {
        MISSED: "it was missed",
        SKIPPED: "it was skipped",
        LOST: "its run was lost",
        PENDING: "a run was asked for and has not been made yet",
    }
    summary = words.get(run.state, f"its run is {run.state}")
    if run.reason:
        summary += f": {run.reason}"
    return MomentExplanation(at, NOT_RUN, summary, fire_time, runs)


def _job_paused(
    at: datetime,
    fire_time: datetime | None,
    before: list[SchedulerFact],
    facts: Sequence[SchedulerFact],
    job_id: str,
    jobstore: str | None,
) -> MomentExplanation | None:
    fact = _still_on(before, JOB_PAUSED, JOB_RESUMED, lambda fact: fact.job_id == job_id)
    if fact is None:
        return None
    summary = f"the job was paused (since {_when(fact.at)}, by {_process(fact.owner)})"
    return MomentExplanation(at, JOB_WAS_PAUSED, summary, fire_time, facts=(fact,))


def _job_unloadable(
    at: datetime,
    fire_time: datetime | None,
    before: list[SchedulerFact],
    facts: Sequence[SchedulerFact],
    job_id: str,
    jobstore: str | None,
) -> MomentExplanation | None:
    # recorded when loading first fails; a failure a little after the moment counts too
    for fact in facts:
        if fact.job_id == job_id and fact.kind == JOB_UNLOADABLE:
            summary = f"the job could not be loaded ({fact.detail}; recorded {_when(fact.at)})"
            return MomentExplanation(at, JOB_WAS_UNLOADABLE, summary, fire_time, facts=(fact,))
    return None


def _store_unreachable(
    at: datetime,
    fire_time: datetime | None,
    before: list[SchedulerFact],
    facts: Sequence[SchedulerFact],
    job_id: str,
    jobstore: str | None,
) -> MomentExplanation | None:
    fact = _still_on(
        before, STORE_UNREACHABLE, STORE_REACHABLE, lambda fact: fact.jobstore == jobstore
    )
    if fact is None:
        return None
    summary = (
        f"the job store {jobstore!r} was unreachable (since {_when(fact.at)}, seen by "
        f"{_process(fact.owner)}: {fact.detail})"
    )
    return MomentExplanation(at, STORE_WAS_UNREACHABLE, summary, fire_time, facts=(fact,))


def _schedulers(
    at: datetime,
    fire_time: datetime | None,
    before: list[SchedulerFact],
    facts: Sequence[SchedulerFact],
    job_id: str,
    jobstore: str | None,
) -> MomentExplanation | None:
    latest: dict[str, SchedulerFact] = {}
    for fact in before:
        if fact.kind in _LIFECYCLE:
            latest.setdefault(fact.owner, fact)
    running = [fact for fact in latest.values() if _is_running(fact)]
    if running:
        return None

    paused = [fact for fact in latest.values() if fact.kind == SCHEDULER_PAUSED]
    if paused:
        fact = paused[0]
        summary = f"the scheduler was paused ({_process(fact.owner)}, since {_when(fact.at)})"
        return MomentExplanation(at, SCHEDULER_WAS_PAUSED, summary, fire_time, facts=(fact,))

    if latest:
        fact = max(latest.values(), key=lambda fact: fact.at.timestamp())
        summary = (
            f"no scheduler was running: the last one ({_process(fact.owner)}) stopped at "
            f"{_when(fact.at)}"
        )
        return MomentExplanation(at, NO_SCHEDULER_RUNNING, summary, fire_time, facts=(fact,))

    return MomentExplanation(
        at,
        NO_SCHEDULER_RUNNING,
        "no scheduler was running: none had recorded starting by then (or its facts were pruned)",
        fire_time,
    )


def _still_on(
    facts: Sequence[SchedulerFact], on: str, off: str, matches: Callable[[SchedulerFact], bool]
) -> SchedulerFact | None:
    """The latest of the facts ``on``/``off`` that ``matches`` (newest first), if it is ``on``."""
    for fact in facts:
        if fact.kind in (on, off) and matches(fact):
            return fact if fact.kind == on else None
    return None


def _is_running(fact: SchedulerFact) -> bool:
    if fact.kind == SCHEDULER_RESUMED:
        return True
    return fact.kind == SCHEDULER_STARTED and fact.detail != "paused"


def _same_moment(first: datetime, second: datetime) -> bool:
    return abs(first.timestamp() - second.timestamp()) < _SAME_MOMENT.total_seconds()


def _process(owner: str) -> str:
    """``host:pid`` of a scheduler instance name (``host:pid:random``)."""
    parts = owner.rsplit(":", 1)
    return parts[0] if len(parts) == 2 else owner


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


__all__ = [
    "NO_FIRE_TIME",
    "NO_SCHEDULER_RUNNING",
    "NOT_RUN",
    "NOT_YET",
    "PAUSED",
    "RAN",
    "SCHEDULED",
    "UNKNOWN",
    "UNLOADABLE",
    "WAITING",
    "Explanation",
    "MomentExplanation",
    "describe_outcome",
    "describe_run",
    "explain_moment",
]
