"""
Tools for testing code that schedules jobs: a clock the test moves, and a way to let scheduled
time pass in an instant.

:class:`FakeClock` stands still until the test moves it; a scheduler given one with its
``clock=`` option sees only the time the test chose. :func:`advance` then lets time pass on
that clock and makes every run that falls due on the way, one after another in the calling
thread, before it returns.

How :func:`advance` works, and why it is safe on a scheduler that has a thread of its own:

* It holds the scheduler's job store lock for the whole advance. A processing pass of the
  scheduler's own thread (a :class:`~apscheduler.schedulers.background.BackgroundScheduler`, or
  a :class:`~apscheduler.schedulers.blocking.BlockingScheduler` started in a thread) waits at
  that lock meanwhile, so it never runs jobs beside the advance; once the lock is free, its
  pass finds nothing due that the advance has not made already. A pass of that thread that was
  going on when the advance began ends before the advance starts. Jobs and listeners may still
  call the scheduler from the calling thread: the lock is reentrant.
* Each executor of the scheduler runs its jobs in the calling thread meanwhile, as
  :class:`~apscheduler.executors.debug.DebugExecutor` does, keeping its own count of running
  instances (so ``max_instances`` and ``overlap`` hold). Its own way of running jobs is given
  back when the advance ends, also when it ends with an error. (An executor added while the
  advance goes on keeps its own way.) A job given to a process pool so runs in this process.
* It moves the clock from one due time to the next: to the earliest next run time of any job
  store, or of a retry waiting in the scheduler, as long as that is not later than the end of
  the advance. At each stop ordinary processing passes (``_process_jobs()``) run, with the
  real trigger maths, misfire grace time, coalescing, ``max_instances``, retries, events and run
  history, until one has no more to do at that instant. Wakeups that the scheduler only plans
  to look for changes made by other processes (the ``poll_interval`` of a shared store) are
  not stops: the pass at the next stop sees those changes.
* At the end, the scheduler's own thread is woken up, so that it plans its next wakeup by the
  moved clock.

The runs are synchronous, so a job's run time is exactly the clock's reading when it starts,
unless the job itself moves the clock (as a test does to stand for a slow job): then the runs
that fell due meanwhile are late, and misfire and coalescing rules apply to them as they would
in production.

.. versionadded:: 3.12.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from apscheduler.clock import scheduler_clock
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_TIMED_OUT,
    JobExecutionEvent,
    SchedulerEvent,
)
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers import STATE_RUNNING, STATE_STOPPED, SchedulerNotRunningError

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

__all__ = ("FakeClock", "advance")

UTC = timezone.utc

#: the events that tell how a run ended, which :func:`advance` returns
RUN_OUTCOMES = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_TIMED_OUT

# Passes in a row at one instant, each asking to look again at once, after which an advance
# gives up: something keeps making runs due without the clock moving.
_MAX_PASSES_AT_ONE_INSTANT = 1000


def _as_timedelta(delta: float | timedelta) -> timedelta:
    """A step of time, given in seconds or as a timedelta; never backwards."""
    step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
    if step < timedelta(0):
        raise ValueError(f"time only moves forward; use FakeClock.set() to turn it back: {step}")

    return step


def _aware(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused (it names no instant)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"FakeClock needs an aware datetime, got {moment!r}")

    return moment.astimezone(UTC)


class FakeClock:
    """
    A clock that stands still until the test moves it.

    Hand it to a scheduler with the ``clock`` option; the scheduler, its triggers and its
    executors then ask it, and nothing else, what time it is::

        clock = FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
        scheduler = BackgroundScheduler(clock=clock)

    :param start: the time the clock shows at first (an aware datetime)
    :param monotonic_start: the first reading of :meth:`monotonic`
    """

    def __init__(self, start: datetime, *, monotonic_start: float = 1000.0) -> None:
        self._now = _aware(start)
        self._monotonic = float(monotonic_start)
        # a scheduler's threads read the clock while the test moves it
        self._lock = threading.Lock()

    def now(self, tz: tzinfo = UTC) -> datetime:
        """Return the time the clock shows, as an aware datetime in ``tz``."""
        return self._now.astimezone(tz)

    def monotonic(self) -> float:
        """Return the seconds the clock has moved forward, counted from ``monotonic_start``."""
        return self._monotonic

    def advance(self, delta: float | timedelta) -> None:
        """
        Let time pass: move the wall clock and the monotonic clock forward together.

        This only moves the clock; a scheduler notices at its next processing pass. To make
        the runs that fall due on the way, use :func:`apscheduler.testing.advance` instead.

        :param delta: seconds, or a :class:`~datetime.timedelta`; never negative
        :raises ValueError: if ``delta`` is negative (use :meth:`set` to turn the clock back)
        """
        step = _as_timedelta(delta)
        with self._lock:
            self._now += step
            self._monotonic += step.total_seconds()

    def set(self, moment: datetime) -> None:
        """
        Set the wall clock to ``moment``, earlier or later, as an administrator or NTP would.

        The monotonic clock stays where it is, as on a real machine.

        :param moment: an aware datetime
        """
        moment = _aware(moment)
        with self._lock:
            self._now = moment

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


def advance(scheduler: BaseScheduler, delta: float | timedelta) -> list[JobExecutionEvent]:
    """
    Let ``delta`` pass on the scheduler's :class:`FakeClock`, making every run due on the way.

    The clock stops at each due run time, in order, and the scheduler makes the runs due then,
    in the calling thread, before the clock moves on; the clock ends ``delta`` later than it
    started (or later still, where a job moved it past that by itself: then the advance ends
    with that job's run). Runs due already when the call starts are made first. A paused
    scheduler makes no runs: only the clock moves.

    :param scheduler: a started scheduler with a :class:`FakeClock` as its ``clock`` option
    :param delta: seconds, or a :class:`~datetime.timedelta`; ``0`` makes just the runs that
        are due now
    :return: the events of the runs made, in the order they ended: executed, failed, timed
        out, or missed (a run later than its job's ``misfire_grace_time``)
    :raises TypeError: if the scheduler's clock is not a :class:`FakeClock`
    :raises SchedulerNotRunningError: if the scheduler has not been started
    :raises ValueError: if ``delta`` is negative
    """
    clock = _fake_clock_of(scheduler)
    if scheduler.state == STATE_STOPPED:
        raise SchedulerNotRunningError

    end = clock.now(UTC) + _as_timedelta(delta)
    outcomes: list[JobExecutionEvent] = []
    with _listening(scheduler, outcomes.append), _advancing(scheduler):
        _make_runs_until(scheduler, clock, end)
    # the scheduler's own thread, if it has one, plans its next wakeup by the moved clock
    scheduler.wakeup()
    return outcomes


def _fake_clock_of(scheduler: BaseScheduler) -> FakeClock:
    clock = scheduler_clock(scheduler)
    if not isinstance(clock, FakeClock):
        raise TypeError(
            "advance() needs a scheduler configured with clock=FakeClock(...), "
            f"not {clock or 'the system clock'!r}"
        )

    return clock


def _make_runs_until(scheduler: BaseScheduler, clock: FakeClock, end: datetime) -> None:
    """Process the scheduler at each due time up to ``end``, then leave the clock at ``end``."""
    while scheduler.state == STATE_RUNNING:
        wait_seconds = _process_until_settled(scheduler, clock, end)
        now = clock.now(UTC)
        stop = _next_stop(scheduler, now, wait_seconds)
        if stop is None or stop > end:
            break
        clock.advance(stop - now)

    now = clock.now(UTC)
    if end > now:
        clock.advance(end - now)
        _process_until_settled(scheduler, clock, end)


def _process_until_settled(
    scheduler: BaseScheduler, clock: FakeClock, end: datetime
) -> float | None:
    """
    Run processing passes until one does not ask to look again at once.

    A job that moves the clock past ``end`` by itself ends the advance there, even if runs
    are owed: a job always slower than its interval would otherwise keep it going forever.

    :return: what the last pass asked for: seconds until the next look, or ``None``
    """
    for _ in range(_MAX_PASSES_AT_ONE_INSTANT):
        wait_seconds = scheduler._process_jobs()
        if wait_seconds != 0 or clock.now(UTC) > end:
            return wait_seconds

    raise RuntimeError(
        f"the scheduler kept asking to process jobs again at once ({_MAX_PASSES_AT_ONE_INSTANT} "
        "passes without the clock moving)"
    )


def _next_stop(
    scheduler: BaseScheduler, now: datetime, wait_seconds: float | None
) -> datetime | None:
    """
    Where the clock stops next: the next due time, else (``None``) nowhere before the end.

    A job that stays due after a pass (claimed by another scheduler sharing its store, say)
    cannot say when it runs; then the clock stops where the pass planned to look again.
    """
    due = _next_due_time(scheduler)
    if due is None or due > now:
        return due
    if wait_seconds is None:
        return None

    return now + timedelta(seconds=wait_seconds)


def _next_due_time(scheduler: BaseScheduler) -> datetime | None:
    """The earliest time a job of any store, or a waiting retry, is due (``None``: never)."""
    candidates = [scheduler._retries.next_retry_time()]
    for jobstore in scheduler._jobstores.values():
        try:
            candidates.append(jobstore.get_next_run_time())
        except Exception:
            # the store is unreachable: the pass at the end of the advance tries again
            continue

    times = [moment for moment in candidates if moment is not None]
    return min(times, key=datetime.timestamp).astimezone(UTC) if times else None


@contextmanager
def _listening(
    scheduler: BaseScheduler, collect: Callable[[JobExecutionEvent], None]
) -> Iterator[None]:
    """Hand ``collect`` the run outcomes the scheduler reports meanwhile."""

    def listener(event: SchedulerEvent) -> None:
        if isinstance(event, JobExecutionEvent):
            collect(event)

    scheduler.add_listener(listener, RUN_OUTCOMES)
    try:
        yield
    finally:
        scheduler.remove_listener(listener)


@contextmanager
def _advancing(scheduler: BaseScheduler) -> Iterator[None]:
    """Keep the scheduler's own passes out, and run its jobs in this thread (module docstring)."""
    # taken apart, not one inside the other: shutdown() takes these locks in the other order
    with scheduler._executors_lock:
        executors = list(scheduler._executors.values())
    with scheduler._jobstores_lock:
        restore = [_run_inline(executor) for executor in executors]
        try:
            yield
        finally:
            for undo in restore:
                undo()


def _run_inline(executor: BaseExecutor) -> Callable[[], None]:
    """
    Make ``executor`` run the jobs it is given in the submitting thread; return the undo.

    Only the hand-over is replaced (``_do_submit_job``, on this one instance): the executor
    still counts its instances and applies its ``overlap`` policy.
    """
    attributes = vars(executor)
    had_own = "_do_submit_job" in attributes
    own = attributes.get("_do_submit_job")

    def submit_inline(job: Job, run_times: list[datetime]) -> None:
        _run_here(executor, job, run_times)

    attributes["_do_submit_job"] = submit_inline

    def undo() -> None:
        if had_own:
            attributes["_do_submit_job"] = own
        else:
            del attributes["_do_submit_job"]

    return undo


def _run_here(executor: BaseExecutor, job: Job, run_times: list[datetime]) -> None:
    """Run the job's runs now, in this thread, and report them as ``executor`` would."""
    guard: Any = executor._thread_guard(job)
    try:
        if guard is None:
            events = run_job(job, job._jobstore_alias, run_times, executor._logger.name)
        else:
            events = run_job(job, job._jobstore_alias, run_times, executor._logger.name, guard)
    except BaseException as exc:
        # run_job() catches what the job raises; this is a failure of run_job() itself
        executor._run_job_error(job.id, exc, exc.__traceback__)
    else:
        executor._run_job_success(job.id, events)
