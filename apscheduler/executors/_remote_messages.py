"""
What travels between a scheduler and a task queue's workers: the run message and its outcome.

A run message names the job's callable by its text reference (``package.module:name``), holds
its arguments, the run times and, for each run time, an idempotency key (the job id and the
scheduled time), so that any worker can run it and no worker runs it twice. The outcome is a
document of the same kind, one entry per run time. Both are plain JSON values: every engine's
default serializer carries them, and nothing in them is unpickled.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_TIMED_OUT,
    JobExecutionEvent,
)
from apscheduler.executors._deadlines import JobLost, JobTimeout

if TYPE_CHECKING:
    from apscheduler.job import Job

UTC = timezone.utc
#: the version of the message format, in every message and outcome
FORMAT = 1

# what a worker says of each run time of a message
EXECUTED = "executed"
ERROR = "error"
MISSED = "missed"
TIMED_OUT = "timed_out"
LOST = "lost"
#: another delivery of the same run holds its key: this one did nothing (nobody waits for it)
DUPLICATE = "duplicate"


class RunMessage(TypedDict):
    """The message a remote executor sends for one submission of a job."""

    apscheduler: int
    job_id: str
    jobstore: str | None
    name: str
    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    #: ISO 8601 with the UTC offset, one per run of the submission
    run_times: list[str]
    #: the idempotency key of each run time (see :func:`run_key`)
    keys: list[str]
    misfire_grace_time: float | None
    timeout: float | None


class RunOutcome(TypedDict, total=False):
    """What a worker reports of one run time."""

    run_time: str
    key: str
    outcome: str
    retval: Any
    #: ``module.QualName`` of the exception a failed run raised
    exc_type: str
    exc_args: list[Any]
    exc_text: str
    traceback: str
    reason: str
    started_at: str
    finished_at: str
    #: ``host:pid`` of the worker process that ran it
    worker: str


def run_key(job_id: str, run_time: datetime) -> str:
    """The idempotency key of one run: the job id and the scheduled time, in UTC."""
    return f"{job_id}@{run_time.astimezone(UTC).isoformat()}"


def message_time_limit(message: RunMessage) -> float | None:
    """
    Seconds the whole message may run on its worker: the job's ``timeout`` once for each of its
    run times (a catch-up runs them one after another); ``None`` for a job without a timeout.
    """
    timeout = message["timeout"]
    return None if timeout is None else timeout * len(message["run_times"])


def check_sendable(job: Job) -> None:
    """
    Refuse a job whose call a worker on another machine could not make.

    :raises ValueError: the callable has no text reference (a lambda or a nested function), or
        an argument is not plain JSON (the value is named)
    """
    if not job.func_ref:
        raise ValueError(
            f"This executor sends jobs to workers by the text reference of their callable, "
            f"and {job.func!r} of job {job.id!r} has none: use a module-level function, or its "
            f'"package.module:name" text'
        )
    _check_json("argument", job.args, job.id)
    for name, value in job.kwargs.items():
        _check_json(f"keyword argument {name!r}", value, job.id)


def _check_json(what: str, value: Any, job_id: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Job {job_id!r} has a {what} that workers cannot receive: {value!r} is not plain "
            f"JSON ({exc})"
        ) from None


def build_message(job: Job, run_times: Sequence[datetime]) -> RunMessage:
    """The message for one submission of ``job`` (checked with :func:`check_sendable`)."""
    check_sendable(job)
    return RunMessage(
        apscheduler=FORMAT,
        job_id=job.id,
        jobstore=job._jobstore_alias,
        name=job.name,
        func=job.func_ref or "",
        args=list(job.args),
        kwargs=dict(job.kwargs),
        run_times=[run_time.isoformat() for run_time in run_times],
        keys=[run_key(job.id, run_time) for run_time in run_times],
        misfire_grace_time=job.misfire_grace_time,
        timeout=job.timeout,
    )


def events_from_outcomes(
    message: RunMessage, run_times: Sequence[datetime], outcomes: Sequence[RunOutcome]
) -> list[JobExecutionEvent]:
    """
    The scheduler's events for the runs of ``message``, from what the worker reported.

    A run time the worker did not report (an outcome document cut short) counts as lost.
    """
    by_key = {outcome.get("key"): outcome for outcome in outcomes}
    events = []
    for run_time, key in zip(run_times, message["keys"], strict=True):
        outcome = by_key.get(key)
        if outcome is None:
            outcome = RunOutcome(outcome=LOST, reason="the worker reported no outcome for it")
        events.append(event_from_outcome(message, run_time, outcome))
    return events


def event_from_outcome(
    message: RunMessage, run_time: datetime, outcome: RunOutcome
) -> JobExecutionEvent:
    """The scheduler's event for one run that a worker reported."""
    kind = outcome.get("outcome")
    job_id, jobstore = message["job_id"], message["jobstore"]
    reason = outcome.get("reason")
    if kind == EXECUTED:
        event = JobExecutionEvent(
            EVENT_JOB_EXECUTED, job_id, jobstore, run_time, retval=outcome.get("retval")
        )
    elif kind == MISSED:
        event = JobExecutionEvent(EVENT_JOB_MISSED, job_id, jobstore, run_time, reason=reason)
    elif kind == TIMED_OUT:
        reason = reason or f"it ran for longer than its timeout of {message['timeout']:g} s"
        event = JobExecutionEvent(
            EVENT_JOB_TIMED_OUT,
            job_id,
            jobstore,
            run_time,
            exception=JobTimeout(reason),
            traceback=outcome.get("traceback"),
            reason=reason,
        )
    elif kind == ERROR:
        event = JobExecutionEvent(
            EVENT_JOB_ERROR,
            job_id,
            jobstore,
            run_time,
            exception=rebuild_exception(outcome),
            traceback=outcome.get("traceback"),
            reason=reason,
        )
    else:  # lost, a duplicate that was the only delivery, or something unknown
        reason = reason or f"the worker reported {kind!r}"
        event = JobExecutionEvent(
            EVENT_JOB_ERROR, job_id, jobstore, run_time, exception=JobLost(reason), reason=reason
        )
    event.started_at = _parse_time(outcome.get("started_at"))
    event.finished_at = _parse_time(outcome.get("finished_at"))
    return event


class RemoteJobError(Exception):
    """
    The exception a job raised on a worker, when its own class cannot be rebuilt here (its
    module is not imported in the scheduler's process, or its arguments do not fit). The text
    is ``module.QualName: message``; the event's ``traceback`` is the worker's.

    .. versionadded:: 3.12.0
    """


def rebuild_exception(outcome: Mapping[str, Any]) -> BaseException:
    """
    The exception a run raised on its worker: of the same class where that class is already
    imported here and takes the reported arguments, else a :class:`RemoteJobError`.

    Nothing is imported on the worker's word: a message does not choose what code runs here.
    """
    type_name = str(outcome.get("exc_type") or "Exception")
    text = str(outcome.get("exc_text") or "")
    cls = _imported_exception_class(type_name)
    if cls is not None:
        try:
            return cls(*outcome.get("exc_args", ()))
        except Exception:  # noqa: S110 (a class whose signature differs: described instead)
            pass
    return RemoteJobError(f"{type_name}: {text}" if text else type_name)


def _imported_exception_class(type_name: str) -> type[BaseException] | None:
    module_name, _, qualname = type_name.rpartition(".")
    module = sys.modules.get(module_name or "builtins")
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if isinstance(target, type) and issubclass(target, Exception):
        return target
    return None


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


__all__ = [
    "FORMAT",
    "RemoteJobError",
    "RunMessage",
    "RunOutcome",
    "build_message",
    "check_sendable",
    "event_from_outcome",
    "events_from_outcomes",
    "message_time_limit",
    "rebuild_exception",
    "run_key",
]
