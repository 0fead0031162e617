"""
The base of the executors that hand runs to a task queue's workers (Celery, RQ, Dramatiq).

A submission becomes one message (see :mod:`apscheduler.executors._remote_messages`): the job's
callable by its text reference, its arguments, its run times and their idempotency keys. A
worker of the task queue runs it with one small task of this package and reports an outcome
document through the engine's result backend. The executor counts the submission as one
instance of the job until that outcome is back, not until the message is sent, so
``max_instances`` holds while the run is on a worker (on a shared store, the run's lease is
renewed meanwhile, so other schedulers count it too). One thread per executor looks up the
outcomes of all runs in progress, in batches, and only while some are: there is no thread or
timer per run, and an idle executor costs nothing.

An engine's executor implements :meth:`RemoteExecutor._send` and
:meth:`RemoteExecutor._collect`.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from apscheduler.executors._remote_messages import (
    LOST,
    TIMED_OUT,
    RemoteJobError,
    RunMessage,
    RunOutcome,
    build_message,
    check_sendable,
    events_from_outcomes,
)
from apscheduler.executors.base import BaseExecutor

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

#: seconds between two looks at the outcomes of the runs in progress
DEFAULT_POLL_INTERVAL = 0.2


class SentRun(NamedTuple):
    """One submission on its way to, or on, a worker."""

    #: the engine's id of the message (task id, job id, message id)
    task_id: str
    job: Job
    run_times: list[datetime]
    message: RunMessage
    #: ``time.monotonic()`` when it was sent
    sent_at: float


class RemoteExecutor(BaseExecutor):
    """
    Hands each submission to a task queue and reports its outcome when a worker has run it.

    :param poll_interval: seconds between two looks at the outcomes of the runs in progress
    :param lost_after: seconds after which a run that has not reported is reported lost, for an
        engine that cannot tell that a worker died (``None``: wait as long as it takes). Keep it
        longer than any job's time in the queue plus its run: a run reported lost is forgotten,
        and its outcome, if it comes later, is not recorded.
    """

    def __init__(
        self, poll_interval: float = DEFAULT_POLL_INTERVAL, *, lost_after: float | None = None
    ) -> None:
        super().__init__()
        poll_interval = float(poll_interval)
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        if lost_after is not None:
            lost_after = float(lost_after)
            if lost_after <= 0:
                raise ValueError(f"lost_after must be positive or None, not {lost_after!r}")
        self.poll_interval = poll_interval
        self.lost_after = lost_after
        self._sent: dict[str, SentRun] = {}
        self._changed = threading.Condition(threading.Lock())
        self._collector: threading.Thread | None = None
        self._stopping = False
        self._collect_failing = False

    # ----- the executor interface

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        self._stopping = False
        self._connect()

    def shutdown(self, wait: bool = True) -> None:
        """
        Stop looking up outcomes; with ``wait``, first wait until every run sent has reported
        (runs still on workers then go on there, unreported here).
        """
        with self._changed:
            if wait:
                while self._sent and self._collector is not None:
                    self._changed.wait()
            self._stopping = True
            self._changed.notify_all()
            collector, self._collector = self._collector, None
        if collector is not None and collector is not threading.current_thread():
            collector.join()
        self._disconnect()

    def check_job(self, job: Job) -> None:
        """
        Refuse a job that workers could not run: its callable must have a text reference and
        its arguments must be plain JSON.

        :raises ValueError: naming what cannot travel
        """
        check_sendable(job)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        message = build_message(job, run_times)
        task_id = self._send(message, job)
        with self._changed:
            self._sent[task_id] = SentRun(task_id, job, run_times, message, time.monotonic())
            self._ensure_collector()
            self._changed.notify_all()

    # ----- what an engine implements

    def _connect(self) -> None:
        """Open what the executor needs of its engine (called by ``start()``)."""

    def _disconnect(self) -> None:
        """Close it again (called by :meth:`shutdown`)."""

    @abstractmethod
    def _send(self, message: RunMessage, job: Job) -> str:
        """Send ``message`` to the task queue; return the engine's id of it."""

    @abstractmethod
    def _collect(self, sent: Sequence[SentRun]) -> Mapping[str, Sequence[RunOutcome]]:
        """
        Look up the outcomes of the runs ``sent`` (in one batch, where the engine can): return,
        by task id, the outcomes of those that ended. Runs still going on are left out. A run
        the engine says was lost (its worker died) or stopped at its time limit is reported
        with :func:`lost_outcomes` or :func:`timed_out_outcomes`.
        """

    # ----- the outcomes

    def _ensure_collector(self) -> None:
        """Start the thread that collects outcomes (hold ``_changed``)."""
        if self._collector is None and not self._stopping:
            self._collector = threading.Thread(
                target=self._collect_outcomes, name=f"{type(self).__name__} outcomes", daemon=True
            )
            self._collector.start()

    def _collect_outcomes(self) -> None:
        while True:
            with self._changed:
                while not self._sent and not self._stopping:
                    self._changed.wait()
                if self._stopping:
                    return
                sent = list(self._sent.values())
            self._report(self._look_up(sent))
            with self._changed:
                if self._sent and not self._stopping:
                    self._changed.wait(self.poll_interval)

    def _look_up(self, sent: Sequence[SentRun]) -> list[tuple[SentRun, Sequence[RunOutcome]]]:
        """Ask the engine; an engine that cannot answer now is asked again at the next look."""
        try:
            outcomes = self._collect(sent)
        except Exception:
            if not self._collect_failing:
                self._logger.exception("Could not look up the outcomes of runs sent to workers")
            self._collect_failing = True
            return []
        if self._collect_failing:
            self._logger.info("Looking up the outcomes of runs sent to workers works again")
            self._collect_failing = False
        # pairs, not a dict: a SentRun holds lists and is not hashable
        ended = [(run, outcomes[run.task_id]) for run in sent if run.task_id in outcomes]
        if self.lost_after is not None:
            ended += self._overdue([run for run in sent if run.task_id not in outcomes])
        return ended

    def _overdue(self, out: Sequence[SentRun]) -> list[tuple[SentRun, Sequence[RunOutcome]]]:
        """The runs out for longer than ``lost_after``, reported lost."""
        assert self.lost_after is not None
        deadline = time.monotonic() - self.lost_after
        reason = f"no outcome came back within lost_after={self.lost_after:g} s"
        return [(run, lost_outcomes(run, reason)) for run in out if run.sent_at < deadline]

    def _report(self, ended: Sequence[tuple[SentRun, Sequence[RunOutcome]]]) -> None:
        for run, outcomes in ended:
            events = events_from_outcomes(run.message, run.run_times, outcomes)
            for event in events:
                self._log_outcome(run.job, event)
            try:
                self._run_job_success(run.job.id, events)
            except Exception:
                self._logger.exception('Could not report the end of a run of job "%s"', run.job)
            with self._changed:
                self._sent.pop(run.task_id, None)
                self._changed.notify_all()

    def _log_outcome(self, job: Job, event: Any) -> None:
        exception = event.exception
        if exception is None:
            self._logger.info('Job "%s" ran on a worker', job)
        elif isinstance(exception, RemoteJobError) or event.traceback:
            self._logger.error(
                'Job "%s" raised an exception on a worker: %s\n%s',
                job,
                exception,
                event.traceback or "",
            )
        else:
            self._logger.error('Job "%s" did not end on a worker: %s', job, event.reason)


def lost_outcomes(run: SentRun, reason: str) -> list[RunOutcome]:
    """The outcomes of a submission whose worker died, by the engine's word."""
    return [_outcome(key, text, LOST, reason) for key, text in _keys(run)]


def timed_out_outcomes(run: SentRun, reason: str | None = None) -> list[RunOutcome]:
    """The outcomes of a submission the engine stopped at its time limit."""
    return [_outcome(key, text, TIMED_OUT, reason) for key, text in _keys(run)]


def _keys(run: SentRun) -> list[tuple[str, str]]:
    return list(zip(run.message["keys"], run.message["run_times"], strict=True))


def _outcome(key: str, run_time: str, kind: str, reason: str | None) -> RunOutcome:
    outcome = RunOutcome(key=key, run_time=run_time, outcome=kind)
    if reason:
        outcome["reason"] = reason
    return outcome


__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "RemoteExecutor",
    "RemoteJobError",
    "SentRun",
    "lost_outcomes",
    "timed_out_outcomes",
]
