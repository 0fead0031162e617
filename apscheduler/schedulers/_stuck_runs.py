"""
Runs that go on for far longer than usual: logged once, and shown by ``explain()``.

The usual duration of a job is the median of its latest runs that succeeded in this scheduler.
A run still going after ``stuck_run_factor`` times that is probably stuck (a lost connection, a
deadlock): without a ``timeout`` nothing stops it, and with ``max_instances`` it blocks every
later run of its job. Each run in progress of a job with a known usual duration costs one entry
in the deadline watcher (see :mod:`apscheduler.executors._deadlines`).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import partial
from typing import NamedTuple

from apscheduler.executors._deadlines import watcher
from apscheduler.runs import SUCCEEDED, JobRun

UTC = timezone.utc
#: how many of a job's latest durations its usual duration is the median of
DURATIONS_KEPT = 20
#: fewer durations than this tell nothing usual
MIN_DURATIONS = 3
#: runs are not watched when they would be reported stuck sooner than this, in seconds
MIN_STUCK_SECONDS = 10.0
#: the default ``stuck_run_factor``
DEFAULT_FACTOR = 10.0

_JobKey = tuple[str | None, str]


class StuckRun(NamedTuple):
    """A run in progress that has gone on for far longer than its job's runs usually do."""

    run: JobRun
    #: the median duration of the job's latest runs, in seconds
    usual_seconds: float
    #: when it was found stuck
    noticed_at: datetime

    def describe(self, now: datetime) -> str:
        start = self.run.started_at or self.run.submitted_at or self.run.scheduled_run_time
        running = now.timestamp() - start.timestamp()
        return (
            f"the run scheduled at {self.run.scheduled_run_time} has been going on for "
            f"{running:.0f} s, while its runs usually take {self.usual_seconds:.1f} s: it may "
            f"be stuck"
        )


class StuckRunWatch:
    """
    Keeps the usual durations of jobs and watches their runs in progress.

    :param now: the scheduler's clock, in UTC
    :param logger: where a stuck run is reported
    """

    def __init__(self, now: Callable[[], datetime], logger: logging.Logger) -> None:
        self.factor = DEFAULT_FACTOR
        self._now = now
        self._logger = logger
        self._lock = threading.Lock()
        self._durations: dict[_JobKey, deque[float]] = {}
        # run id -> the run, while it is in progress and watched
        self._watched: dict[str, JobRun] = {}
        self._stuck: dict[str, StuckRun] = {}

    def submitted(self, runs: Sequence[JobRun]) -> None:
        """Watch the runs just submitted, if their job's usual duration is known."""
        if not self.factor or not self._durations:
            return
        for run in runs:
            usual = self._usual(run.jobstore, run.job_id)
            if usual is None:
                continue
            limit = usual * self.factor
            if limit < MIN_STUCK_SECONDS:
                continue
            with self._lock:
                self._watched[run.run_id] = run
            watcher.watch(limit, partial(self._check, run, usual))

    def ended(self, runs: Sequence[JobRun]) -> None:
        """Forget the runs that ended; learn the durations of those that succeeded."""
        with self._lock:
            for run in runs:
                self._watched.pop(run.run_id, None)
                if self._stuck.pop(run.run_id, None) is not None:
                    self._logger.info('The run of job "%s" that seemed stuck ended', run.job_id)
                if run.state == SUCCEEDED and run.started_at and run.finished_at:
                    seconds = run.finished_at.timestamp() - run.started_at.timestamp()
                    key = (run.jobstore, run.job_id)
                    kept = self._durations.get(key)
                    if kept is None:
                        kept = self._durations[key] = deque(maxlen=DURATIONS_KEPT)
                    kept.append(seconds)

    def stuck_runs(self, job_id: str, jobstore: str | None) -> list[StuckRun]:
        """The runs of the job that are stuck now, oldest first."""
        with self._lock:
            found = [
                stuck
                for stuck in self._stuck.values()
                if stuck.run.job_id == job_id and stuck.run.jobstore == jobstore
            ]
        return sorted(found, key=lambda stuck: stuck.run.scheduled_run_time.timestamp())

    def _usual(self, jobstore: str | None, job_id: str) -> float | None:
        with self._lock:
            kept = self._durations.get((jobstore, job_id))
            if kept is None or len(kept) < MIN_DURATIONS:
                return None
            durations = sorted(kept)
        middle = len(durations) // 2
        if len(durations) % 2:
            return durations[middle]
        return (durations[middle - 1] + durations[middle]) / 2

    def _check(self, run: JobRun, usual: float) -> None:
        now = self._now()
        with self._lock:
            if run.run_id not in self._watched:
                return  # it ended in time
            stuck = self._stuck[run.run_id] = StuckRun(run, usual, now)
        self._logger.warning('Job "%s": %s', run.job_id, stuck.describe(now))


__all__ = ["DEFAULT_FACTOR", "StuckRun", "StuckRunWatch"]
