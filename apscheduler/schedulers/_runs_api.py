"""
The scheduler's methods about runs: what ran (``get_job_runs``), one more run now
(``run_job_now``) and why a job did or did not run (``explain``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.shared import RunRequest, SharedJobStore, is_shared_store
from apscheduler.runs import FAILED, PENDING, RUNNING, SKIPPED, JobRun
from apscheduler.schedulers import STATE_STOPPED, SchedulerNotRunningError
from apscheduler.schedulers._processing import ProcessingPass
from apscheduler.schedulers._run_history import parse_states
from apscheduler.util import UTC, convert_to_datetime

if TYPE_CHECKING:
    from apscheduler.explain import Explanation
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

#: how many fire times ``explain()`` lists, and how many runs
EXPLAINED_FIRE_TIMES = 5
EXPLAINED_RUNS = 5
#: facts recorded this long after the moment asked about still explain it (a job found
#: unloadable when its run was due, say)
_FACTS_AFTER = timedelta(minutes=1)
_ONE_MICROSECOND = timedelta(microseconds=1)


class RunsAPI:
    """The run methods of :class:`~apscheduler.schedulers.base.BaseScheduler` (documented there)."""

    def get_job_runs(
        self,
        job_id: str | None = None,
        jobstore: str | None = None,
        *,
        state: str | Collection[str] | None = None,
        since: datetime | str | None = None,
        limit: int = 100,
    ) -> list[JobRun]:
        """
        Return the recorded runs of jobs, newest scheduled run time first.

        Runs in progress are included, and runs asked for with :meth:`run_job_now` that no
        scheduler has made yet (``pending``). Where a job store keeps run history itself, the
        runs of every scheduler sharing the store are there; otherwise the runs are those this
        scheduler made since it was created. The runs this scheduler has just recorded are
        written out first, so they are always included.

        :param job_id: only the runs of the job of this id (all jobs if ``None``)
        :param jobstore: only the runs of jobs in the job store of this alias (all stores if
            ``None``)
        :param state: only runs in this state, or in one of these states (see
            :data:`apscheduler.runs.RUN_STATES`)
        :param since: only runs scheduled at or after this time (a naive datetime or text is
            in the scheduler's time zone)
        :param limit: the most runs to return
        :raises ValueError: for a state that does not exist

        .. versionadded:: 3.12.0
        """
        scheduler = cast("BaseScheduler", self)
        states = parse_states(state)
        since_time = convert_to_datetime(since, scheduler.timezone, "since")
        _open_stores_for_client(scheduler, jobstore)
        return scheduler._run_recorder.get_job_runs(job_id, jobstore, states, since_time, limit)

    def run_job_now(self, job_id: str, jobstore: str | None = None) -> JobRun:
        """
        Run the job once more, now, through its executor; its schedule stays as it is.

        ``max_instances`` holds: if that many runs of the job are going on, the run is skipped
        (and recorded so). A paused job can be run too. The run is recorded in the run history
        under the id of the returned record.

        On a job store that several schedulers share, the run is asked of the store, and
        exactly one of the schedulers running on it makes it, usually within a fraction of a
        second: the returned record is then ``pending``; :meth:`get_job_runs` shows it move on.
        A process that runs no scheduler of its own can ask too: configure the scheduler with
        the shared store and call this without starting it (see :ref:`run-now`).

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :return: the run's record as it is now: ``running`` (or already ended, for an executor
            that runs jobs in the calling thread), ``skipped`` with the reason, or ``pending``
        :raises JobLookupError: if there is no such job
        :raises SchedulerNotRunningError: if the scheduler is not running and the job's store
            is not shared (nobody would run the job)

        .. versionadded:: 3.12.0
        """
        scheduler = cast("BaseScheduler", self)
        if scheduler.state == STATE_STOPPED:
            return _request_run_as_client(scheduler, job_id, jobstore)

        job, alias = scheduler._lookup_job(job_id, jobstore)
        assert alias is not None  # a started scheduler has no pending jobs
        store = scheduler._lookup_jobstore(alias)
        if is_shared_store(store):
            return _request_run(scheduler, cast(SharedJobStore, store), alias, job.id)
        return _run_here(scheduler, job, alias)

    def explain(
        self,
        job_id: str,
        jobstore: str | None = None,
        *,
        at: datetime | str | None = None,
    ) -> Explanation:
        """
        Tell the state of a job, its schedule and its last runs, and why it ran or did not.

        Everything it says comes from what is recorded: the job in its store, the run history
        and the facts kept beside it (schedulers started, paused and stopped; stores that
        could not be reached; jobs paused or unloadable). ``str()`` of the answer reads well.

        :param job_id: the identifier of the job
        :param jobstore: alias of the job store that contains the job
        :param at: a moment (a naive datetime or text is in the scheduler's time zone): also
            tell whether the job ran then, or why not
        :raises JobLookupError: if there is no such job, loadable or not

        .. versionadded:: 3.12.0
        """
        # imported here: most programs never ask, and importing the scheduler stays quicker
        from apscheduler.explain import PAUSED, SCHEDULED, WAITING, Explanation

        scheduler = cast("BaseScheduler", self)
        moment = convert_to_datetime(at, scheduler.timezone, "at")
        _open_stores_for_client(scheduler, jobstore)
        now = scheduler._clock.now(UTC)
        try:
            job, alias = _find_job(scheduler, job_id, jobstore)
        except JobLookupError:
            return _explain_unloadable(scheduler, job_id, jobstore, moment, now)

        if alias is None:
            return Explanation(job_id, None, WAITING, name=job.name, trigger=_words(job))

        runs = scheduler.get_job_runs(job.id, alias, limit=EXPLAINED_RUNS)
        stuck = scheduler._run_recorder.stuck.stuck_runs(job.id, alias)
        explanation = Explanation(
            job.id,
            alias,
            SCHEDULED if job.next_run_time is not None else PAUSED,
            name=job.name,
            trigger=_words(job),
            next_run_times=tuple(_next_fire_times(job, now)),
            last_runs=tuple(runs),
            notes=tuple(run.describe(now) for run in stuck),
        )
        if moment is None:
            return explanation

        fire_time, next_fire_time = _fire_time_at(job, moment)
        return _with_moment(scheduler, explanation, moment, now, fire_time, next_fire_time)


def _open_stores_for_client(scheduler: BaseScheduler, jobstore: str | None) -> None:
    """Before start, open the stores a client reads (see ``JobRegistry.open_for_client``)."""
    if scheduler.state != STATE_STOPPED:
        return
    for alias in list(scheduler._jobstores):
        if jobstore is None or alias == jobstore:
            scheduler._registry.open_for_client(alias)


def _find_job(
    scheduler: BaseScheduler, job_id: str, jobstore: str | None
) -> tuple[Job, str | None]:
    """Find the job in its store, also for a scheduler that is not running (a client)."""
    if scheduler.state != STATE_STOPPED or scheduler._registry.pending_job(job_id, jobstore):
        return scheduler._lookup_job(job_id, jobstore)
    for alias in [jobstore] if jobstore is not None else list(scheduler._jobstores):
        job = scheduler._registry.open_for_client(alias).lookup_job(job_id)
        if job is not None:
            return job, alias
    raise JobLookupError(job_id)


def _request_run_as_client(scheduler: BaseScheduler, job_id: str, jobstore: str | None) -> JobRun:
    """Ask the schedulers that share the job's store to run it (this one is not running)."""
    if scheduler._registry.pending_job(job_id, jobstore):
        raise SchedulerNotRunningError
    aliases = [jobstore] if jobstore is not None else list(scheduler._jobstores)
    shared = [alias for alias in aliases if is_shared_store(scheduler._lookup_jobstore(alias))]
    for alias in shared:
        store = scheduler._registry.open_for_client(alias)
        if store.lookup_job(job_id) is not None:
            return _request_run(scheduler, cast(SharedJobStore, store), alias, job_id)
    if len(shared) < len(aliases):
        raise SchedulerNotRunningError
    raise JobLookupError(job_id)


def _request_run(
    scheduler: BaseScheduler, store: SharedJobStore, alias: str, job_id: str
) -> JobRun:
    recorder = scheduler._run_recorder
    now = scheduler._clock.now(UTC)
    run = JobRun(
        recorder.new_run_id(), job_id, alias, now, PENDING, host=recorder.host, pid=recorder.pid
    )
    # recorded before the request exists: the scheduler that makes the run records it
    # under the same id, and its record must come after this one
    recorder.record_at_once([run])
    if not store.request_run(job_id, RunRequest(run.run_id, now)):
        gone = run.evolve(state=SKIPPED, finished_at=now, reason="the job was removed")
        recorder.record_at_once([gone])
        raise JobLookupError(job_id)

    scheduler._logger.info('Asked for a run of job "%s" now (run %s)', job_id, run.run_id)
    scheduler._wakeup_for(now)
    return run


def _run_here(scheduler: BaseScheduler, job: Job, alias: str) -> JobRun:
    """Submit one run of ``job`` to its executor now, as a processing pass would."""
    recorder = scheduler._run_recorder
    executor = scheduler._lookup_executor(job.executor)
    processing = ProcessingPass(scheduler, scheduler._clock.now(UTC))
    now = processing.now
    run = JobRun(
        recorder.new_run_id(),
        job.id,
        alias,
        now,
        RUNNING,
        submitted_at=now,
        host=recorder.host,
        pid=recorder.pid,
    )
    submitted = processing._submit(
        job, alias, executor, [now], [], {now.timestamp(): (run.run_id, 1)}
    )
    for event in processing.events:
        scheduler._dispatch_event(event)
    codes = {event.code for event in processing.events}
    if not submitted:
        if EVENT_JOB_MAX_INSTANCES in codes:
            reason = f"max_instances={job.max_instances} reached"
            run = run.evolve(state=SKIPPED, submitted_at=None, finished_at=now, reason=reason)
        else:
            run = run.evolve(state=FAILED, submitted_at=None, finished_at=now)
    elif EVENT_JOB_SUBMITTED in codes:
        scheduler._logger.info('Running job "%s" now (run %s)', job, run.run_id)
    return recorder.find_run(run) or run


def _explain_unloadable(
    scheduler: BaseScheduler,
    job_id: str,
    jobstore: str | None,
    moment: datetime | None,
    now: datetime,
) -> Explanation:
    from apscheduler.explain import UNLOADABLE, Explanation

    found = [u for u in scheduler.get_unloadable_jobs(jobstore) if u.job_id == job_id]
    if not found:
        raise JobLookupError(job_id)

    unloadable = found[0]
    runs = scheduler.get_job_runs(job_id, unloadable.jobstore, limit=EXPLAINED_RUNS)
    explanation = Explanation(
        job_id,
        unloadable.jobstore,
        UNLOADABLE,
        state_reason=unloadable.reason,
        last_runs=tuple(runs),
    )
    if moment is None:
        return explanation
    return _with_moment(scheduler, explanation, moment, now, None, None)


def _with_moment(
    scheduler: BaseScheduler,
    explanation: Explanation,
    moment: datetime,
    now: datetime,
    fire_time: datetime | None,
    next_fire_time: datetime | None,
) -> Explanation:
    from dataclasses import replace

    from apscheduler.explain import explain_moment

    around = fire_time or moment
    runs = scheduler.get_job_runs(
        explanation.job_id, explanation.jobstore, since=around - timedelta(seconds=1), limit=1000
    )
    facts = scheduler._run_recorder.get_facts(explanation.jobstore, around + _FACTS_AFTER)
    answer = explain_moment(
        moment,
        now,
        fire_time,
        next_fire_time,
        runs,
        facts,
        explanation.job_id,
        explanation.jobstore,
    )
    return replace(explanation, moment=answer)


def _words(job: Job) -> str:
    from apscheduler.triggers.words import describe_trigger

    return describe_trigger(job.trigger)


def _next_fire_times(job: Job, now: datetime) -> list[datetime]:
    """The job's next fire times; a paused job's are those it would have if resumed now."""
    trigger = job.trigger
    fire_time = job.next_run_time or trigger.get_next_fire_time(None, now)
    times: list[datetime] = []
    while fire_time is not None and len(times) < EXPLAINED_FIRE_TIMES:
        times.append(fire_time)
        fire_time = trigger.get_next_fire_time(fire_time, fire_time + _ONE_MICROSECOND)
    return times


def _fire_time_at(job: Job, moment: datetime) -> tuple[datetime | None, datetime | None]:
    """
    The trigger's fire time at ``moment`` (within a second), and its first one after.

    Asked from just before ``moment``: the first fire time from there is the one at
    ``moment`` if there is one.
    """
    earliest = moment - timedelta(seconds=1) + _ONE_MICROSECOND
    first = job.trigger.get_next_fire_time(None, earliest)
    if first is None or first.timestamp() < earliest.timestamp():
        return None, None  # a date trigger's one fire time, long before
    if first.timestamp() < moment.timestamp() + 1:
        return first, None
    return None, first


__all__ = ["RunsAPI"]
