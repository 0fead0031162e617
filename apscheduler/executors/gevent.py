"""An executor that runs each job in a greenlet of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from apscheduler._run_control import OVERLAP_CANCEL
from apscheduler.executors._deadlines import JobCancelled, JobTimeout
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.util import _with_note

try:
    import gevent
    from gevent.monkey import get_original
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise _with_note(
        ImportError("GeventExecutor requires gevent installed"), "pip install APScheduler[gevent]"
    ) from exc

if TYPE_CHECKING:
    from datetime import datetime

    from gevent import Greenlet

    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

# the thread's own id, even where gevent has monkey patched threading to give greenlet ids
_thread_id = get_original("_thread", "get_ident")


def _may_wait_for_greenlets_of(thread_id: int | None) -> bool:
    """
    Tell whether the caller may block until greenlets of thread ``thread_id`` finish.

    Greenlets can only be waited for in their own thread, and never from the hub (where link
    callbacks run): blocking there would stop every greenlet of the thread.
    """
    return thread_id == _thread_id() and gevent.getcurrent() is not gevent.get_hub()


class _GreenletRunGuard:
    """
    Stops a run in the job's greenlet where it waits for gevent (a ``gevent.sleep``, a patched
    socket): at its deadline, a :class:`gevent.Timeout` raises ``JobTimeout``; for a newer run
    (``overlap="cancel"``), the hub throws in ``JobCancelled``. A greenlet that never yields
    to the hub cannot be stopped.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._timer: gevent.Timeout | None = None
        self._greenlet: Any = None
        self._hub: Any = None
        # counts the runs, so that a stop that arrives late leaves the next run alone
        self._run = 0
        self._stop_pending: str | None = None
        #: why the run was stopped for another, if it was
        self.cancel_reason: str | None = None

    def arm(self, run_time: datetime) -> None:
        if self._stop_pending is not None:  # stopped before it started: it does not start
            self.cancel_reason, self._stop_pending = self._stop_pending, None
            raise JobCancelled
        self._greenlet = gevent.getcurrent()
        self._hub = gevent.get_hub()
        self._run += 1
        self.cancel_reason = None
        if self.timeout is not None:
            # the timer throws into the greenlet that starts it: the job's own
            self._timer = gevent.Timeout(self.timeout, JobTimeout)
            self._timer.start()

    def disarm(self) -> bool:
        """End the watch; tell whether the deadline had passed."""
        self._greenlet = None
        timer, self._timer = self._timer, None
        if timer is None:
            return False
        fired = not timer.pending  # a timer that went off is no longer pending
        timer.close()
        return bool(fired)

    def stop(self, reason: str) -> bool:
        """Stop the run going on now (or keep the next one from starting)."""
        if self._greenlet is None:
            self._stop_pending = reason
            return True
        self.cancel_reason = reason
        # from the run's hub, as gevent's own kill() does: the job's greenlet waits there
        self._hub.loop.run_callback_threadsafe(self._throw, self._run)
        return True

    def _throw(self, run: int) -> None:
        if self._greenlet is not None and self._run == run:  # else it ended meanwhile
            self._greenlet.throw(JobCancelled)

    def runs_the_caller(self) -> bool:
        """Tell whether the calling code is the greenlet of the run going on."""
        return self._greenlet is not None and self._greenlet is gevent.getcurrent()


class GeventExecutor(BaseExecutor):
    """
    Runs each job in a new greenlet.

    Jobs take turns with the rest of the program at every point where gevent switches
    greenlets, so a job that blocks without going through gevent (a library that gevent has not
    monkey patched, or a long computation) holds up everything else, the scheduler included.
    Listeners hear of a job's outcome in the job's greenlet.

    A job's ``timeout`` raises ``JobTimeout`` in the job's greenlet at the deadline, where it
    waits for gevent (a job that never yields cannot be stopped), and the run is reported timed
    out. ``overlap="cancel"`` stops a run the same way, with ``JobCancelled``; the run is
    reported failed, with the reason.

    Plugin alias: ``gevent``
    """

    def __init__(self) -> None:
        super().__init__()
        self._greenlets: set[Greenlet] = set()
        self._thread: int | None = None

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        self._thread = _thread_id()

    def shutdown(self, wait: bool = True) -> None:
        if wait and _may_wait_for_greenlets_of(self._thread):
            # a job that shuts the scheduler down would otherwise wait for itself forever
            current = gevent.getcurrent()
            gevent.joinall([glet for glet in list(self._greenlets) if glet is not current])

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        # made now: a run stopped before its greenlet starts does not start
        guard = self._greenlet_guard(job)
        self._greenlets.add(gevent.spawn(self._run, job, run_times, guard))

    def _greenlet_guard(self, job: Job) -> _GreenletRunGuard | None:
        """The guard of a job with a ``timeout`` or ``overlap="cancel"`` (else ``None``)."""
        if job.timeout is None and job.overlap != OVERLAP_CANCEL:
            return None
        guard = _GreenletRunGuard(job.timeout)
        self._watch_run(job.id, guard)
        return guard

    def _run(self, job: Job, run_times: list[datetime], guard: _GreenletRunGuard | None) -> None:
        arguments = (job, job._jobstore_alias, run_times, self._logger.name)
        try:
            if guard is None:  # the 3.x call, which test suites may patch (gevent.run_job)
                events = run_job(*arguments)
            else:
                events = run_job(*arguments, guard)
        except BaseException as exc:
            self._run_job_error(job.id, exc, exc.__traceback__)
        else:
            self._run_job_success(job.id, events)
        finally:
            self._greenlets.discard(gevent.getcurrent())
