"""
What the built-in shared stores (SQLAlchemy, Redis, MongoDB) have in common.

They pickle jobs (:class:`~apscheduler.jobstores._persistent.PersistentJobStore`) and implement
the public :class:`~apscheduler.jobstores.shared.SharedJobStore` interface on top: the options
(``lease_time``, ``poll_interval``), turning claimed records into jobs, lease expiries read on
the store's clock into the scheduler's time, and a :class:`~apscheduler.jobstores._listener.
ChangeListener` that wakes the scheduler when another process changes the store.

Change messages are short strings: ``"<store token> <next run time as a UTC timestamp>"``;
the run time is empty when the change brings no run time (a removal, a pause). A store ignores
its own messages and wakes its scheduler only when the announced run time comes before the
moment the scheduler already means to wake up.

Every backend detects "the job changed since it was claimed" the same way: a write by a user
(``add_job``, ``update_job``, ``remove_job``) ends any claim on the job, and a start goes
through only while the claiming owner still holds the claim.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores._listener import ChangeListener
from apscheduler.jobstores._persistent import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_RETRY_TIMEOUT,
    PersistentJobStore,
    _positive_seconds,
)
from apscheduler.jobstores._serializers import Serializer
from apscheduler.jobstores.shared import (
    DEFAULT_CLAIM_BATCH,
    DEFAULT_LEASE_TIME,
    DEFAULT_POLL_INTERVAL,
    SharedJobStore,
)
from apscheduler.util import utc_timestamp_to_datetime

UTC = timezone.utc
#: with live change notifications, the longest the scheduler sleeps all the same, in case a
#: notification got lost on the way
NOTIFIED_POLL_INTERVAL = 5.0


class SharedPersistentStore(PersistentJobStore, SharedJobStore):
    """
    Base class of the built-in stores that pickle jobs and may be shared by several processes.

    :param lease_time: seconds a claimed job stays leased to the scheduler that claimed it; if
        that scheduler dies, another one runs the job once the lease has expired
    :param poll_interval: seconds between looks at the store for jobs that other processes
        added, when the store has no working change notifications
    """

    claim_batch = DEFAULT_CLAIM_BATCH

    def __init__(
        self,
        pickle_protocol: int,
        retry_timeout: float = DEFAULT_RETRY_TIMEOUT,
        recheck_interval: float = DEFAULT_RECHECK_INTERVAL,
        lease_time: float = DEFAULT_LEASE_TIME,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        *,
        serializer: str | Serializer = "pickle",
        pickle_secret: bytes | str | None = None,
    ) -> None:
        super().__init__(
            pickle_protocol,
            retry_timeout,
            recheck_interval,
            serializer=serializer,
            pickle_secret=pickle_secret,
        )
        self.lease_time = _positive_seconds(lease_time, "lease_time", allow_zero=False)
        self._poll_interval = _positive_seconds(poll_interval, "poll_interval", allow_zero=False)
        # tells this store's own change messages from those of other processes
        self._token = os.urandom(8).hex()
        self._listener: ChangeListener[Any] | None = None
        # set by shutdown(): a scheduler pass that runs on after its scheduler has shut down
        # must not claim jobs that nobody would run
        self._shut_down = False

    # SharedJobStore declares a plain attribute, which any store may set as it likes; this one
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
        return self._handle.now(UTC).timestamp()

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

    def _release_claimed_jobs(self, job_ids: list[str], owner: str) -> None:
        """Give back the leases ``owner`` holds on ``job_ids``, changing nothing else."""
        raise NotImplementedError

    def release_claimed_job(self, job_id: str, owner: str) -> None:
        self._release_claimed_jobs([job_id], owner)

    def _accept_claimed(
        self, rows: Iterable[tuple[str, float | None, Any]], now: datetime, owner: str
    ) -> list[Job]:
        """Rebuild claimed jobs in run time order, and give back the claims on those that fail."""
        jobs, unloaded = self._load_claimed(rows, now)
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
        self._handle.wake_for(when)

    def _wake_scheduler(self) -> None:
        """Wake the scheduler for a fresh look (change messages may have been lost meanwhile)."""
        self._handle.wake_for(self._handle.now(UTC))

    def _start_listener(self, listener: ChangeListener[Any]) -> None:
        self._stop_listener()
        self._listener = listener
        listener.start()

    def _stop_listener(self, interrupt: Callable[[], None] | None = None) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop(interrupt)


__all__ = [
    "DEFAULT_LEASE_TIME",
    "DEFAULT_POLL_INTERVAL",
    "NOTIFIED_POLL_INTERVAL",
    "SharedPersistentStore",
]
