"""
What every job store that several scheduler processes share has in common.

A shared store hands due jobs out as *leases*: an owner (one scheduler instance) and an expiry
read on the store's own clock, so that hosts whose clocks disagree still agree on when a lease
ends. This module holds the options such stores take (``lease_time``, ``poll_interval``), the
helpers that turn claimed records into jobs and lease expiries into the scheduler's time, and
:class:`ChangeListener`, a thread that waits for change messages from other processes
(PostgreSQL ``LISTEN``, Redis pub/sub) on a connection of its own and reconnects with backoff.

Change messages are short strings: ``"<store token> <next run time as a UTC timestamp>"``;
the run time is empty when the change brings no run time (a removal, a pause). A store ignores
its own messages and wakes its scheduler only when the announced run time comes before the
moment the scheduler already means to wake up.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from apscheduler.job import Job
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
    _positive_seconds,
)
from apscheduler.util import utc_timestamp_to_datetime

C = TypeVar("C")
UTC = timezone.utc
# apscheduler.schedulers.base.STATE_RUNNING (a 3.x constant); importing it here would load the
# whole scheduler with every store
STATE_RUNNING = 1

#: the most jobs one claim takes; the scheduler comes back at once for more, and meanwhile
#: other processes can claim the rest
CLAIM_BATCH = 25
#: seconds a claimed job stays leased to the scheduler that claimed it
DEFAULT_LEASE_TIME = 5.0
#: seconds between looks at the store when no change notification can wake the scheduler
DEFAULT_POLL_INTERVAL = 0.5
#: with live change notifications, the longest the scheduler sleeps all the same, in case a
#: notification got lost on the way
NOTIFIED_POLL_INTERVAL = 5.0


class SharedJobStore(PersistentJobStore):
    """
    Base class of the persistent stores that several scheduler processes may use at once.

    Subclasses implement the claim methods of :class:`~apscheduler.jobstores.base.BaseJobStore`
    (:meth:`acquire_due_jobs`, :meth:`start_claimed_runs`, :meth:`release_claimed_job`,
    :meth:`renew_runs`, :meth:`finish_runs`, :meth:`take_abandoned_runs`) with as few atomic
    operations on their storage as each allows, and may start
    a :class:`ChangeListener` so that other processes' changes wake the scheduler at once.

    :param lease_time: seconds a claimed job stays leased to the scheduler that claimed it; if
        that scheduler dies, another one runs the job once the lease has expired
    :param poll_interval: seconds between looks at the store for jobs that other processes
        added, when the store has no working change notifications
    """

    shared = True
    #: the most jobs :meth:`acquire_due_jobs` returns at once; a full batch tells the
    #: scheduler to come back at once for more
    claim_batch = CLAIM_BATCH

    def __init__(
        self,
        pickle_protocol: int,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        lease_time: float = DEFAULT_LEASE_TIME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__(pickle_protocol, retry_timeout, recheck_interval)
        self.lease_time = _positive_seconds(lease_time, "lease_time", allow_zero=False)
        self._poll_interval = _positive_seconds(poll_interval, "poll_interval", allow_zero=False)
        # tells this store's own change messages from those of other processes
        self._token = os.urandom(8).hex()
        self._listener: ChangeListener[Any] | None = None
        # set by shutdown(): a scheduler pass that runs on after its scheduler has shut down
        # must not claim jobs that nobody would run
        self._shut_down = False

    # BaseJobStore declares a plain attribute, which any store may set as it likes; this one
    # works it out on each read, which the type system calls a read-only override
    @property
    def poll_interval(self) -> float:  # type: ignore[override]
        """
        The longest the scheduler sleeps before looking at the store again.

        It is the ``poll_interval`` option, or :data:`NOTIFIED_POLL_INTERVAL` (if longer) while
        change notifications from other processes arrive.
        """
        listener = self._listener
        if listener is not None and listener.live:
            return max(self._poll_interval, NOTIFIED_POLL_INTERVAL)
        return self._poll_interval

    def start(self, scheduler: Any, alias: str) -> None:
        self._shut_down = False
        super().start(scheduler, alias)

    def shutdown(self) -> None:
        """Stop taking claims and stop the change listener; subclasses then free the rest."""
        self._shut_down = True
        self._stop_listener(self._interrupt_listener)

    def _interrupt_listener(self) -> None:
        """Send the listener any message, so that it stops waiting at once (optional)."""

    # --- time ------------------------------------------------------------------------------

    def _scheduler_timestamp(self) -> float:
        """Now as a UTC timestamp by the scheduler's clock (which may differ from the store's)."""
        clock = getattr(self._scheduler, "_clock", None)
        if clock is None:
            return time.time()
        timestamp: float = clock.now(UTC).timestamp()
        return timestamp

    def _lease_end_for_scheduler(self, lease_expires: float, store_now: float) -> datetime:
        """Turn a lease expiry read on the store's clock into a time on the scheduler's clock."""
        return datetime.fromtimestamp(self._scheduler_timestamp() + lease_expires - store_now, UTC)

    # --- claiming --------------------------------------------------------------------------

    def _ids_to_leave_unclaimed(self, now: float) -> list[str]:
        """Known broken jobs not yet due for another loading attempt: claiming them is waste."""
        return [
            job_id
            for job_id, failure in list(self._failures.items())
            if failure.recheck_at is None or failure.recheck_at > now
        ]

    def _load_claimed(
        self, rows: Iterable[tuple[str, float | None, Any]], now: datetime
    ) -> tuple[list[Job], list[str]]:
        """
        Rebuild claimed jobs in run time order; return them and the ids that did not load.

        The caller gives the leases on those ids back, so that a broken job stays stored and
        reported, and does not sit leased to this scheduler.
        """
        rows = sorted(rows, key=lambda row: (row[1], row[0]))
        jobs = self._load_due(rows, now)
        loaded = {job.id for job in jobs}
        return jobs, [row[0] for row in rows if row[0] not in loaded]

    #: (owner, job id) -> what the job was when claimed (the stores that check it fill this)
    _claims: dict[tuple[str, str], Any]

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        """Give back the leases ``owner`` holds on ``job_ids``, changing nothing else."""
        raise NotImplementedError

    def _accept_claimed(
        self,
        rows: Sequence[tuple[str, float | None, Any]],
        now: datetime,
        owner: str,
        claim_token: Callable[[Any], Any],
    ) -> list[Job]:
        """
        Rebuild claimed jobs, remember what each was when claimed, give back those that fail.

        :param claim_token: turns a row's stored data into what :meth:`start_claimed_runs`
            later checks, so that a job changed by a user since the claim is not overwritten
        """
        jobs, unloaded = self._load_claimed(rows, now)
        loaded = {job.id for job in jobs}
        for job_id, _, data in rows:
            if job_id in loaded:
                self._claims[(owner, job_id)] = claim_token(data)
        if unloaded:
            # a job that fails to load stays stored as it is, free for whoever can load it
            try:
                self._release_claimed_jobs(unloaded, owner)
            except Exception as exc:
                self._logger.warning("Could not release the jobs %s: %s", unloaded, exc)
        return jobs

    # --- waking schedulers -----------------------------------------------------------------

    def _change_message(self, run_time: float | None) -> str:
        """The message that tells other processes about a change bringing ``run_time``."""
        return f"{self._token} {'' if run_time is None else repr(run_time)}"

    def _on_change_message(self, message: str) -> None:
        """Wake the scheduler if another process's change brings an earlier run time."""
        token, _, run_time = message.partition(" ")
        if token == self._token or not run_time:
            return
        try:
            when = utc_timestamp_to_datetime(float(run_time))
        except ValueError:
            self._logger.debug("Ignoring a malformed change message: %r", message)
            return
        self._wake_scheduler_for(when)

    def _wake_scheduler_for(self, run_time: datetime | None) -> None:
        """Wake the scheduler if it means to sleep past ``run_time``."""
        if run_time is None:
            return
        wakeup_for = getattr(self._scheduler, "_wakeup_for", None)
        if wakeup_for is not None:
            wakeup_for(run_time)
        else:
            self._wake_scheduler()

    def _wake_scheduler(self) -> None:
        """Wake the scheduler for a fresh look at its stores (if it runs)."""
        # a scheduler that is not running has nothing to wake (and may have no loop yet)
        scheduler = self._scheduler
        if scheduler is not None and getattr(scheduler, "state", None) == STATE_RUNNING:
            scheduler.wakeup()

    def _start_listener(self, listener: ChangeListener[Any]) -> None:
        self._stop_listener()
        self._listener = listener
        listener.start()

    def _stop_listener(self, interrupt: Callable[[], None] | None = None) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop(interrupt)


class ChangeListener(Generic[C]):
    """
    A daemon thread that receives change messages on a connection of its own.

    The connection is made with ``connect()``; ``receive(connection, timeout)`` yields the
    messages that arrive within about ``timeout`` seconds (it may yield none) and raises when
    the connection is lost; ``close(connection)`` closes it. A lost connection is made again
    with exponential backoff (0.1 s doubling to 5 s, with jitter); once it is back,
    ``on_reconnect()`` runs, because messages sent meanwhile are lost.

    :param name: name of the thread
    :param on_message: called with each message, in the listener's thread
    :param logger: where connection problems are reported
    """

    #: seconds ``receive`` waits before the thread checks whether it should stop
    receive_timeout = 1.0
    first_delay = 0.1
    max_delay = 5.0

    def __init__(
        self,
        name: str,
        connect: Callable[[], C],
        receive: Callable[[C, float], Iterable[str]],
        close: Callable[[C], None],
        on_message: Callable[[str], None],
        on_reconnect: Callable[[], None],
        logger: logging.Logger,
    ) -> None:
        self._connect = connect
        self._receive = receive
        self._close = close
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._logger = logger
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        #: whether the connection is up, so that messages arrive
        self.live = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, interrupt: Callable[[], None] | None = None, timeout: float = 2.0) -> None:
        """
        Stop the thread and wait (up to ``timeout`` seconds) until it has closed its connection.

        :param interrupt: sends a message that ends the wait in ``receive`` at once (any
            message does); without it, stopping takes up to :attr:`receive_timeout`
        """
        self._stopping.set()
        if interrupt is not None and self.live:
            try:
                interrupt()
            except Exception as exc:
                self._logger.debug("Could not interrupt the change listener: %r", exc)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.first_delay
        reported = False
        while not self._stopping.is_set():
            try:
                connection = self._connect()
            except Exception as exc:
                # one warning per outage; the store itself reports its own retries
                log = self._logger.debug if reported else self._logger.warning
                log("Change notifications unavailable (%s: %s); retrying", type(exc).__name__, exc)
                reported = True
                self._stopping.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.max_delay)
                continue

            delay = self.first_delay
            if reported:
                self._logger.info("Change notifications are back")
                reported = False
            self._listen(connection)

    def _listen(self, connection: C) -> None:
        self.live = True
        try:
            self._on_reconnect()
            while not self._stopping.is_set():
                for message in self._receive(connection, self.receive_timeout):
                    if self._stopping.is_set():
                        break
                    try:
                        self._on_message(message)
                    except Exception:
                        self._logger.exception("Error handling change message %r", message)
        except Exception as exc:
            if not self._stopping.is_set():
                self._logger.warning(
                    "Lost the change notification connection (%s: %s); reconnecting",
                    type(exc).__name__,
                    exc,
                )
        finally:
            self.live = False
            try:
                self._close(connection)
            except Exception:
                pass


__all__ = [
    "CLAIM_BATCH",
    "DEFAULT_LEASE_TIME",
    "DEFAULT_POLL_INTERVAL",
    "NOTIFIED_POLL_INTERVAL",
    "ChangeListener",
    "SharedJobStore",
]
