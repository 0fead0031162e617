"""
What a job store or an executor may ask of the scheduler that started it.

APScheduler 3 hands plugins the scheduler itself (``start(scheduler, alias)``), and plugins
then reach into its private attributes. :class:`SchedulerHandle` is the small documented
surface instead: the time by the scheduler's clock, its time zone, dispatching an event, waking
it for a run time, creating a lock of the scheduler's kind, and the two calls by which an
executor reports the runs of shared stores. ``start()`` keeps its 3.x signature; a plugin builds
the handle from the scheduler it receives (the base classes do it as ``self._handle``).
An executor derived from :class:`~apscheduler.executors.base.BaseExecutor` reports through
it without doing anything: ``_run_job_success()`` and ``_run_job_error()`` call it.

Built from a stand-in for a scheduler (a ``Mock`` in a test, or any object that is not a
:class:`~apscheduler.schedulers.base.BaseScheduler`), a handle answers with the system time, UTC
and no-ops where the stand-in has nothing better, instead of with more mocks.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from apscheduler.clock import scheduler_clock
from apscheduler.events import EVENT_JOB_UNLOADABLE
from apscheduler.runs import JOB_UNLOADABLE

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent, SchedulerEvent
    from apscheduler.job import Job

UTC = timezone.utc
_NO_ATTRIBUTES: dict[str, Any] = {}


class _DeferredEvents(threading.local):
    #: the events that plugins dispatch in this thread while the scheduler holds its store
    #: lock (``None``: dispatch them at once)
    events: list[SchedulerEvent] | None = None


_deferred = _DeferredEvents()


class deferring_events:  # noqa: N801 (a context manager used like a function)
    """
    Collect into ``into`` the events that plugins dispatch in this thread meanwhile.

    The scheduler wraps the work it does under its store lock in this, and dispatches the
    events once the lock is released: listeners never run while it holds the lock. (A class
    rather than a generator: it wraps every job lookup, and this costs less.)
    """

    __slots__ = ("_into", "_previous")

    def __init__(self, into: list[SchedulerEvent]) -> None:
        self._into = into
        self._previous: list[SchedulerEvent] | None = None

    def __enter__(self) -> list[SchedulerEvent]:
        self._previous = _deferred.events
        _deferred.events = self._into
        return self._into

    def __exit__(self, *exc_info: object) -> None:
        _deferred.events = self._previous


class SchedulerHandle:
    """
    The scheduler, as the job stores and executors it started see it.

    :param scheduler: the scheduler passed to the plugin's ``start(scheduler, alias)``
    """

    __slots__ = ("_scheduler", "_attributes")

    def __init__(self, scheduler: Any) -> None:
        self._scheduler = scheduler
        # only the instance's own attributes: a Mock answers any attribute with another mock
        self._attributes: dict[str, Any] = getattr(scheduler, "__dict__", _NO_ATTRIBUTES)

    def now(self, tz: tzinfo = UTC) -> datetime:
        """Return the current time by the scheduler's clock (its ``clock`` option), in ``tz``."""
        clock = scheduler_clock(self._scheduler)
        if clock is None:
            return datetime.now(tz)

        return clock.now(tz)

    @property
    def timezone(self) -> tzinfo:
        """The scheduler's default time zone."""
        zone = getattr(self._scheduler, "timezone", None)
        return zone if isinstance(zone, tzinfo) else UTC

    def dispatch(self, event: SchedulerEvent) -> None:
        """
        Send ``event`` to the scheduler's listeners.

        Called while the scheduler holds its store lock (from a store method it called during a
        processing pass, say), the event waits until the lock is released.
        """
        if event.code == EVENT_JOB_UNLOADABLE:
            self._record_unloadable(event)
        deferred = _deferred.events
        if deferred is not None:
            deferred.append(event)
            return

        dispatch_event = getattr(self._scheduler, "_dispatch_event", None)
        if dispatch_event is not None:
            dispatch_event(event)

    def _record_unloadable(self, event: Any) -> None:
        recorder = self._attributes.get("_run_recorder")
        if recorder is not None:
            recorder.fact(JOB_UNLOADABLE, event.jobstore, event.job_id, event.reason)

    def wake_for(self, run_time: datetime | None) -> None:
        """
        Wake the scheduler if it means to sleep past ``run_time`` (a job of another process, say).

        Does nothing for ``None``, for a scheduler that is not running, or when the scheduler
        wakes up before ``run_time`` anyway.
        """
        if run_time is None:
            return

        # looked up on the class: a Mock stand-in has no such method and is left alone
        wakeup_for = getattr(type(self._scheduler), "_wakeup_for", None)
        if wakeup_for is not None:
            wakeup_for(self._scheduler, run_time)

    def create_lock(self) -> Any:
        """Return a new reentrant lock of the scheduler's kind (a gevent scheduler's, say)."""
        create_lock = getattr(type(self._scheduler), "_create_lock", None)
        if create_lock is None:
            return threading.RLock()

        return create_lock(self._scheduler)

    def may_start(self, job: Job, run_times: Sequence[datetime]) -> bool:
        """
        Tell whether the runs ``run_times`` of ``job``, about to start, are still this process's.

        Always ``True`` for runs of a store that is not shared. For runs claimed from a shared
        store, ``False`` when the process could not renew their lease in time (it was stopped
        or starved for longer than the lease) and another scheduler took them over as
        abandoned: they must not start twice. Cheap unless the lease may have run out.
        """
        leases = self._attributes.get("_run_leases")
        if leases is None:
            return True

        return bool(leases.may_start(job.id, run_times))

    def record_outcomes(self, events: Sequence[JobExecutionEvent], job: Job | None = None) -> None:
        """
        Record in the run history how the runs ended, from the events ``run_job`` made, and
        make the retries of those that failed.

        :param job: the job that ran (without it, no retry is made)
        """
        retries = self._attributes.get("_retries")
        if retries is not None:
            retries.runs_ended(job, events)
        recorder = self._attributes.get("_run_recorder")
        if recorder is not None:
            recorder.runs_ended(events)

    def record_failure(self, job_id: str, exc: BaseException, traceback: Any = None) -> None:
        """Record in the run history that a submission of ``job_id`` could not run at all."""
        recorder = self._attributes.get("_run_recorder")
        if recorder is not None:
            recorder.submission_failed(job_id, exc, traceback)

    def runs_ended(self, job_id: str, run_times: Sequence[datetime] | None = None) -> None:
        """
        Report that a submission of the job ``job_id`` has ended (its instance is released).

        :param run_times: the run times the submission was given, if known; without them, the
            oldest submission of the job still in progress counts as ended
        """
        leases = self._attributes.get("_run_leases")
        if leases is not None:
            leases.ended(job_id, run_times)


__all__ = ["SchedulerHandle", "deferring_events"]
